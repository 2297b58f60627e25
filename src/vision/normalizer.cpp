#include "digitcam/vision/normalizer.hpp"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"

namespace digitcam::vision {

namespace {

// Recipe constants.
constexpr double min_contrast = 24.0;  // grey levels between background and ink below which the
                                       // crop counts as blank (sensor noise is ~5-10 levels)
constexpr double ink_level_quantile = 0.9;  // "solid ink" = this quantile of the ink pixels, so a
                                            // few saturated pixels do not set the scale
constexpr double polarity_tail = 0.02;      // percentiles that stand for the ink in detection
constexpr double median_quantile = 0.5;
constexpr float solid_level = 0.5f;         // ink at least this strong is "solid" (0..1 scale)
constexpr double edge_shift_most = 0.5;     // px a box side may move inward for a faint edge
constexpr double speck_fraction = 0.05;     // components smaller than this share of the largest
                                            // are noise, not a detached piece of the digit
constexpr double noise_floor_sigmas = 3.0;  // background noise up to this many sigmas is cleared
constexpr double noise_floor_most = 0.25;   // ... but never more than this share of the contrast
constexpr double mad_to_sigma = 1.4826;     // median absolute deviation of a normal -> sigma
constexpr int fringe_radius_divisor = 40;   // anti-aliased edge kept around the ink mask: 1 px
                                            // per 40 px of crop, at least 1
// MNIST's stroke widths (estimate_stroke_width at fine_scale, first 20,000 training digits): 10th
// percentile 1.7 px, median 2.4, 90th percentile 3.3. Widths inside that range are MNIST's own
// variety and left alone; thinner or heavier strokes are brought to its nearer end.
constexpr double mnist_stroke_thin = 1.7;
constexpr double mnist_stroke_heavy = 3.3;
constexpr double stroke_tolerance = 0.15;  // px; smaller changes are not worth resampling
constexpr double fine_scale = 8.0;         // stroke work happens at 8x the output resolution
constexpr int fine_radius_most = 32;       // fine px a stroke side may grow or shrink by
constexpr int stroke_passes = 2;           // estimate-and-adjust rounds
constexpr int working_side = 128;          // larger crops are first shrunk to at most this
                                           // longest side: 6x the 20 px output is plenty

using Histogram = std::array<std::uint32_t, 256>;

// Grey-level histograms of the pixels outside and inside a mask (everything is outside when the
// mask is empty), in one pass.
void histograms(const cv::Mat& gray, const cv::Mat& mask, Histogram& outside, Histogram& inside) {
  outside.fill(0);
  inside.fill(0);
  for (int y = 0; y < gray.rows; ++y) {
    const std::uint8_t* g = gray.ptr<std::uint8_t>(y);
    if (mask.empty()) {
      for (int x = 0; x < gray.cols; ++x) ++outside[g[x]];
      continue;
    }
    const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
    for (int x = 0; x < gray.cols; ++x) ++(m[x] ? inside : outside)[g[x]];
  }
}

// Histogram of the one-pixel ring around the image (where a crop's background is most sure).
Histogram border_histogram(const cv::Mat& gray) {
  Histogram h{};
  for (int y = 0; y < gray.rows; ++y) {
    const std::uint8_t* g = gray.ptr<std::uint8_t>(y);
    if (y == 0 || y == gray.rows - 1) {
      for (int x = 0; x < gray.cols; ++x) ++h[g[x]];
    } else {
      ++h[g[0]];
      if (gray.cols > 1) ++h[g[gray.cols - 1]];
    }
  }
  return h;
}

// Smallest grey level with at least fraction q of the histogram's mass at or below it; -1 when
// the histogram is empty.
int quantile(const Histogram& h, double q) {
  double total = 0;
  for (const std::uint32_t c : h) total += c;
  if (total <= 0) return -1;
  double seen = 0;
  for (int v = 0; v < 256; ++v) {
    seen += h[static_cast<std::size_t>(v)];
    if (seen >= q * total) return v;
  }
  return 255;
}

cv::Mat to_gray(const cv::Mat& image) {
  if (image.type() == CV_8UC1) return image;
  cv::Mat gray;
  if (image.type() == CV_8UC3) {
    cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  } else if (image.type() == CV_8UC4) {
    cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
  } else {
    throw ShapeError("normalize_digit: expects an 8-bit grey or BGR crop, got OpenCV type " +
                     std::to_string(image.type()));
  }
  return gray;
}

void check_mask(const cv::Mat& gray, const cv::Mat& mask) {
  if (!mask.empty() && (mask.type() != CV_8UC1 || mask.size() != gray.size())) {
    throw ShapeError("normalize_digit: the ink mask must be CV_8UC1 of the crop's size " +
                     std::to_string(gray.cols) + "x" + std::to_string(gray.rows));
  }
}

// The ink's extent with sub-pixel edges. MNIST scaled each binary NIST digit's box to 20 px, so
// what must become 20 px is the box of the ink itself, not of its blurred or noisy surround: the
// solid (thresholded) ink's box, each side moved by how much of its edge pixel line and of the
// line just outside is inked (a sharp edge: 1 + 0; an anti-aliased one: 0.7 + 0.3).
struct InkBox {
  cv::Rect crop;     // whole pixels to resample: the solid box and the partly inked lines
  double width = 0;  // inked extent, px
  double height = 0;
  double longest() const { return std::max(width, height); }
};

// The largest value of a line of pixels, in 0..1; 0 for a line outside the image.
double line_peak(const cv::Mat& ink, cv::Rect line) {
  line &= cv::Rect(0, 0, ink.cols, ink.rows);
  if (line.empty()) return 0.0;
  float peak = -FLT_MAX;
  for (int y = line.y; y < line.br().y; ++y) {
    const float* row = ink.ptr<float>(y);
    for (int x = line.x; x < line.br().x; ++x) peak = std::max(peak, row[x]);
  }
  return std::clamp(static_cast<double>(peak), 0.0, 1.0);
}

// core: the box of the solid ink.
InkBox measure_ink(const cv::Mat& ink, cv::Rect core) {
  if (core.empty()) return {};
  const cv::Rect image(0, 0, ink.cols, ink.rows);
  // Edge lines (inside the solid box) and fringe lines (just outside), per side.
  const double edge[4] = {line_peak(ink, {core.x, core.y, core.width, 1}),
                          line_peak(ink, {core.x, core.br().y - 1, core.width, 1}),
                          line_peak(ink, {core.x, core.y, 1, core.height}),
                          line_peak(ink, {core.br().x - 1, core.y, 1, core.height})};
  const double fringe[4] = {line_peak(ink, {core.x, core.y - 1, core.width, 1}),
                            line_peak(ink, {core.x, core.br().y, core.width, 1}),
                            line_peak(ink, {core.x - 1, core.y, 1, core.height}),
                            line_peak(ink, {core.br().x, core.y, 1, core.height})};
  double adjust[4];
  for (int i = 0; i < 4; ++i) {
    adjust[i] = std::clamp(edge[i] + fringe[i] - 1.0, -edge_shift_most, 1.0);
  }
  InkBox box;
  box.height = std::max(1.0, core.height + adjust[0] + adjust[1]);
  box.width = std::max(1.0, core.width + adjust[2] + adjust[3]);
  const int top = fringe[0] > 0, bottom = fringe[1] > 0, left = fringe[2] > 0,
            right = fringe[3] > 0;
  box.crop =
      cv::Rect(core.x - left, core.y - top, core.width + left + right, core.height + top + bottom) &
      image;
  return box;
}

// Resamples the box's pixels so the inked extent's longest side becomes `side` px, keeping the
// aspect ratio; INTER_AREA when shrinking averages thin strokes instead of dropping them.
cv::Mat fit_box(const cv::Mat& ink, const InkBox& box, double side) {
  const double scale = side / box.longest();
  const cv::Size size(std::max(1, static_cast<int>(std::lround(box.crop.width * scale))),
                      std::max(1, static_cast<int>(std::lround(box.crop.height * scale))));
  cv::Mat out;
  cv::resize(ink(box.crop), out, size, 0, 0, scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// The box of the pixels at least solid_level, as cv::boundingRect(ink >= solid_level) gives it.
cv::Rect solid_box(const cv::Mat& ink) {
  int top = ink.rows, bottom = -1, left = ink.cols, right = -1;
  for (int y = 0; y < ink.rows; ++y) {
    const float* row = ink.ptr<float>(y);
    int first = 0;
    while (first < ink.cols && row[first] < solid_level) ++first;
    if (first == ink.cols) continue;
    int last = ink.cols - 1;
    while (row[last] < solid_level) --last;
    top = std::min(top, y);
    bottom = y;
    left = std::min(left, first);
    right = std::max(right, last);
  }
  if (bottom < 0) return {};
  return {left, top, right - left + 1, bottom - top + 1};
}

InkBox measure_solid(const cv::Mat& ink) {
  return measure_ink(ink, solid_box(ink));
}

// Brings the stroke width into MNIST's range. Works at fine_scale times the output resolution
// so the change can be a fraction of an output pixel whatever the crop's size, then refits the
// (grown or shrunk) ink to 20 px. Grey dilation and erosion move anti-aliased edges by less
// than their radius, so a second pass corrects what the first left.
cv::Mat match_stroke(const cv::Mat& ink, const InkBox& box) {
  constexpr double fine_side = normalized_box * fine_scale;
  // Only the fitted pixels can hold ink, so the work looks at nothing else: the outline and the
  // ink mass are the same without a zero surround, and a disc of radius r reaches only r px
  // into one, so that much zero border is all a dilation or erosion needs.
  cv::Mat fine = fit_box(ink, box, fine_side);
  for (int pass = 0; pass < stroke_passes; ++pass) {
    const double width = estimate_stroke_width(fine) / fine_scale;  // in output px
    const double target = std::clamp(width, mnist_stroke_thin, mnist_stroke_heavy);
    if (width <= 0 || std::abs(width - target) < stroke_tolerance) break;
    // Growing every stroke side by r also grows the box by 2r, which the refit to 20 px scales
    // back: solve (width + 2r) * 20 / (20 + 2r) = target for r (the same holds for r < 0).
    const double r = normalized_box * (target - width) / (2 * normalized_box - 2 * target);
    const int fine_r = std::clamp(static_cast<int>(std::lround(r * fine_scale)), -fine_radius_most,
                                  fine_radius_most);
    if (fine_r == 0) break;
    cv::Mat bordered;
    const int border = std::abs(fine_r);
    cv::copyMakeBorder(fine, bordered, border, border, border, border, cv::BORDER_CONSTANT, 0);
    const cv::Mat adjusted = morph_disc(bordered, fine_r);
    const InkBox adjusted_box = measure_solid(adjusted);
    if (adjusted_box.crop.empty()) break;  // eroded away: keep the strokes as they were
    fine = fit_box(adjusted, adjusted_box, fine_side);
  }
  const InkBox fine_box = measure_solid(fine);
  // Ink too faint to have a solid part at this scale: leave the strokes alone.
  if (fine_box.crop.empty()) return fit_box(ink, box, normalized_box);
  return fit_box(fine, fine_box, normalized_box);
}

// Intensity centre of mass in 0-based pixel coordinates. By hand: cv::moments takes a matrix
// one or two columns wide (a thin "1") for a list of points.
cv::Point2d centre_of_mass(const cv::Mat& ink) {
  double mass = 0, x_sum = 0, y_sum = 0;
  for (int y = 0; y < ink.rows; ++y) {
    const float* row = ink.ptr<float>(y);
    double row_mass = 0;
    for (int x = 0; x < ink.cols; ++x) {
      row_mass += row[x];
      x_sum += static_cast<double>(row[x]) * x;
    }
    mass += row_mass;
    y_sum += row_mass * y;
  }
  return {x_sum / mass, y_sum / mass};
}

// Standard deviation of the background's grey levels, from their median absolute deviation
// (robust to the odd ink pixel Otsu left in the background).
double background_sigma(const Histogram& background, int median) {
  Histogram deviation{};
  for (int v = 0; v < 256; ++v) {
    deviation[static_cast<std::size_t>(std::abs(v - median))] +=
        background[static_cast<std::size_t>(v)];
  }
  return mad_to_sigma * std::max(0, quantile(deviation, median_quantile));
}

}  // namespace

Polarity detect_polarity(const cv::Mat& image, const cv::Mat& ink_mask) {
  const cv::Mat gray = to_gray(image);
  check_mask(gray, ink_mask);
  if (gray.empty()) return Polarity::light_on_dark;
  if (!ink_mask.empty() && cv::countNonZero(ink_mask) > 0 &&
      cv::countNonZero(ink_mask) < static_cast<int>(ink_mask.total())) {
    const double inside = cv::mean(gray, ink_mask)[0];
    const double outside = cv::mean(gray, ink_mask == 0)[0];
    return inside > outside ? Polarity::light_on_dark : Polarity::dark_on_light;
  }
  const int background = quantile(border_histogram(gray), median_quantile);
  Histogram all, unused;
  histograms(gray, cv::Mat(), all, unused);
  const int dark_tail = quantile(all, polarity_tail);
  const int light_tail = quantile(all, 1.0 - polarity_tail);
  return light_tail - background > background - dark_tail ? Polarity::light_on_dark
                                                          : Polarity::dark_on_light;
}

cv::Mat morph_disc(const cv::Mat& ink, int radius) {
  CV_Assert(ink.type() == CV_32FC1);
  const int r = std::abs(radius);
  if (r == 0 || ink.empty()) return ink.clone();
  // cv::dilate visits every point of the disc for every pixel, O(r^2) per pixel: 0.4 ms at an
  // 8 px radius on the 224x224 fine image and 1.6 ms at 16 px, for a thin or heavy stroke. The
  // disc is a stack of centred runs, one per row offset, so the same maximum (or minimum) is
  // built from running maxima over growing runs, O(r) per pixel. Max and min are exact, so the
  // result is bit for bit cv::dilate's (or cv::erode's) with pixels outside the image ignored.
  const cv::Mat disc = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1));
  std::vector<int> half_run(static_cast<std::size_t>(2 * r + 1), -1);  // per row offset + r
  for (int row = 0; row < disc.rows; ++row) {
    const std::uint8_t* d = disc.ptr<std::uint8_t>(row);
    int first = 0;
    while (first < disc.cols && !d[first]) ++first;
    if (first == disc.cols) continue;
    CV_Assert(cv::countNonZero(disc.row(row)) == disc.cols - 2 * first);  // one centred run
    half_run[static_cast<std::size_t>(row)] = r - first;
  }
  const bool grow = radius > 0;
  const auto combine = [grow](const cv::Mat& a, const cv::Mat& b, cv::Mat& out) {
    if (grow) {
      cv::max(a, b, out);
    } else {
      cv::min(a, b, out);
    }
  };
  const int rows = ink.rows, cols = ink.cols;
  cv::Mat run = ink.clone();  // run(y, x) = extreme of ink(y, x - w .. x + w)
  cv::Mat out(ink.size(), CV_32FC1, cv::Scalar(grow ? -FLT_MAX : FLT_MAX));
  for (int w = 0; w <= r; ++w) {
    if (w > 0 && w < cols) {
      cv::Mat right_part = run.colRange(w, cols), left_part = run.colRange(0, cols - w);
      combine(right_part, ink.colRange(0, cols - w), right_part);
      combine(left_part, ink.colRange(w, cols), left_part);
    }
    for (int dy = -r; dy <= r; ++dy) {
      if (half_run[static_cast<std::size_t>(dy + r)] != w) continue;
      const int first = std::max(0, -dy), last = std::min(rows, rows - dy);  // out rows
      if (first >= last) continue;
      cv::Mat target = out.rowRange(first, last);
      combine(target, run.rowRange(first + dy, last + dy), target);
    }
  }
  return out;
}

// Specks are dirt or sensor noise, not a detached piece of the digit. The 8-connected
// components are found over runs of ink along rows, each joined to the runs it
// touches in the row above: a crop holds a few dozen runs, so this costs a scan of the mask,
// a fraction of what labelling every pixel does.
cv::Mat drop_specks(const cv::Mat& mask) {
  struct Run {
    int y, begin, end;  // [begin, end) on row y
    int parent;         // union-find link; a root's area is the component's
    int area;
  };
  std::vector<Run> runs;
  const auto root = [&runs](int i) {
    while (runs[static_cast<std::size_t>(i)].parent != i) {
      Run& run = runs[static_cast<std::size_t>(i)];
      run.parent = runs[static_cast<std::size_t>(run.parent)].parent;
      i = run.parent;
    }
    return i;
  };
  std::size_t above = 0, row_start = 0;  // first run of the row above, of this row
  for (int y = 0; y < mask.rows; ++y) {
    const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
    for (int x = 0; x < mask.cols;) {
      if (!m[x]) {
        ++x;
        continue;
      }
      const int begin = x;
      while (x < mask.cols && m[x]) ++x;
      const int self = static_cast<int>(runs.size());
      runs.push_back({y, begin, x, self, x - begin});
      // Runs of the row above that touch this one, diagonals included.
      for (std::size_t i = above; i < row_start; ++i) {
        if (runs[i].end < begin || runs[i].begin > x) continue;
        const int a = root(static_cast<int>(i)), b = root(self);
        if (a == b) continue;
        runs[static_cast<std::size_t>(b)].parent = a;
        runs[static_cast<std::size_t>(a)].area += runs[static_cast<std::size_t>(b)].area;
      }
    }
    above = row_start;
    row_start = runs.size();
  }
  int largest = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].parent == static_cast<int>(i)) largest = std::max(largest, runs[i].area);
  }
  cv::Mat kept(mask.size(), CV_8UC1, cv::Scalar(0));
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[static_cast<std::size_t>(root(static_cast<int>(i)))].area < speck_fraction * largest)
      continue;
    std::uint8_t* k = kept.ptr<std::uint8_t>(runs[i].y);
    std::fill(k + runs[i].begin, k + runs[i].end, 255);
  }
  return kept;
}

double estimate_stroke_width(const cv::Mat& ink) {
  CV_Assert(ink.type() == CV_32FC1);
  const cv::Mat solid = ink > solid_level;
  std::vector<std::vector<cv::Point>> outlines;
  cv::findContours(solid, outlines, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
  double length = 0;
  for (const auto& outline : outlines) length += cv::arcLength(outline, true);
  // A one-pixel line's outline runs along both of its sides through the same pixel centres, so
  // half the outline is the stroke's length; a single dot has no outline length at all.
  if (length <= 0) return outlines.empty() ? 0.0 : 1.0;
  return cv::sum(ink)[0] / (length / 2);
}

bool normalize_into(const cv::Mat& image, const NormalizeOptions& options, float* dst,
                    const cv::Mat& ink_mask) {
  cv::Mat out(normalized_side, normalized_side, CV_32FC1, dst);
  out = 0.0f;
  if (image.empty()) return false;
  cv::Mat gray = to_gray(image);
  check_mask(gray, ink_mask);
  cv::Mat given_mask = ink_mask;
  // Large crops are shrunk by a whole factor first (OpenCV's fast box-average path), padded by
  // repeating their edge to a multiple of it.
  const int factor = (std::max(gray.cols, gray.rows) + working_side - 1) / working_side;
  if (factor > 1) {
    const int pad_x = (factor - gray.cols % factor) % factor;
    const int pad_y = (factor - gray.rows % factor) % factor;
    const auto shrink = [&](const cv::Mat& full) {
      cv::Mat padded, small;
      cv::copyMakeBorder(full, padded, 0, pad_y, 0, pad_x, cv::BORDER_REPLICATE);
      cv::resize(padded, small, {padded.cols / factor, padded.rows / factor}, 0, 0, cv::INTER_AREA);
      return small;
    };
    gray = shrink(gray);
    if (!ink_mask.empty()) given_mask = shrink(ink_mask != 0) >= 128;
  }

  // 1. Ink bright on dark.
  const Polarity polarity = options.polarity == Polarity::automatic
                                ? detect_polarity(gray, given_mask)
                                : options.polarity;
  cv::Mat aligned = polarity == Polarity::light_on_dark ? gray : 255 - gray;

  // 2. Ink mask and grey levels: background median -> 0, solid ink -> 1.
  cv::Mat mask;
  if (given_mask.empty()) {
    cv::threshold(aligned, mask, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
  } else {
    mask = given_mask != 0;
  }
  if (cv::countNonZero(mask) == 0) return false;
  Histogram background_levels, ink_levels;
  histograms(aligned, mask, background_levels, ink_levels);
  const int background = quantile(background_levels, median_quantile);
  if (background < 0) return false;  // all "ink": a flat crop, nothing stands out
  const int ink_level = quantile(ink_levels, ink_level_quantile);
  const double contrast = ink_level - background;
  if (contrast < min_contrast) return false;
  // Grey levels to 0..1, with the background's noise cleared so it neither widens the ink box
  // nor pulls the centre of mass.
  const double noise_floor =
      std::min(noise_floor_most,
               noise_floor_sigmas * background_sigma(background_levels, background) / contrast);
  const double low = background + noise_floor * contrast;
  cv::Mat ink;
  aligned.convertTo(ink, CV_32F, 1.0 / (ink_level - low), -low / (ink_level - low));
  cv::min(cv::max(ink, 0.0), 1.0, ink);

  // Specks far smaller than the digit are dropped with the background around them; the rest of
  // the ink keeps its anti-aliased edge.
  const cv::Mat kept = drop_specks(mask);
  const int fringe_radius = std::max(1, std::max(gray.cols, gray.rows) / fringe_radius_divisor);
  cv::Mat near_ink;
  cv::dilate(kept, near_ink, cv::Mat(), cv::Point(-1, -1), fringe_radius);
  ink.setTo(0.0f, near_ink == 0);

  // 3-4. Ink box to 20 px on its longest side, strokes optionally matched to MNIST's.
  const InkBox box = measure_ink(ink, cv::boundingRect(kept));
  if (box.crop.empty()) return false;
  cv::Mat fitted =
      options.match_stroke_width ? match_stroke(ink, box) : fit_box(ink, box, normalized_box);
  // Shrinking averages thin strokes into faint ones; MNIST's strokes always reach full white.
  double peak = 0;
  cv::minMaxLoc(fitted, nullptr, &peak);
  if (peak <= 0) return false;
  if (peak < 1.0) fitted /= peak;

  // 5. Centre of mass to (14, 14) by a sub-pixel shift.
  const cv::Point2d centre = centre_of_mass(fitted);
  const cv::Matx23d shift(1, 0, normalized_centre - centre.x, 0, 1, normalized_centre - centre.y);
  cv::warpAffine(fitted, out, shift, out.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
  return true;
}

std::optional<cv::Mat> normalize_digit(const cv::Mat& image, const NormalizeOptions& options,
                                       const cv::Mat& ink_mask) {
  cv::Mat out(normalized_side, normalized_side, CV_32FC1);
  if (!normalize_into(image, options, out.ptr<float>(), ink_mask)) return std::nullopt;
  return out;
}

}  // namespace digitcam::vision
