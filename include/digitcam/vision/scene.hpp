#pragma once
// Fits the segmenter to a scene: a few frames of the user's own writing in, segmentation settings
// out, each with the measurement it rests on (what `digitcam calibrate` prints and writes).
//   frames (BGR or grey, one scene) + classifier + the settings to start from -> SceneEstimate
//
// The evidence is the digits the network reads with high confidence, so clutter in the scene
// (which it reads as nothing in particular) does not count. The rules, each in scene.cpp next to
// its constants:
//   1. Polarity: both polarities are segmented with generous filters and a wide background
//      kernel; the one that yields clearly more confident digits wins, otherwise it stays auto.
//   2. Those confident digits are measured: box height, stroke width (distance transform of the
//      ink mask), stroke width / height, ink fill, aspect, and the ink's contrast against the
//      paper inside the box; the frames' sensor noise is measured too.
//   3. Settings follow from percentiles of those measurements: height filters around the heights
//      seen, a background kernel a few strokes wide, a threshold margin that keeps the weakest ink
//      and drops the noise (raised above the starting one only when that reads more confident
//      digits without more unsure blobs), shape filters widened to what was seen (never
//      narrowed, so a short clip cannot make them stricter than a general scene needs).
//   4. The fitted settings and the starting ones are both run over the frames; the fitted ones
//      are kept only when they read at least as many confident digits without a larger share of
//      unsure candidates (clutter cut into digit-sized pieces shows there).
// Pure: no files, no output; deterministic for the same frames, classifier and settings.

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/vision/classifier.hpp"
#include "digitcam/vision/segmenter.hpp"

namespace digitcam::vision {

struct SceneOptions {
  SegmenterOptions start;          // the settings the fit starts from and falls back to
  bool match_stroke_width = true;  // the normaliser's option, as the pipeline will use it
  float temperature = 1.0f;        // softmax temperature, as the pipeline will use it
  float min_confidence = 0.9f;     // a candidate read at least this sure is evidence
  int min_digits = 8;              // fewer confident digits than this: nothing is fitted
};

// One fitted setting and why: printed by `digitcam calibrate` one per line.
struct SceneChoice {
  std::string key;     // the calibration file's key, e.g. "segmentation.block_fraction"
  std::string value;   // as written to the file
  std::string reason;  // the measurement and the rule
};

// Percentiles (10th, 50th, 90th) of one measurement over the confident digits.
struct Spread {
  double low = 0, median = 0, high = 0;
};

struct SceneEstimate {
  SegmenterOptions options;  // the fitted settings (== start when nothing could be fitted)
  bool fitted = false;       // false: too little evidence, or the fit read fewer digits
  std::vector<SceneChoice> choices;
  std::string verdict;  // one line: what was kept and the confident digits behind it
  // Evidence.
  int frames = 0;
  int dark_digits = 0, light_digits = 0;    // confident digits per polarity in the search
  int measured = 0;                         // confident digits measured (chosen polarity)
  Spread height;                            // box height / the frame's shorter side
  Spread stroke;                            // stroke width / the frame's shorter side
  Spread contrast;                          // ink against paper, grey levels
  double noise = 0;                         // sensor noise, grey levels (standard deviation)
  int start_digits = 0, fitted_digits = 0;  // confident digits read by each setting (step 4)
};

// frames: CV_8UC1/3/4, any sizes (sizes are taken relative to each frame's shorter side).
// UsageError when frames is empty or options.start is not valid.
SceneEstimate estimate_scene(const std::vector<cv::Mat>& frames, Classifier& classifier,
                             const SceneOptions& options);

// Stroke width (px) of a CV_8UC1 ink mask: twice the median distance-transform value along the
// ridges (pixels no nearer the background than any neighbour), minus one for the pixel the
// distance is counted from. 0 for an empty mask.
double ridge_stroke_width(const cv::Mat& ink_mask);

}  // namespace digitcam::vision
