#include "digitcam/vision/scene.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/tensor.hpp"
#include "digitcam/vision/decision.hpp"
#include "digitcam/vision/normalizer.hpp"

namespace digitcam::vision {

namespace {

// The fit's rules. Sizes are shares of the frame's shorter side, as in SegmenterOptions.
//
// Search (rule 1): filters wide enough that any digit-like blob reaches the network, and a
// background kernel wide enough for any marker (a stroke a tenth of the frame is already a
// poster), tried next to the starting kernel (which suits fine pens in uneven light better).
constexpr double search_min_height = 0.02;
constexpr double search_max_height = 0.9;
constexpr double search_aspect_widening = 1.5;  // aspect filters widened by this factor
constexpr double search_min_fill = 0.02;
constexpr double search_max_fill = 0.97;
constexpr double search_max_stroke = 0.5;  // a filled disc measures 0.5
constexpr double search_block = 0.25;
// A polarity is chosen when it yields this many times the other's confident digits; otherwise
// both kinds of blob are read about as well and the per-frame choice (auto) stays.
constexpr double polarity_dominance = 3.0;
// Rule 3. Height filters: the camera moves nearer and farther than in a short clip, and the
// smallest and largest digits seen are the 10th and 90th percentiles, so the filters reach
// half below the one and well above the other.
constexpr double height_low_share = 0.5;
constexpr double height_high_share = 1.6;
constexpr double min_height_floor = 0.01;  // a digit under 1% of the frame is a speck
constexpr double max_height_ceiling = 0.95;
// Background kernel: it must exceed the widest ink it is to take out of the paper. Where
// strokes cross or a thick marker fills a loop, ink spans two to three stroke widths; three
// times the 90th-percentile stroke clears that. Never below the starting kernel (a kernel wider
// than needed costs little), never above half the frame.
constexpr double kernel_per_stroke = 3.0;
constexpr double max_block = 0.5;
// Threshold margin: a third of the weakest (10th percentile) ink contrast keeps a stroke's
// anti-aliased edge up to about its middle, and faded or shaded ink still counts; at least
// noise_margin standard deviations of the sensor noise, so grain does not. Lowering the starting
// margin (faint ink) is safe; raising it (strong ink) keeps glare and smudges out of the ink but
// can break a textured background into digit-sized pieces the network reads confidently
// (samples/demo.avi calibrated on itself: 0.62 -> 3.8 false digits per frame with 33 instead of
// 12). So a raised margin is tried on the frames and kept only when it reads more confident
// digits without a larger share of unsure blobs (the demo: 307 and 17 against 254 and 2).
constexpr double contrast_share = 1.0 / 3.0;
constexpr double noise_margin = 4.0;
// Shape filters widen to what the confident digits show, with room to spare.
constexpr double stroke_ratio_room = 1.3;  // max_stroke_fraction >= this x 90th percentile
constexpr double fill_room = 0.1;          // max_fill >= 90th percentile + this
constexpr double max_fill_ceiling = 0.97;
constexpr double low_room = 0.7;     // min_fill, min_aspect <= this x 10th percentile
constexpr double aspect_room = 1.2;  // max_aspect >= this x 90th percentile
// Paper inside a digit's box: pixels farther from the ink than a stroke width plus this many
// pixels (the anti-aliased edge and the blur belong to neither).
constexpr int paper_clearance_px = 2;
// Noise: the median absolute difference of horizontal neighbours, in standard deviations of one
// pixel's noise (the difference of two has sqrt(2) times the spread; MAD = 0.6745 sigma).
constexpr double mad_to_sigma = 1.0 / (0.6745 * 1.41421356237);

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  const auto k = static_cast<std::size_t>(std::lround(q * static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

Spread spread_of(const std::vector<double>& values) {
  return {percentile(values, 0.1), percentile(values, 0.5), percentile(values, 0.9)};
}

// Fitted values keep three significant digits: the measurements are not finer than that, and
// the file and the printout show the values the segmenter uses.
double rounded(double v) {
  if (v == 0.0 || !std::isfinite(v)) return v;
  const double scale = std::pow(10.0, 2 - static_cast<int>(std::floor(std::log10(std::abs(v)))));
  return std::round(v * scale) / scale;
}

std::string number(double v, const char* format = "%.3g") {
  char text[32];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

cv::Mat grey_of(const cv::Mat& frame) {
  if (frame.type() == CV_8UC1) return frame;
  cv::Mat grey;
  if (frame.type() == CV_8UC3) {
    cv::cvtColor(frame, grey, cv::COLOR_BGR2GRAY);
  } else if (frame.type() == CV_8UC4) {
    cv::cvtColor(frame, grey, cv::COLOR_BGRA2GRAY);
  } else {
    throw ShapeError("scene: frame of type " + cv::typeToString(frame.type()) +
                     " given; pass 8-bit grey, BGR or BGRA frames");
  }
  return grey;
}

// Sensor noise of a grey frame (see mad_to_sigma): edges are few, so the median ignores them.
double noise_sigma(const cv::Mat& grey) {
  std::vector<int> histogram(256, 0);
  long count = 0;
  for (int y = 0; y < grey.rows; ++y) {
    const std::uint8_t* g = grey.ptr<std::uint8_t>(y);
    for (int x = 0; x + 1 < grey.cols; ++x) {
      ++histogram[static_cast<std::size_t>(std::abs(g[x + 1] - g[x]))];
      ++count;
    }
  }
  long seen = 0;
  for (int v = 0; v < 256; ++v) {
    seen += histogram[static_cast<std::size_t>(v)];
    // Differences are integers: the median is taken half a level into its bin.
    if (2 * seen > count) return (v + 0.5) * mad_to_sigma;
  }
  return 0.0;
}

// What one confident digit shows about the scene.
struct Measure {
  double height = 0;        // box height / shorter side
  double stroke = 0;        // ridge stroke width / shorter side
  double stroke_ratio = 0;  // 2 x ink area / outline, over box height (the segmenter's measure)
  double fill = 0;
  double aspect = 0;
  double contrast = -1;  // < 0: no paper inside the box to compare with
  double relative = 0;   // contrast / paper grey
};

// The segmenter's stroke measure (2 x area / outline, boundary pixels counted with 4-neighbours).
double outline_stroke_width(const cv::Mat& ink) {
  int area = 0, outline = 0;
  for (int y = 0; y < ink.rows; ++y) {
    const std::uint8_t* m = ink.ptr<std::uint8_t>(y);
    const std::uint8_t* up = y > 0 ? ink.ptr<std::uint8_t>(y - 1) : nullptr;
    const std::uint8_t* down = y + 1 < ink.rows ? ink.ptr<std::uint8_t>(y + 1) : nullptr;
    for (int x = 0; x < ink.cols; ++x) {
      if (m[x] == 0) continue;
      ++area;
      outline += up == nullptr || down == nullptr || x == 0 || x + 1 == ink.cols || up[x] == 0 ||
                 down[x] == 0 || m[x - 1] == 0 || m[x + 1] == 0;
    }
  }
  return 2.0 * area / std::max(outline, 1);
}

Measure measure(const Candidate& c, bool dark_ink, int short_side) {
  Measure m;
  const double side = short_side;
  m.height = c.box.height / side;
  const double stroke_px = ridge_stroke_width(c.ink_mask);
  m.stroke = stroke_px / side;
  m.stroke_ratio = outline_stroke_width(c.ink_mask) / c.box.height;
  m.fill = cv::countNonZero(c.ink_mask) / static_cast<double>(c.box.area());
  m.aspect = static_cast<double>(c.box.width) / c.box.height;
  // Paper: the box's pixels clear of the ink by paper_clearance_px plus a stroke width.
  const int reach = paper_clearance_px + static_cast<int>(std::lround(stroke_px));
  cv::Mat near_ink;
  cv::dilate(c.ink_mask, near_ink,
             cv::getStructuringElement(cv::MORPH_ELLIPSE, {2 * reach + 1, 2 * reach + 1}));
  std::vector<double> paper, ink;
  for (int y = 0; y < c.gray.rows; ++y) {
    const std::uint8_t* g = c.gray.ptr<std::uint8_t>(y);
    const std::uint8_t* i = c.ink_mask.ptr<std::uint8_t>(y);
    const std::uint8_t* n = near_ink.ptr<std::uint8_t>(y);
    for (int x = 0; x < c.gray.cols; ++x) {
      if (i[x] != 0) ink.push_back(g[x]);
      if (n[x] == 0) paper.push_back(g[x]);
    }
  }
  if (!paper.empty() && !ink.empty()) {
    const double p = percentile(paper, 0.5), k = percentile(ink, 0.5);
    m.contrast = dark_ink ? p - k : k - p;
    m.relative = m.contrast / std::max(p, 1.0);
  }
  return m;
}

// What one setting reads over the frames: digits read with confidence (the evidence), and the
// other candidates (clutter, pieces, the not-a-digit class).
struct Yield {
  int confident = 0;
  int unsure = 0;
};

// Whether a has a larger share of unsure candidates than b: a setting that reads more digits
// by also cutting clutter into digit-sized pieces shows it here.
bool more_unsure(const Yield& a, const Yield& b) {
  return static_cast<double>(a.unsure) * (b.confident + b.unsure) >
         static_cast<double>(b.unsure) * (a.confident + a.unsure);
}

// Segments every frame with `options`, classifies the candidates and returns the yield and the
// confident ones' measurements (when `out` is given).
Yield confident_digits(const std::vector<cv::Mat>& frames, const std::vector<int>& short_sides,
                       Classifier& classifier, const SegmenterOptions& options,
                       const SceneOptions& scene, std::vector<Measure>* out) {
  Segmenter segmenter(options);
  engine::Tensor batch;
  constexpr int pixels = normalized_side * normalized_side;
  Yield yield;
  for (std::size_t f = 0; f < frames.size(); ++f) {
    const Segmentation s = segmenter.segment(frames[f]);
    if (s.candidates.empty()) continue;
    const int n = static_cast<int>(s.candidates.size());
    batch.resize({n, 1, normalized_side, normalized_side});
    const NormalizeOptions normalize{s.polarity, scene.match_stroke_width};
    std::vector<char> inked(s.candidates.size());
    for (std::size_t i = 0; i < s.candidates.size(); ++i) {
      inked[i] = normalize_into(s.candidates[i].gray, normalize,
                                batch.data() + static_cast<std::ptrdiff_t>(i) * pixels,
                                s.candidates[i].ink_mask);
    }
    const std::vector<Prediction> predictions = predict(classifier, batch, scene.temperature);
    for (std::size_t i = 0; i < predictions.size(); ++i) {
      // A model with a "not a digit" class (label 10) reads clutter as that: no evidence.
      if (!inked[i] || predictions[i].label >= digit_classes ||
          predictions[i].confidence < scene.min_confidence) {
        ++yield.unsure;
        continue;
      }
      ++yield.confident;
      if (out != nullptr) {
        out->push_back(
            measure(s.candidates[i], s.polarity == Polarity::dark_on_light, short_sides[f]));
      }
    }
  }
  return yield;
}

SegmenterOptions search_options(const SegmenterOptions& start, Polarity polarity, double block) {
  SegmenterOptions o = start;
  o.polarity = polarity;
  o.block_fraction = block;
  o.min_height_fraction = search_min_height;
  o.max_height_fraction = search_max_height;
  o.min_aspect = start.min_aspect / search_aspect_widening;
  o.max_aspect = start.max_aspect * search_aspect_widening;
  o.min_fill = search_min_fill;
  o.max_fill = search_max_fill;
  o.max_stroke_fraction = std::max(start.max_stroke_fraction, search_max_stroke);
  return o;
}

std::string frames_text(int n) {
  return std::to_string(n) + (n == 1 ? " frame" : " frames");
}

const char* polarity_word(Polarity p) {
  switch (p) {
    case Polarity::dark_on_light:
      return "dark";
    case Polarity::light_on_dark:
      return "light";
    case Polarity::automatic:
      break;
  }
  return "auto";
}

}  // namespace

double ridge_stroke_width(const cv::Mat& ink_mask) {
  if (ink_mask.empty() || cv::countNonZero(ink_mask) == 0) return 0.0;
  // A background border, so ink touching the crop's edge is measured from that edge.
  cv::Mat padded;
  cv::copyMakeBorder(ink_mask, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, 0);
  cv::Mat distance;
  cv::distanceTransform(padded, distance, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  std::vector<double> ridge;
  for (int y = 1; y + 1 < distance.rows; ++y) {
    for (int x = 1; x + 1 < distance.cols; ++x) {
      const float d = distance.at<float>(y, x);
      if (d <= 0) continue;
      bool top = true;
      for (int dy = -1; dy <= 1 && top; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          if (distance.at<float>(y + dy, x + dx) > d) {
            top = false;
            break;
          }
        }
      }
      if (top) ridge.push_back(d);
    }
  }
  return std::max(1.0, 2.0 * percentile(ridge, 0.5) - 1.0);
}

SceneEstimate estimate_scene(const std::vector<cv::Mat>& frames, Classifier& classifier,
                             const SceneOptions& options) {
  if (frames.empty()) throw UsageError("scene: no frames to fit the scene to");
  const SegmenterOptions& start = options.start;
  Segmenter validate(start);  // UsageError for invalid starting settings
  SceneEstimate e;
  e.options = start;
  e.frames = static_cast<int>(frames.size());

  std::vector<cv::Mat> grey;
  std::vector<int> short_sides;
  std::vector<double> noise;
  for (const cv::Mat& f : frames) {
    grey.push_back(grey_of(f));
    short_sides.push_back(std::min(f.rows, f.cols));
    noise.push_back(noise_sigma(grey.back()));
  }
  e.noise = percentile(noise, 0.5);

  // Rule 1: polarity, from the better of the two kernels for each.
  struct Trial {
    Polarity polarity;
    double block;
    int digits = 0;
  };
  std::vector<Trial> trials;
  for (const Polarity p : {Polarity::dark_on_light, Polarity::light_on_dark}) {
    for (const double block :
         {start.block_fraction, std::max(start.block_fraction, search_block)}) {
      Trial t{p, block};
      t.digits = confident_digits(grey, short_sides, classifier, search_options(start, p, block),
                                  options, nullptr)
                     .confident;
      trials.push_back(t);
      if (block >= search_block) break;  // the two kernels are one
    }
  }
  const auto best_of = [&](Polarity p) {
    const Trial* best = nullptr;
    for (const Trial& t : trials) {
      // Ties go to the wider kernel: it does not hollow thick strokes.
      if (t.polarity == p && (best == nullptr || t.digits >= best->digits)) best = &t;
    }
    return *best;
  };
  const Trial dark = best_of(Polarity::dark_on_light);
  const Trial light = best_of(Polarity::light_on_dark);
  e.dark_digits = dark.digits;
  e.light_digits = light.digits;
  const Trial& winner = light.digits > dark.digits ? light : dark;
  const Trial& loser = light.digits > dark.digits ? dark : light;
  if (winner.digits < options.min_digits) {
    e.verdict = "only " + std::to_string(winner.digits) +
                " digits read with confidence >= " + number(options.min_confidence, "%.2f") +
                " in " + frames_text(e.frames) + " (need " + std::to_string(options.min_digits) +
                "); the starting settings are kept";
    return e;
  }
  SegmenterOptions fit = start;
  const bool decisive = winner.digits >= polarity_dominance * loser.digits;
  fit.polarity = decisive ? winner.polarity : Polarity::automatic;
  e.choices.push_back(
      {"segmentation.polarity", polarity_word(fit.polarity),
       std::string(polarity_word(winner.polarity)) + " ink read " + std::to_string(winner.digits) +
           " confident digits, " + polarity_word(loser.polarity) + " ink " +
           std::to_string(loser.digits) +
           (decisive ? " (at least " + number(polarity_dominance, "%.0f") + "x: fixed)"
                     : " (less than " + number(polarity_dominance, "%.0f") +
                           "x apart: decided per frame)")});

  // Rule 2: measure the winner's confident digits.
  std::vector<Measure> measures;
  confident_digits(grey, short_sides, classifier,
                   search_options(start, winner.polarity, winner.block), options, &measures);
  e.measured = static_cast<int>(measures.size());
  std::vector<double> heights, strokes, ratios, fills, aspects, contrasts, relatives;
  for (const Measure& m : measures) {
    heights.push_back(m.height);
    strokes.push_back(m.stroke);
    ratios.push_back(m.stroke_ratio);
    fills.push_back(m.fill);
    aspects.push_back(m.aspect);
    if (m.contrast >= 0) {
      contrasts.push_back(m.contrast);
      relatives.push_back(m.relative);
    }
  }
  e.height = spread_of(heights);
  e.stroke = spread_of(strokes);
  e.contrast = spread_of(contrasts);
  const std::string evidence = " over " + std::to_string(e.measured) + " confident digits";

  // Rule 3: the settings, each rounded (see rounded()) and explained.
  const std::string percentiles = " (10th .. 90th percentile" + evidence + ")";
  fit.min_height_fraction = rounded(std::max(min_height_floor, height_low_share * e.height.low));
  fit.max_height_fraction =
      rounded(std::min(max_height_ceiling, height_high_share * e.height.high));
  if (fit.max_height_fraction <= fit.min_height_fraction) {
    fit.max_height_fraction = std::min(1.0, 2.0 * fit.min_height_fraction);
  }
  e.choices.push_back({"segmentation.min_height_fraction", number(fit.min_height_fraction),
                       "digits are " + number(e.height.low) + " .. " + number(e.height.high) +
                           " of the frame's shorter side tall" + percentiles + "; " +
                           number(height_low_share) + "x the smallest"});
  e.choices.push_back({"segmentation.max_height_fraction", number(fit.max_height_fraction),
                       number(height_high_share) + "x the tallest"});

  fit.block_fraction =
      rounded(std::clamp(kernel_per_stroke * e.stroke.high, start.block_fraction, max_block));
  e.choices.push_back({"segmentation.block_fraction", number(fit.block_fraction),
                       "strokes are " + number(e.stroke.median) +
                           " of the shorter side wide (median; 90th " + "percentile " +
                           number(e.stroke.high) + "); the background kernel spans " +
                           number(kernel_per_stroke, "%.0f") + "x the widest" +
                           (fit.block_fraction == start.block_fraction
                                ? ", at least the starting " + number(start.block_fraction)
                                : std::string())});

  double raised_offset = 0;
  std::size_t offset_choice = 0;
  if (!contrasts.empty()) {
    const double noise_floor = noise_margin * e.noise;
    raised_offset =
        rounded(std::min(255.0, std::max(noise_floor, contrast_share * e.contrast.low)));
    fit.threshold_offset = std::min(start.threshold_offset, raised_offset);
    offset_choice = e.choices.size();
    e.choices.push_back({"segmentation.threshold_offset", number(fit.threshold_offset),
                         "ink differs from its paper by " + number(e.contrast.low, "%.0f") +
                             " .. " + number(e.contrast.high, "%.0f") + " grey levels" +
                             percentiles + ", sensor noise " + number(e.noise, "%.1f") +
                             "; a third of the weakest, at least " + number(noise_margin, "%.0f") +
                             "x the noise"});
    const double relative_low = percentile(relatives, 0.1);
    fit.relative_contrast =
        rounded(std::min(start.relative_contrast, contrast_share * relative_low));
    e.choices.push_back({"segmentation.relative_contrast", number(fit.relative_contrast),
                         "the weakest ink differs from its paper by " + number(relative_low) +
                             " times the paper's grey level; a third of that, at most the "
                             "starting " +
                             number(start.relative_contrast)});
  }

  // Shape filters: widened to what was seen, never narrowed.
  const Spread ratio = spread_of(ratios), fill = spread_of(fills), aspect = spread_of(aspects);
  const auto kept_or = [](double fitted, double started, const std::string& rule) {
    return fitted == started ? "the starting value holds them" : rule;
  };
  fit.max_stroke_fraction = rounded(std::min(
      search_max_stroke, std::max(start.max_stroke_fraction, stroke_ratio_room * ratio.high)));
  e.choices.push_back({"segmentation.max_stroke_fraction", number(fit.max_stroke_fraction),
                       "stroke width / height up to " + number(ratio.high) +
                           " (90th percentile); " +
                           kept_or(fit.max_stroke_fraction, start.max_stroke_fraction,
                                   number(stroke_ratio_room) + "x that")});
  fit.min_fill = rounded(std::min(start.min_fill, low_room * fill.low));
  fit.max_fill =
      rounded(std::min(max_fill_ceiling, std::max(start.max_fill, fill.high + fill_room)));
  const std::string fills_seen = "ink fills " + number(fill.low) + " .. " + number(fill.high) +
                                 " of the box" + percentiles + "; ";
  e.choices.push_back(
      {"segmentation.min_fill", number(fit.min_fill),
       fills_seen + kept_or(fit.min_fill, start.min_fill, number(low_room) + "x the lowest")});
  e.choices.push_back(
      {"segmentation.max_fill", number(fit.max_fill),
       kept_or(fit.max_fill, start.max_fill, "the highest + " + number(fill_room))});
  fit.min_aspect = rounded(std::min(start.min_aspect, low_room * aspect.low));
  fit.max_aspect = rounded(std::max(start.max_aspect, aspect_room * aspect.high));
  const std::string aspects_seen =
      "width / height " + number(aspect.low) + " .. " + number(aspect.high) + percentiles + "; ";
  e.choices.push_back({"segmentation.min_aspect", number(fit.min_aspect),
                       aspects_seen + kept_or(fit.min_aspect, start.min_aspect,
                                              number(low_room) + "x the lowest")});
  e.choices.push_back(
      {"segmentation.max_aspect", number(fit.max_aspect),
       kept_or(fit.max_aspect, start.max_aspect, number(aspect_room) + "x the highest")});

  // The margin above the starting one: kept only when it reads more confident digits without a
  // larger share of unsure candidates (see threshold margin above).
  if (raised_offset > fit.threshold_offset) {
    SegmenterOptions raised = fit;
    raised.threshold_offset = raised_offset;
    const Yield low = confident_digits(grey, short_sides, classifier, fit, options, nullptr);
    const Yield high = confident_digits(grey, short_sides, classifier, raised, options, nullptr);
    const bool better = high.confident > low.confident && !more_unsure(high, low);
    if (better) fit.threshold_offset = raised_offset;
    SceneChoice& c = e.choices[offset_choice];
    c.value = number(fit.threshold_offset);
    c.reason += "; " + number(raised_offset) + " read " + std::to_string(high.confident) +
                " confident and " + std::to_string(high.unsure) + " unsure blobs, the starting " +
                number(start.threshold_offset) + " " + std::to_string(low.confident) + " and " +
                std::to_string(low.unsure) + (better ? ": raised" : ": kept");
  }

  // Rule 4: keep the fit only when it reads at least as many confident digits as the start,
  // without a larger share of unsure candidates.
  const Yield started = confident_digits(grey, short_sides, classifier, start, options, nullptr);
  const Yield fitted = confident_digits(grey, short_sides, classifier, fit, options, nullptr);
  e.start_digits = started.confident;
  e.fitted_digits = fitted.confident;
  e.fitted = fitted.confident >= started.confident && !more_unsure(fitted, started);
  if (e.fitted) e.options = fit;
  const auto yield_text = [](const Yield& y) {
    return std::to_string(y.confident) + " confident digits (" + std::to_string(y.unsure) +
           " unsure blobs)";
  };
  e.verdict = std::string(e.fitted ? "fitted settings kept" : "starting settings kept") + ": in " +
              frames_text(e.frames) + " the fitted ones read " + yield_text(fitted) +
              ", the starting ones " + yield_text(started);
  return e;
}

}  // namespace digitcam::vision
