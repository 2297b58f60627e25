#pragma once
// From class probabilities to reported digits: the calibrated confidence, and the reject
// threshold below which a candidate is "not a digit".

#include <array>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/vision/classifier.hpp"

namespace digitcam::vision {

inline constexpr int digit_classes = 10;

// One read digit. label -1 marks a rejected candidate (kept only when asked for).
struct Detection {
  cv::Rect box;                                      // frame pixels
  int label = -1;                                    // 0..9, or -1 when rejected
  float confidence = 0.0f;                           // calibrated probability of label
  std::array<float, digit_classes> probabilities{};  // calibrated, summing to 1
  int track = -1;                                    // set by the Tracker; -1 before
};

struct DecisionOptions {
  float temperature = 1.0f;       // softmax temperature (fitted by calibration)
  float reject_threshold = 0.6f;  // below this confidence a candidate is not a digit
  bool keep_rejected = false;     // report rejected candidates with label -1
};

// boxes[i] goes with predictions[i]. UsageError when the sizes differ.
std::vector<Detection> decide(const std::vector<cv::Rect>& boxes,
                              const std::vector<Prediction>& predictions,
                              const DecisionOptions& options);

// The reject rule, for decide() and again after tracking (on each track's evidence): a detection
// whose confidence is not at least the reject threshold (a NaN is not) gets label -1, its
// confidence left as it is; rejected detections are then dropped unless keep_rejected.
void reject_unsure(std::vector<Detection>& detections, const DecisionOptions& options);

}  // namespace digitcam::vision
