#include "digitcam/vision/segmenter.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::vision {

namespace {

// Recipe constants. Sizes are shares of the frame's shorter side or of a digit's height, so they
// hold at any resolution.
constexpr double working_short_side = 240.0;  // the background is estimated at about this
                                              // shorter side: it varies slowly, and 240 px keeps
                                              // the closing cheap at any frame size ...
constexpr int working_factor_least = 2;       // ... and at half size at most, so averaging 2x2
                                              // pixels tames sensor noise before the closing
                                              // takes its maximum
constexpr int step_window = 5;                // working px over which a jump of the background
constexpr int step_share_numerator = 1;       // by more than a third of its brighter side is a
constexpr int step_share_denominator = 3;     // step (an edge), not a gradient of the light
constexpr int background_smoothing = 3;       // Gaussian blur (working px) over the noise before
                                              // the closing and its plateaus after
constexpr double speck_share = 0.5;           // components smaller than this share of the least
                                              // digit height in both directions are specks
constexpr double merge_overlap = 0.6;         // pieces of one digit share at least this much of
                                              // the narrower one's width ...
constexpr double merge_gap = 0.25;            // ... and lie at most this share of the taller one's
                                              // height apart vertically ...
constexpr double merge_piece_height = 0.6;    // ... and when apart, the smaller is at most this
                                              // share of the taller's height (the bar of a 5, not
                                              // the digit in the next row)
constexpr double merge_area_growth = 3.0;     // ... and their union's box is at most this
                                              // multiple of the bigger box ...
constexpr double merge_height_growth = 1.4;   // ... and this multiple of the taller one's height
                                              // (a 5's detached bar adds a fifth; a digit in
                                              // the next row, or a thumb below, doubles it)
constexpr double line_min_length = 3.0;       // flat ink chained over this many least digit
                                              // heights is a ruled line (a digit's bar is as
                                              // long only on a digit so big that its strokes
                                              // are too thick to be flat)
constexpr double line_thin_share = 0.5;       // "flat": a vertical run of ink at most this share
                                              // of the least digit height
constexpr double row_tolerance = 0.5;         // centres within this share of a row's height
                                              // belong to that row
constexpr double contained_share = 0.7;       // a box with this share of its area inside another
                                              // box lies inside it (a hole, a gap)
constexpr double surround_share = 0.15;       // ring around a box, as a share of its height,
                                              // where the paper's grey is read
constexpr double ring_low_quantile = 0.2;     // the paper's spread around a box is read
constexpr double ring_high_quantile = 0.8;    // between these quantiles, so a neighbour's stroke
                                              // crossing a fifth of the ring does not count
constexpr double untilted_weight = 2.0;       // the paper's spread read with the light's tilt
                                              // taken out counts this many times
constexpr double stroke_end_gap = 0.5;        // a stroke's end is looked past by this many
                                              // stroke widths (at least 2 px, past camera blur)
constexpr double upright_aspect = 0.4;        // width / height below this: a lone upright
                                              // stroke (a 1), the only digit a pole resembles
constexpr double stroke_end_share = 0.5;      // a piece whose ink at its top or bottom edge
                                              // mostly carries on past it is part of something
                                              // longer (a pole, a tripod's leg), not a digit
constexpr double continuation_length = 0.5;   // past an upright stroke's end, its axis is
                                              // followed for this share of its height: a pole
                                              // seen through a gap carries on at least that far,
                                              // and the median over these rows ignores a
                                              // neighbour's stroke crossing fewer than half
constexpr int continuation_min_rows = 3;      // fewer rows before the frame's edge: unknown
constexpr double continuation_share = 0.2;    // a ridge along that axis standing out from both
                                              // sides by this share of the stroke's contrast
                                              // (median over the rows) is the same object
                                              // carrying on. Held-in measurement: the 451 boxes
                                              // of written 1s that reach the check in 12
                                              // make_samples clips over Megamind.avi and
                                              // tree.avi (seeds 1-8 and 11-14) score at most
                                              // 0.117 (99th percentile 0.115) on the strongest
                                              // line beside the axis, paper texture and camera
                                              // blur; 0.2 leaves them 1.7x
constexpr double strong_ink_share = 0.1;      // erase_faint_ink: a wide piece's strong ink is its
                                              // most contrasted tenth (a pen's strokes crossing a
                                              // line are a fair share of the piece) ...
constexpr double faint_ink_share = 0.5;       // ... and ink under half its contrast is a printed
                                              // line's, not the pen's
constexpr int dark_median = 128;              // a tie in polarity goes to light ink on a frame
                                              // whose median grey is below this

int odd_at_least_3(double size) {
  const int n = std::max(3, static_cast<int>(std::lround(size)));
  return n | 1;
}

// Leaves `m` free to be overwritten when nobody else holds its buffer; otherwise detaches it so
// a mask handed out with an earlier Segmentation is never overwritten by the next frame.
void detach_if_shared(cv::Mat& m) {
  if (m.u != nullptr && m.u->refcount > 1) m.release();
}

int horizontal_overlap(const cv::Rect& a, const cv::Rect& b) {
  return std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x);
}

// Whether boxes a and b look like two strokes of one digit: stacked with a strong horizontal
// overlap, either crossing each other vertically or a small piece (a bar, a stroke) close above
// or below a bigger one, and together still shaped like a digit.
bool same_digit(const cv::Rect& a, const cv::Rect& b, const SegmenterOptions& o,
                double max_height) {
  const int narrower = std::min(a.width, b.width);
  if (horizontal_overlap(a, b) < merge_overlap * narrower) return false;
  // A ruled line or a paper edge under a digit is no stroke of it: line-like pieces stay apart.
  auto line_like = [&](const cv::Rect& r) {
    const double aspect = static_cast<double>(r.width) / r.height;
    return aspect < o.min_aspect || aspect > 1.0 / o.min_aspect;
  };
  if (line_like(a) || line_like(b)) return false;
  const cv::Rect both = a | b;
  if (both.height > max_height || both.width > o.max_aspect * both.height) return false;
  // Chains of clutter would grow the box far beyond either piece; one digit's strokes do not.
  if (both.area() > merge_area_growth * std::max(a.area(), b.area())) return false;
  const int taller = std::max(a.height, b.height);
  if (both.height > merge_height_growth * taller) return false;
  const int shorter = std::min(a.height, b.height);
  const int gap = std::max(a.y, b.y) - std::min(a.y + a.height, b.y + b.height);
  if (gap <= 0) return true;
  return gap <= merge_gap * taller && shorter <= merge_piece_height * taller;
}

bool lies_inside(const cv::Rect& inner, const cv::Rect& outer) {
  const double area = inner.area();
  return outer.area() > area && (inner & outer).area() >= contained_share * area;
}

// Whether `outer` holds more of `inners` than a digit has holes (two, an 8's): then it is paper
// with writing on it, a card held before a scene of the other polarity (a white card before a
// dim room), not ink around holes.
bool holds_writing(const cv::Rect& outer, const std::vector<Candidate>& inners) {
  const auto held = std::count_if(inners.begin(), inners.end(),
                                  [&](const Candidate& c) { return lies_inside(c.box, outer); });
  return held > 2;
}

// How many of `candidates` do not lie inside a box of `others` that could be a digit around its
// holes (one not holding writing).
int free_standing(const std::vector<Candidate>& candidates, const std::vector<Candidate>& others) {
  std::vector<cv::Rect> digits_around_holes;
  for (const Candidate& o : others) {
    if (!holds_writing(o.box, candidates)) digits_around_holes.push_back(o.box);
  }
  int n = 0;
  for (const Candidate& c : candidates) {
    n += std::none_of(digits_around_holes.begin(), digits_around_holes.end(),
                      [&](const cv::Rect& around) { return lies_inside(c.box, around); });
  }
  return n;
}

// The value below which `share` of the `count` values counted in `histogram` lie.
template <std::size_t bins>
int histogram_quantile(const std::array<int, bins>& histogram, int count, double share) {
  int seen = 0;
  for (std::size_t v = 0; v < bins; ++v) {
    seen += histogram[v];
    if (seen > share * count) return static_cast<int>(v);
  }
  return static_cast<int>(bins) - 1;
}

// The ring of width `pad` (at least 1) around a box, clipped to the image, where the paper's grey
// is read: the rows above and below span the ring's width, the sides only the box's height.
enum class Side { above, below, left, right };
cv::Rect ring_side(const cv::Mat& gray, const cv::Rect& box, int pad, Side side) {
  pad = std::max(pad, 1);
  cv::Rect part;
  switch (side) {
    case Side::above:
      part = {box.x - pad, box.y - pad, box.width + 2 * pad, pad};
      break;
    case Side::below:
      part = {box.x - pad, box.y + box.height, box.width + 2 * pad, pad};
      break;
    case Side::left:
      part = {box.x - pad, box.y, pad, box.height};
      break;
    case Side::right:
      part = {box.x + box.width, box.y, pad, box.height};
      break;
  }
  return part & cv::Rect(0, 0, gray.cols, gray.rows);
}

constexpr std::array<Side, 4> whole_ring{Side::above, Side::below, Side::left, Side::right};

// Each pixel of the given sides of the ring goes to visit(x, y, grey, side).
template <class Visit>
void for_each_ring_pixel(const cv::Mat& gray, const cv::Rect& box, int pad,
                         std::span<const Side> sides, Visit&& visit) {
  for (const Side side : sides) {
    const cv::Rect part = ring_side(gray, box, pad, side);
    for (int y = part.y; y < part.y + part.height; ++y) {
      const std::uint8_t* g = gray.ptr<std::uint8_t>(y);
      for (int x = part.x; x < part.x + part.width; ++x) visit(x, y, g[x], side);
    }
  }
}

// Grey levels of the paper around a box. `spread` is how uneven that paper is: the range between
// two quantiles of its grey levels, so a neighbour's stroke crossing a fifth of the ring does not
// count.
struct Surround {
  int median = 0;
  int spread = 0;
};
Surround ring_levels(const cv::Mat& gray, const cv::Rect& box, int pad) {
  std::array<int, 256> histogram{};
  int count = 0;
  for_each_ring_pixel(gray, box, pad, whole_ring, [&](int, int, std::uint8_t grey, Side) {
    ++histogram[grey];
    ++count;
  });
  return {histogram_quantile(histogram, count, 0.5),
          histogram_quantile(histogram, count, ring_high_quantile) -
              histogram_quantile(histogram, count, ring_low_quantile)};
}

// The paper's spread around a box (as ring_levels reads it) with the tilt of the light taken out.
// Light falling off across a card (a lamp to one side, the soft edge of a hand's shadow) tilts the
// paper's grey smoothly, which is not texture: 60 grey levels across a digit happen on a
// hand-held card. The tilt along each axis is the difference between the paper's grey on opposite
// sides of the ring, over the distance between them: each side's ring_high_quantile for dark ink,
// so a stroke covering much of a side (a 5's detached bar above its body) does not count; the
// tilt down is read with the tilt across already taken out, as such a stroke covers the two ends
// of a side unequally.
int untilted_spread(const cv::Mat& gray, const cv::Rect& box, int pad, bool dark_ink) {
  // Histograms of grey levels less the tilt found so far (grey levels per pixel, across and down
  // from the box's middle), shifted by `offset` so that each lands in one: two opposite sides at a
  // time, then the whole ring.
  constexpr int offset = 384;
  using Histogram = std::array<int, 2 * offset>;
  const auto middle_x = static_cast<float>(box.x + 0.5 * box.width);
  const auto middle_y = static_cast<float>(box.y + 0.5 * box.height);
  const auto bin = [&](std::uint8_t grey, int x, int y, float across, float down) {
    const float level = grey - across * (static_cast<float>(x) - middle_x) -
                        down * (static_cast<float>(y) - middle_y) + offset + 0.5f;
    return static_cast<std::size_t>(std::clamp(static_cast<int>(level), 0, 2 * offset - 1));
  };
  const double paper_share = dark_ink ? ring_high_quantile : ring_low_quantile;
  // The tilt from side `from` to side `to`, the tilt across being `across`; none when the frame's
  // edge leaves a side out.
  const auto tilt = [&](Side from, Side to, float across) {
    std::array<Histogram, 2> sides{};
    std::array<int, 2> counts{};
    std::array<double, 2> middles{};  // along the axis between the two sides
    const std::array<Side, 2> pair{from, to};
    for_each_ring_pixel(gray, box, pad, pair, [&](int x, int y, std::uint8_t grey, Side side) {
      const std::size_t i = side == to;
      ++sides[i][bin(grey, x, y, across, 0.0f)];
      ++counts[i];
      middles[i] += side == Side::left || side == Side::right ? x : y;
    });
    if (counts[0] == 0 || counts[1] == 0) return 0.0f;
    return static_cast<float>((histogram_quantile(sides[1], counts[1], paper_share) -
                               histogram_quantile(sides[0], counts[0], paper_share)) /
                              (middles[1] / counts[1] - middles[0] / counts[0]));
  };
  const float across = tilt(Side::left, Side::right, 0.0f);
  const float down = tilt(Side::above, Side::below, across);
  Histogram levels{};
  int count = 0;
  for_each_ring_pixel(gray, box, pad, whole_ring, [&](int x, int y, std::uint8_t grey, Side) {
    ++levels[bin(grey, x, y, across, down)];
    ++count;
  });
  return histogram_quantile(levels, count, ring_high_quantile) -
         histogram_quantile(levels, count, ring_low_quantile);
}

int median_grey(const cv::Mat& gray) {
  std::array<int, 256> histogram{};
  for (int y = 0; y < gray.rows; ++y) {
    const std::uint8_t* g = gray.ptr<std::uint8_t>(y);
    for (int x = 0; x < gray.cols; ++x) ++histogram[g[x]];
  }
  const long half = static_cast<long>(gray.total()) / 2;
  long seen = 0;
  for (int v = 0; v < 256; ++v) {
    seen += histogram[static_cast<std::size_t>(v)];
    if (seen > half) return v;
  }
  return 255;
}

// Row-wise reading order: candidates sorted by centre height, grouped into rows whose centres lie
// within row_tolerance of the row's mean height, each row left to right.
void sort_reading_order(std::vector<Candidate>& candidates) {
  auto centre_y = [](const Candidate& c) { return c.box.y + 0.5 * c.box.height; };
  std::sort(candidates.begin(), candidates.end(),
            [&](const Candidate& a, const Candidate& b) { return centre_y(a) < centre_y(b); });
  std::size_t row_start = 0;
  double sum_y = 0, sum_h = 0;
  for (std::size_t i = 0; i <= candidates.size(); ++i) {
    const std::size_t count = i - row_start;
    const bool ends_row =
        i == candidates.size() ||
        (count > 0 && std::abs(centre_y(candidates[i]) - sum_y / static_cast<double>(count)) >
                          row_tolerance * sum_h / static_cast<double>(count));
    if (ends_row) {
      std::sort(candidates.begin() + static_cast<std::ptrdiff_t>(row_start),
                candidates.begin() + static_cast<std::ptrdiff_t>(i),
                [](const Candidate& a, const Candidate& b) { return a.box.x < b.box.x; });
      row_start = i;
      sum_y = sum_h = 0;
    }
    if (i < candidates.size()) {
      sum_y += centre_y(candidates[i]);
      sum_h += candidates[i].box.height;
    }
  }
}

}  // namespace

Segmenter::Segmenter(SegmenterOptions options) : options_(options) {
  const SegmenterOptions& o = options_;
  auto fraction_ok = [](double f) { return f > 0.0 && f <= 1.0; };
  if (!fraction_ok(o.min_height_fraction) || !fraction_ok(o.max_height_fraction) ||
      o.min_height_fraction >= o.max_height_fraction || o.min_aspect <= 0.0 ||
      o.min_aspect >= o.max_aspect || o.min_fill < 0.0 || o.min_fill >= o.max_fill ||
      !fraction_ok(o.block_fraction) || o.threshold_offset < 0.0 || o.relative_contrast < 0.0 ||
      o.max_stroke_fraction <= 0.0 || o.max_paper_variation <= 0.0) {
    throw UsageError(
        "segmenter options are not valid: fractions must lie in (0, 1], every minimum below its "
        "maximum and offsets non-negative; check the segmentation section of the calibration file");
  }
  // The ink threshold as a function of the local background grey b: the larger of the fixed
  // offset and the relative contrast, below b for dark ink and above it for light ink.
  dark_level_lut_.create(1, 256, CV_8UC1);
  light_level_lut_.create(1, 256, CV_8UC1);
  for (int b = 0; b < 256; ++b) {
    const double margin = std::max(o.threshold_offset, o.relative_contrast * b);
    dark_level_lut_.at<std::uint8_t>(b) = cv::saturate_cast<std::uint8_t>(b - margin);
    light_level_lut_.at<std::uint8_t>(b) = cv::saturate_cast<std::uint8_t>(b + margin);
  }
}

void Segmenter::threshold(bool dark_ink, Pass& pass) const {
  cv::Mat& mask = pass.mask;
  // Closing (dilate, erode) takes dark strokes narrower than the kernel out of the paper; opening
  // does the same for light strokes. Unlike a local mean, it leaves no halo around ink and no
  // band along a paper edge (a step survives closing), and shadows wider than the kernel are
  // background, not ink.
  if (dark_ink) {
    cv::dilate(small_, pass.closed, kernel_);
    cv::erode(pass.closed, pass.flat, kernel_);
  } else {
    cv::erode(small_, pass.closed, kernel_);
    cv::dilate(pass.closed, pass.flat, kernel_);
  }
  cv::GaussianBlur(pass.flat, pass.closed, {background_smoothing, background_smoothing}, 0);
  // Where the background itself jumps (a paper edge, the edge of a hard shadow, a building
  // against the sky) the upsampled estimate overshoots onto the far side of the step for a few
  // pixels: no ink is looked for there.
  cv::dilate(pass.closed, pass.step_high, step_kernel_);
  cv::erode(pass.closed, pass.step_low, step_kernel_);
  const std::uint8_t* lut = (dark_ink ? dark_level_lut_ : light_level_lut_).ptr<std::uint8_t>();
  const std::uint8_t nothing = dark_ink ? 0 : 255;
  pass.level_small.create(pass.closed.size(), CV_8UC1);
  for (int y = 0; y < pass.closed.rows; ++y) {
    const std::uint8_t* b = pass.closed.ptr<std::uint8_t>(y);
    const std::uint8_t* hi = pass.step_high.ptr<std::uint8_t>(y);
    const std::uint8_t* lo = pass.step_low.ptr<std::uint8_t>(y);
    std::uint8_t* level = pass.level_small.ptr<std::uint8_t>(y);
    for (int x = 0; x < pass.closed.cols; ++x) {
      const bool step = (hi[x] - lo[x]) * step_share_denominator > hi[x] * step_share_numerator;
      level[x] = step ? nothing : lut[b[x]];
    }
  }
  const bool reduced = pass.level_small.size() != gray_.size();
  if (reduced) cv::resize(pass.level_small, pass.level, gray_.size(), 0, 0, cv::INTER_LINEAR);
  cv::compare(gray_, reduced ? pass.level : pass.level_small, mask,
              dark_ink ? cv::CMP_LT : cv::CMP_GT);
}

bool Segmenter::stands_on_paper(const Pass& pass, const cv::Rect& box, int label,
                                bool dark_ink) const {
  const cv::Mat& mask = pass.mask;
  std::int64_t ink_sum = 0;
  int area = 0;
  for (int y = box.y; y < box.y + box.height; ++y) {
    const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
    const std::uint8_t* g = gray_.ptr<std::uint8_t>(y);
    const int* l = pass.labels.ptr<int>(y / 2);
    for (int x = box.x; x < box.x + box.width; ++x) {
      // Without branches: ink and paper alternate too often for a branch to be predicted.
      const int mine = static_cast<int>(m[x] != 0) & static_cast<int>(l[x >> 1] == label);
      ink_sum += g[x] & -mine;
      area += mine;
    }
  }
  return area > 0 &&
         even_paper_grey(box, static_cast<double>(ink_sum) / area, dark_ink).has_value();
}

// The paper counts as even when its spread is small against the ink's contrast, either as it is
// or with the tilt of the light taken out. The tilt is fitted to the ring itself, so it also takes
// out part of a texture's spread: that reading counts double. (samples/demo.avi: its digits'
// paper spreads up to 0.58 of their contrast, and at most 0.21 with the tilt out. Of the clutter
// in vtest.avi and Megamind.avi that a tilted reading counted once would let through, 1% and 27%
// pass when it counts double.)
std::optional<int> Segmenter::even_paper_grey(const cv::Rect& box, double ink_mean,
                                              bool dark_ink) const {
  const SegmenterOptions& o = options_;
  const int pad = static_cast<int>(surround_share * box.height);
  const Surround paper = ring_levels(gray_, box, pad);
  const double contrast = dark_ink ? paper.median - ink_mean : ink_mean - paper.median;
  const double wanted = std::max(o.threshold_offset, o.relative_contrast * paper.median);
  if (contrast < wanted) return std::nullopt;
  const double most_spread = o.max_paper_variation * std::max(contrast, 1.0);
  if (paper.spread <= most_spread ||
      untilted_weight * untilted_spread(gray_, box, pad, dark_ink) <= most_spread) {
    return paper.median;
  }
  return std::nullopt;
}

// A written digit's strokes end on paper: a little way past the ink that touches the top or the
// bottom of its box there is paper again. A thin upright piece of something longer (a lamp post,
// a tripod's leg, a door frame) was cut off only where its contrast with the background changed,
// and past its ends the same object carries on, darker or lighter than the paper. Only upright
// strokes (1s) are judged, and only past their top and bottom: digits of one number stand close
// side by side, and a finger pointing at a wider digit from below must not take it away.
// Two looks past each end: the row just past it (the object carries on as strongly), and the
// stroke's axis followed further (it carries on faintly, as vtest.avi's lamp post does above
// and below its darker stretch; a written 1 has even paper there).
bool Segmenter::strokes_end_on_paper(Pass& pass, const cv::Rect& box, const cv::Mat& ink,
                                     double ink_mean, double stroke, int paper_grey) const {
  if (box.width >= upright_aspect * box.height) return true;
  const double half_contrast = std::abs(paper_grey - ink_mean) / 2.0;
  const int gap = std::max(2, static_cast<int>(std::lround(stroke_end_gap * stroke)));
  const auto carries_on = [&](int edge_row, int outside_row) {
    if (outside_row < 0 || outside_row >= gray_.rows) return false;  // the frame's edge: unknown
    const std::uint8_t* m = ink.ptr<std::uint8_t>(edge_row);
    const std::uint8_t* g = gray_.ptr<std::uint8_t>(outside_row);
    int touching = 0, continuing = 0;
    for (int x = 0; x < box.width; ++x) {
      if (m[x] == 0) continue;
      ++touching;
      // Darker or lighter than the paper by half the ink's contrast: not paper.
      continuing += std::abs(g[box.x + x] - paper_grey) > half_contrast;
    }
    return touching > 0 && continuing > stroke_end_share * touching;
  };
  if (carries_on(0, box.y - gap) || carries_on(box.height - 1, box.y + box.height - 1 + gap)) {
    return false;
  }
  // The same object carrying on more faintly (a pole out of its darker stretch, into a paler
  // one): a narrow ridge along the stroke's axis past either end.
  const double contrast = std::abs(paper_grey - ink_mean);
  const StrokeAxis axis = stroke_axis(box, ink, stroke);
  return std::max(faint_continuation(pass, box, axis, gap, -1),
                  faint_continuation(pass, box, axis, gap, +1)) <= continuation_share * contrast;
}

Segmenter::StrokeAxis Segmenter::stroke_axis(const cv::Rect& box, const cv::Mat& ink,
                                             double stroke) {
  // From the ink in a band a stroke wide at each end, so a leaning stroke is followed along its
  // lean.
  const int band = std::clamp(static_cast<int>(std::lround(stroke)), 1, box.height / 2);
  const auto end_of = [&](int first_row) {
    double sum = 0;
    int n = 0;
    for (int y = first_row; y < first_row + band; ++y) {
      const std::uint8_t* m = ink.ptr<std::uint8_t>(y);
      for (int x = 0; x < box.width; ++x) {
        if (m[x] == 0) continue;
        sum += x;
        ++n;
      }
    }
    return n > 0 ? StrokeAxis::End{box.x + sum / n, static_cast<double>(n) / band}
                 : StrokeAxis::End{box.x + 0.5 * (box.width - 1), stroke};
  };
  StrokeAxis axis;
  axis.top = end_of(0);
  axis.bottom = end_of(box.height - band);
  axis.top_y = box.y + 0.5 * (band - 1);
  axis.bottom_y = box.y + box.height - 0.5 * (band + 1);
  axis.lean = (axis.bottom.x - axis.top.x) / std::max(axis.bottom_y - axis.top_y, 1.0);
  return axis;
}

double Segmenter::faint_continuation(Pass& pass, const cv::Rect& box, const StrokeAxis& axis,
                                     int gap, int direction) const {
  const StrokeAxis::End& end = direction < 0 ? axis.top : axis.bottom;
  const double end_y = direction < 0 ? axis.top_y : axis.bottom_y;
  const double lean = axis.lean;
  // Centre: as wide as the stroke's end. Flanks: right beside it on both sides (a pixel apart,
  // for blur), so something wider than the stroke carrying on (a thumb holding the card, a
  // shadow) is no ridge.
  const int half = std::max(1, static_cast<int>(std::lround(end.width / 2)));
  const int flank = std::max(2, half);
  const int length = std::max(continuation_min_rows,
                              static_cast<int>(std::lround(continuation_length * box.height)));
  const int start = direction < 0 ? box.y - 1 - gap : box.y + box.height + gap;
  // The object may carry on beside the stroke's axis rather than on it: a post whose shaded
  // half was the ink carries on as the whole post, half a post further over. Each line parallel
  // to the axis within a stroke's width of it is followed, and the strongest counts.
  const int reach = std::max(1, static_cast<int>(std::lround(end.width)));
  double strongest = 0.0;
  for (int shift = -reach; shift <= reach; ++shift) {
    pass.ridges.clear();
    for (int i = 0; i < length; ++i) {
      const int y = start + direction * i;
      if (y < 0 || y >= gray_.rows) break;
      const int cx = shift + static_cast<int>(std::lround(end.x + lean * (y - end_y)));
      const int left = cx - half - 1 - flank, right = cx + half + 1 + flank;
      if (left < 0 || right >= gray_.cols) break;
      const std::uint8_t* g = gray_.ptr<std::uint8_t>(y);
      double centre = 0, left_side = 0, right_side = 0;
      for (int k = -half; k <= half; ++k) centre += g[cx + k];
      for (int k = 0; k < flank; ++k) {
        left_side += g[left + k];
        right_side += g[right - k];
      }
      centre /= 2 * half + 1;
      const double to_left = centre - left_side / flank, to_right = centre - right_side / flank;
      // A ridge stands out from both sides the same way; an edge (of a thumb, a shadow, the
      // card) beside the axis differs on one side only.
      pass.ridges.push_back(to_left * to_right > 0 ? std::min(std::abs(to_left), std::abs(to_right))
                                                   : 0.0);
    }
    if (static_cast<int>(pass.ridges.size()) < continuation_min_rows) continue;  // the edge
    auto middle = pass.ridges.begin() + static_cast<std::ptrdiff_t>(pass.ridges.size() / 2);
    std::nth_element(pass.ridges.begin(), middle, pass.ridges.end());
    strongest = std::max(strongest, *middle);
  }
  return strongest;
}

int Segmenter::label_ink(Pass& pass) const {
  const cv::Mat& mask = pass.mask;
  // Components of the ink itself (8-connected), so the holes of 0, 6, 8 and 9 are background and
  // never become components of their own. Labelling runs on the mask pooled 2x2 (any ink ->
  // ink): a quarter of the pixels, and a one-pixel break in a faint stroke is bridged. The ink
  // masks handed out are cut from the full-resolution mask.
  pass.pooled.create((mask.rows + 1) / 2, (mask.cols + 1) / 2, CV_8UC1);
  for (int y = 0; y < pass.pooled.rows; ++y) {
    const std::uint8_t* top = mask.ptr<std::uint8_t>(2 * y);
    const std::uint8_t* bottom = mask.ptr<std::uint8_t>(std::min(2 * y + 1, mask.rows - 1));
    std::uint8_t* p = pass.pooled.ptr<std::uint8_t>(y);
    const int pairs = mask.cols / 2;
    for (int x = 0; x < pairs; ++x) {
      // A block's two columns read as one 16-bit word from each row: a loop the compiler
      // vectorises (mask pixels are 0 or 255).
      std::uint16_t upper = 0, lower = 0;
      std::memcpy(&upper, top + 2 * x, sizeof upper);
      std::memcpy(&lower, bottom + 2 * x, sizeof lower);
      p[x] = (upper | lower) != 0 ? 255 : 0;
    }
    if (pairs < pass.pooled.cols) p[pairs] = top[2 * pairs] | bottom[2 * pairs];
  }
  // connectedComponentsWithStats is several times slower than labelling plus this scan.
  const int n = cv::connectedComponents(pass.pooled, pass.labels, 8, CV_32S);
  pass.bounds.assign(static_cast<std::size_t>(n), {pass.pooled.cols, pass.pooled.rows, -1, -1});
  for (int y = 0; y < pass.labels.rows; ++y) {
    const int* l = pass.labels.ptr<int>(y);
    const std::uint8_t* p = pass.pooled.ptr<std::uint8_t>(y);
    const int cols = pass.labels.cols;
    for (int x = 0; x < cols;) {
      // Bytes, not labels, are read on the (mostly empty) paper, eight at a time.
      if (std::uint64_t eight = 0;
          x + 8 <= cols && (std::memcpy(&eight, p + x, sizeof eight), eight == 0)) {
        x += 8;
        continue;
      }
      if (p[x] == 0) {
        ++x;
        continue;
      }
      // A run of ink along a row is one component (its pixels touch): its bounds grow once.
      const int start = x;
      while (x < cols && p[x] != 0) ++x;
      std::array<int, 4>& b = pass.bounds[static_cast<std::size_t>(l[start])];
      b[0] = std::min(b[0], start);
      b[1] = std::min(b[1], y);
      b[2] = std::max(b[2], x - 1);
      b[3] = std::max(b[3], y);
    }
  }

  return n;
}

bool Segmenter::erase_ruled_lines(Pass& pass, double min_height) const {
  cv::Mat& mask = pass.mask;
  // Pooled px. A "flat" pixel lies in a vertical run of ink at most `thin` tall; flat pixels
  // chained (8-connected) over more than `line_length` are a ruled line, not a digit's bar.
  const int thin = std::max(2, static_cast<int>(std::lround(line_thin_share * min_height / 2)));
  const double line_length = line_min_length * min_height / 2;
  // Vertical runs found row by row (one open run per column), so memory is read in order.
  pass.flat_ink.create(pass.pooled.size(), CV_8UC1);
  pass.flat_ink = 0;
  pass.run_top.assign(static_cast<std::size_t>(pass.pooled.cols), -1);
  for (int y = 0; y <= pass.pooled.rows; ++y) {
    const std::uint8_t* p = y < pass.pooled.rows ? pass.pooled.ptr<std::uint8_t>(y) : nullptr;
    for (int x = 0; x < pass.pooled.cols; ++x) {
      int& top = pass.run_top[static_cast<std::size_t>(x)];
      const bool ink = p != nullptr && p[x] != 0;
      if (ink && top < 0) top = y;
      if (ink || top < 0) continue;
      if (y - top <= thin) {
        for (int r = top; r < y; ++r) pass.flat_ink.at<std::uint8_t>(r, x) = 255;
      }
      top = -1;
    }
  }
  const int chains = cv::connectedComponentsWithStats(
      pass.flat_ink, pass.flat_labels, pass.flat_stats, pass.flat_centroids, 8, CV_32S);
  bool erased = false;
  for (int chain = 1; chain < chains; ++chain) {
    if (pass.flat_stats.at<int>(chain, cv::CC_STAT_WIDTH) <= line_length) continue;
    const cv::Rect c(pass.flat_stats.at<int>(chain, cv::CC_STAT_LEFT),
                     pass.flat_stats.at<int>(chain, cv::CC_STAT_TOP),
                     pass.flat_stats.at<int>(chain, cv::CC_STAT_WIDTH),
                     pass.flat_stats.at<int>(chain, cv::CC_STAT_HEIGHT));
    // The line through the chain (least squares, y on x), followed across the whole ink
    // component the chain belongs to. Its short flat stretches between the strokes of digits
    // written across it lie on the same line and go with it; the strokes cross it in tall runs
    // and stay whole.
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    int component = 0;
    for (int y = c.y; y < c.y + c.height; ++y) {
      const int* f = pass.flat_labels.ptr<int>(y);
      for (int x = c.x; x < c.x + c.width; ++x) {
        if (f[x] != chain) continue;
        component = pass.labels.at<int>(y, x);
        n += 1;
        sx += x;
        sy += y;
        sxx += static_cast<double>(x) * x;
        sxy += static_cast<double>(x) * y;
      }
    }
    const double denominator = n * sxx - sx * sx;
    if (component <= 0 || denominator <= 0) continue;
    const double slope = (n * sxy - sx * sy) / denominator;
    const double offset = (sy - slope * sx) / n;
    const std::array<int, 4>& b = pass.bounds[static_cast<std::size_t>(component)];
    for (int x = b[0]; x <= b[2]; ++x) {
      const double centre = offset + slope * x;
      const int y0 = std::max(b[1], static_cast<int>(std::floor(centre - thin)));
      const int y1 = std::min(b[3], static_cast<int>(std::ceil(centre + thin)));
      for (int y = y0; y <= y1; ++y) {
        if (pass.flat_ink.at<std::uint8_t>(y, x) == 0) continue;
        const int fy = 2 * y, fx = 2 * x;
        for (int dy = 0; dy < 2 && fy + dy < mask.rows; ++dy) {
          std::uint8_t* m = mask.ptr<std::uint8_t>(fy + dy);
          for (int dx = 0; dx < 2 && fx + dx < mask.cols; ++dx) m[fx + dx] = 0;
        }
      }
    }
    erased = true;
  }
  return erased;
}

bool Segmenter::erase_faint_ink(Pass& pass, int labels, double max_width, bool dark_ink) const {
  // A printed ruled line is far fainter than the pen that crosses it (a tenth to a quarter of
  // the ink's contrast on samples/stills/card_ruled_shadow.png): in a piece too wide to be a
  // digit, ink fainter than faint_ink_share of the piece's strong ink is erased, so the strokes
  // touching the line come apart from it.
  cv::Mat& mask = pass.mask;
  const double to_small_x = static_cast<double>(pass.closed.cols) / gray_.cols;
  const double to_small_y = static_cast<double>(pass.closed.rows) / gray_.rows;
  bool erased = false;
  for (int label = 1; label < labels; ++label) {
    const std::array<int, 4>& b = pass.bounds[static_cast<std::size_t>(label)];
    if (2 * (b[2] - b[0] + 1) <= max_width) continue;
    const cv::Rect box =
        cv::Rect(2 * b[0], 2 * b[1], 2 * (b[2] - b[0] + 1), 2 * (b[3] - b[1] + 1)) &
        cv::Rect(0, 0, mask.cols, mask.rows);
    // The piece's ink pixels and their contrast with the paper's estimated grey, in one sweep.
    pass.faint_pixels.clear();
    std::array<int, 256> histogram{};
    for (int y = box.y; y < box.br().y; ++y) {
      const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
      const int* l = pass.labels.ptr<int>(y / 2);
      const std::uint8_t* g = gray_.ptr<std::uint8_t>(y);
      const std::uint8_t* paper = pass.closed.ptr<std::uint8_t>(
          std::min(pass.closed.rows - 1, static_cast<int>(y * to_small_y)));
      for (int x = box.x; x < box.br().x; ++x) {
        if (m[x] == 0 || l[x / 2] != label) continue;
        const int p = paper[std::min(pass.closed.cols - 1, static_cast<int>(x * to_small_x))];
        const int contrast = std::max(0, dark_ink ? p - g[x] : g[x] - p);
        ++histogram[static_cast<std::size_t>(contrast)];
        pass.faint_pixels.push_back({x, y, contrast});
      }
    }
    const double count = static_cast<double>(pass.faint_pixels.size());
    int strong = 255;
    for (int seen = 0; strong > 0; --strong) {
      seen += histogram[static_cast<std::size_t>(strong)];
      if (seen >= strong_ink_share * count) break;
    }
    const double faint = faint_ink_share * strong;
    for (const InkPixel& pixel : pass.faint_pixels) {
      if (pixel.contrast >= faint) continue;
      mask.at<std::uint8_t>(pixel.y, pixel.x) = 0;
      erased = true;
    }
  }
  return erased;
}

void Segmenter::analyse(Pass& pass, bool dark_ink, int short_side) const {
  cv::Mat& mask = pass.mask;
  std::vector<Candidate>& out = pass.found;
  const SegmenterOptions& o = options_;
  const double min_height = o.min_height_fraction * short_side;
  const double max_height = o.max_height_fraction * short_side;
  const double max_width = max_height * o.max_aspect;
  const double speck = speck_share * min_height;
  out.clear();

  int n = label_ink(pass);
  // Ruled lines (and straight paper edges) that digits are written across join those digits into
  // one component: the faint ink of pieces too wide for a digit, then the long flat runs of ink,
  // are erased and the ink labelled again.
  if (o.erase_ruled_lines) {
    if (erase_faint_ink(pass, n, max_width, dark_ink)) n = label_ink(pass);
    if (erase_ruled_lines(pass, min_height)) n = label_ink(pass);
  }

  pass.groups.clear();
  pass.next_label.assign(static_cast<std::size_t>(n), -1);
  pass.label_group.assign(static_cast<std::size_t>(n), -1);
  const cv::Rect frame_rect(0, 0, mask.cols, mask.rows);
  for (int label = 1; label < n; ++label) {
    const std::array<int, 4>& b = pass.bounds[static_cast<std::size_t>(label)];
    // A digit cut by the frame's edge cannot be read, and a piece of clutter running off the
    // frame must not swallow a digit when merging.
    if (b[0] == 0 || b[1] == 0 || b[2] == pass.pooled.cols - 1 || b[3] == pass.pooled.rows - 1)
      continue;
    const cv::Rect box =
        cv::Rect(2 * b[0], 2 * b[1], 2 * (b[2] - b[0] + 1), 2 * (b[3] - b[1] + 1)) & frame_rect;
    if (box.width < speck && box.height < speck) continue;
    if (box.height > max_height || box.width > max_width) continue;  // edges, lines, big clutter
    // A piece as tall as a digit is judged before merging, so clutter (a thumb, a person, a
    // textured patch) cannot swallow the digit strokes next to it and take them down with it.
    // Smaller pieces (a 5's bar, half of a 4) are judged with the digit they join.
    if (box.height >= min_height && !stands_on_paper(pass, box, label, dark_ink)) continue;
    pass.groups.push_back({box, label, label});
  }

  // Broken strokes of one digit become one group. Boxes grow as groups merge, so repeat until
  // nothing changes; the groups are few after the speck and size filters.
  for (bool merged = true; merged;) {
    merged = false;
    for (std::size_t i = 0; i < pass.groups.size(); ++i) {
      for (std::size_t j = i + 1; j < pass.groups.size();) {
        Group& a = pass.groups[i];
        const Group& b = pass.groups[j];
        if (!same_digit(a.box, b.box, o, max_height)) {
          ++j;
          continue;
        }
        a.box |= b.box;
        pass.next_label[static_cast<std::size_t>(a.last)] = b.first;
        a.last = b.last;
        pass.groups[j] = pass.groups.back();
        pass.groups.pop_back();
        merged = true;
      }
    }
  }
  for (std::size_t gi = 0; gi < pass.groups.size(); ++gi) {
    for (int label = pass.groups[gi].first; label >= 0;
         label = pass.next_label[static_cast<std::size_t>(label)]) {
      pass.label_group[static_cast<std::size_t>(label)] = static_cast<int>(gi);
    }
  }

  pass.ink_frame.create(mask.size(), CV_8UC1);
  for (std::size_t gi = 0; gi < pass.groups.size(); ++gi) {
    // The pooled box is at most a pixel larger than the ink on each side.
    const cv::Rect& coarse = pass.groups[gi].box;
    if (coarse.height < min_height || coarse.height - 2 > max_height ||
        coarse.width - 2 > o.max_aspect * coarse.height ||
        coarse.width < o.min_aspect * (coarse.height - 2)) {
      continue;
    }
    // This group's ink only: a neighbour's stroke reaching into the box has another label.
    const int index = static_cast<int>(gi);
    int left = coarse.br().x, top = coarse.br().y, right = -1, bottom = -1, area = 0;
    std::int64_t ink_sum = 0;
    for (int y = coarse.y; y < coarse.y + coarse.height; ++y) {
      const std::uint8_t* m = mask.ptr<std::uint8_t>(y);
      const std::uint8_t* g = gray_.ptr<std::uint8_t>(y);
      const int* l = pass.labels.ptr<int>(y / 2);
      std::uint8_t* ink = pass.ink_frame.ptr<std::uint8_t>(y);
      for (int x = coarse.x; x < coarse.x + coarse.width; ++x) {
        const bool mine =
            m[x] != 0 && pass.label_group[static_cast<std::size_t>(l[x / 2])] == index;
        ink[x] = mine ? 255 : 0;
        if (!mine) continue;
        ++area;
        ink_sum += g[x];
        left = std::min(left, x);
        right = std::max(right, x);
        top = std::min(top, y);
        bottom = y;
      }
    }
    if (area == 0) continue;
    const cv::Rect box(left, top, right - left + 1, bottom - top + 1);
    const double aspect = static_cast<double>(box.width) / box.height;
    const double fill = static_cast<double>(area) / box.area();
    if (box.height < min_height || box.height > max_height || aspect < o.min_aspect ||
        aspect > o.max_aspect || fill < o.min_fill || fill > o.max_fill) {
      continue;
    }
    const cv::Mat ink = pass.ink_frame(box);
    // Boundary pixels (ink with a 4-neighbour outside the ink or the box) measure the outline,
    // holes included, for the stroke width 2 * area / outline.
    int outline = 0;
    for (int y = 0; y < box.height; ++y) {
      const std::uint8_t* m = ink.ptr<std::uint8_t>(y);
      const std::uint8_t* up = y > 0 ? ink.ptr<std::uint8_t>(y - 1) : nullptr;
      const std::uint8_t* down = y + 1 < box.height ? ink.ptr<std::uint8_t>(y + 1) : nullptr;
      for (int x = 0; x < box.width; ++x) {
        if (m[x] == 0) continue;
        outline += up == nullptr || down == nullptr || x == 0 || x + 1 == box.width || up[x] == 0 ||
                   down[x] == 0 || m[x - 1] == 0 || m[x + 1] == 0;
      }
    }
    const double stroke = 2.0 * area / std::max(outline, 1);
    // Ink differs from the paper around it, and that paper is even compared with the ink's
    // contrast. A blob of the wrong polarity (the paper inside a digit's hole or bay) is that
    // same paper; clutter (windows in a wall, leaves, grass) sits in texture. A digit-tall piece
    // was judged before merging too, on its pooled box; judging it again on its tight box costs
    // one ring histogram and rejects a few more false digits (vtest.avi: 765 against 769).
    if (stroke > o.max_stroke_fraction * box.height) continue;
    const double ink_mean = static_cast<double>(ink_sum) / area;
    const std::optional<int> paper_grey = even_paper_grey(box, ink_mean, dark_ink);
    if (!paper_grey || (o.check_stroke_ends &&
                        !strokes_end_on_paper(pass, box, ink, ink_mean, stroke, *paper_grey))) {
      continue;
    }
    out.push_back({box, gray_(box).clone(), ink.clone()});
  }
  sort_reading_order(out);
}

Segmentation Segmenter::segment(const cv::Mat& frame) {
  Segmentation result;
  if (frame.empty()) return result;
  switch (frame.type()) {
    case CV_8UC1:
      gray_ = frame;  // a header only: gray_ is never written into
      break;
    case CV_8UC3:
      cv::cvtColor(frame, converted_, cv::COLOR_BGR2GRAY);
      gray_ = converted_;
      break;
    case CV_8UC4:
      cv::cvtColor(frame, converted_, cv::COLOR_BGRA2GRAY);
      gray_ = converted_;
      break;
    default:
      throw ShapeError("segmenter: frame of type " + cv::typeToString(frame.type()) +
                       " given; pass an 8-bit grey (CV_8UC1), BGR (CV_8UC3) or BGRA (CV_8UC4) "
                       "image");
  }

  const int short_side = std::min(gray_.rows, gray_.cols);
  // Shrunk by a whole factor, so whole blocks are averaged (a fractional factor weighs partial
  // pixels at three times the cost). The last columns and rows short of a whole block are left
  // out of the estimate and take the edge's level when it is brought back up.
  const int factor = std::max(working_factor_least,
                              static_cast<int>(std::lround(short_side / working_short_side)));
  const double scale = 1.0 / factor;
  const cv::Rect blocks(0, 0, gray_.cols - gray_.cols % factor, gray_.rows - gray_.rows % factor);
  if (blocks.empty()) {
    cv::resize(gray_, small_, {1, 1}, 0, 0, cv::INTER_AREA);  // smaller than one block
  } else {
    block_means(gray_, factor, small_);
  }
  // Noise would lift the closing's maxima (and sink the opening's minima) above the paper.
  cv::GaussianBlur(small_, small_, {background_smoothing, background_smoothing}, 0);
  const int side = odd_at_least_3(options_.block_fraction * short_side * scale);
  if (kernel_.rows != side) kernel_ = cv::getStructuringElement(cv::MORPH_RECT, {side, side});
  if (step_kernel_.empty()) {
    step_kernel_ = cv::getStructuringElement(cv::MORPH_RECT, {step_window, step_window});
  }

  // The two polarities' passes share only the read-only frame images, so they run side by side.
  const Polarity wanted = options_.polarity;
  const bool look[2] = {wanted != Polarity::light_on_dark, wanted != Polarity::dark_on_light};
  engine::parallel_for(2, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      Pass& pass = i == 0 ? dark_ : light_;
      pass.found.clear();
      if (!look[i]) continue;
      detach_if_shared(pass.mask);
      threshold(i == 0, pass);
      analyse(pass, i == 0, short_side);
    }
  });

  Polarity chosen = wanted;
  if (wanted == Polarity::automatic) {
    // The ink's polarity frames digits. What the other polarity finds on the same card is the
    // paper in their holes and bays: mostly rejected already (it is no darker or lighter than
    // the paper around it), and what is left lies inside the digits' boxes.
    const int dark_score = free_standing(dark_.found, light_.found);
    const int light_score = free_standing(light_.found, dark_.found);
    if (dark_score != light_score) {
      chosen = dark_score > light_score ? Polarity::dark_on_light : Polarity::light_on_dark;
    } else {
      chosen =
          median_grey(small_) < dark_median ? Polarity::light_on_dark : Polarity::dark_on_light;
    }
  }
  const bool dark = chosen == Polarity::dark_on_light;
  result.polarity = chosen;
  Pass& chosen_pass = dark ? dark_ : light_;
  result.candidates = std::move(chosen_pass.found);
  result.mask = chosen_pass.mask;
  dark_.found.clear();
  light_.found.clear();
  gray_.release();  // do not keep the caller's frame alive
  return result;
}

namespace {

// block_means' last step for a row of blocks: each block's column sums added up and its mean
// looked up. Factor is the block's width when known when compiling (0: `factor` at run time).
template <int Factor>
void round_block_means(const std::uint16_t* column_sums, int factor, const std::uint8_t* rounded,
                       std::uint8_t* mean, int blocks) {
  const int width = Factor > 0 ? Factor : factor;
  for (int x = 0; x < blocks; ++x, column_sums += width) {
    int sum = 0;
    for (int k = 0; k < width; ++k) sum += column_sums[k];
    mean[x] = rounded[sum];
  }
}

}  // namespace

void block_means(const cv::Mat& gray, int factor, cv::Mat& out) {
  // A column's sum over the block's rows fits 16 bits up to 257 rows.
  CV_Assert(gray.type() == CV_8UC1 && factor >= 1 && factor <= 257);
  if (factor == 2) {
    // OpenCV's vector code for 2x2 blocks rounds ties up and its scalar code for the last columns
    // to even: its own call is the one way to give its output.
    const cv::Rect blocks(0, 0, gray.cols - gray.cols % 2, gray.rows - gray.rows % 2);
    cv::resize(gray(blocks), out, {blocks.width / 2, blocks.height / 2}, 0, 0, cv::INTER_AREA);
    return;
  }
  out.create(gray.rows / factor, gray.cols / factor, CV_8UC1);
  // Each possible block sum's mean, rounded as OpenCV rounds it: the int sum times the float
  // 1/area, to nearest.
  const int area = factor * factor;
  const float scale = 1.0f / static_cast<float>(area);
  std::vector<std::uint8_t> rounded(static_cast<std::size_t>(255 * area + 1));
  for (std::size_t sum = 0; sum < rounded.size(); ++sum) {
    rounded[sum] = cv::saturate_cast<std::uint8_t>(static_cast<float>(sum) * scale);
  }
  std::vector<std::uint16_t> column_sums(static_cast<std::size_t>(out.cols * factor));
  for (int y = 0; y < out.rows; ++y) {
    std::fill(column_sums.begin(), column_sums.end(), 0);
    for (int k = 0; k < factor; ++k) {
      const std::uint8_t* row = gray.ptr<std::uint8_t>(y * factor + k);
      for (std::size_t x = 0; x < column_sums.size(); ++x) {
        column_sums[x] = static_cast<std::uint16_t>(column_sums[x] + row[x]);
      }
    }
    std::uint8_t* mean = out.ptr<std::uint8_t>(y);
    switch (factor) {  // the factors of 720p, 1080p and 4K frames, with the loop per block unrolled
      case 3:
        round_block_means<3>(column_sums.data(), factor, rounded.data(), mean, out.cols);
        break;
      case 5:
        round_block_means<5>(column_sums.data(), factor, rounded.data(), mean, out.cols);
        break;
      case 9:
        round_block_means<9>(column_sums.data(), factor, rounded.data(), mean, out.cols);
        break;
      default:
        round_block_means<0>(column_sums.data(), factor, rounded.data(), mean, out.cols);
    }
  }
}

}  // namespace digitcam::vision
