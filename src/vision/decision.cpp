#include "digitcam/vision/decision.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

#include "digitcam/engine/error.hpp"

namespace digitcam::vision {

namespace {

// The class with the highest probability over all of the model's classes, so that a model with
// an extra "not a digit" class can win with it. A prediction without probabilities (a stub
// classifier, a hand-made test) falls back to the label it carries.
int most_probable_class(const Prediction& prediction) {
  const std::vector<float>& p = prediction.probabilities;
  if (p.empty()) return prediction.label;
  return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
}

}  // namespace

std::vector<Detection> decide(const std::vector<cv::Rect>& boxes,
                              const std::vector<Prediction>& predictions,
                              const DecisionOptions& options) {
  if (boxes.size() != predictions.size()) {
    throw UsageError("decide: " + std::to_string(boxes.size()) + " boxes but " +
                     std::to_string(predictions.size()) +
                     " predictions; classify every candidate box exactly once, in the same order");
  }

  std::vector<Detection> detections;
  detections.reserve(boxes.size());
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const Prediction& prediction = predictions[i];
    Detection detection;
    detection.box = boxes[i];

    // Classes past the tenth ("not a digit") have no place in the array; the digits' share then
    // sums to less than 1, which is what they are worth.
    const std::size_t copied =
        std::min<std::size_t>(prediction.probabilities.size(), digit_classes);
    std::copy_n(prediction.probabilities.begin(), copied, detection.probabilities.begin());

    const int label = most_probable_class(prediction);
    const bool is_digit = label >= 0 && label < digit_classes;
    if (prediction.probabilities.empty() && is_digit) {
      detection.probabilities[label] = prediction.confidence;
    }
    const float confidence = prediction.probabilities.empty()
                                 ? prediction.confidence
                                 : prediction.probabilities[static_cast<std::size_t>(label)];

    if (is_digit) {
      detection.label = label;
      detection.confidence = confidence;
    } else {
      // Not a digit: how close its best digit came, for overlays and threshold tuning.
      detection.confidence =
          *std::max_element(detection.probabilities.begin(), detection.probabilities.end());
    }
    detections.push_back(detection);
  }
  reject_unsure(detections, options);
  return detections;
}

void reject_unsure(std::vector<Detection>& detections, const DecisionOptions& options) {
  for (Detection& d : detections) {
    // Written as "not at least" so a NaN confidence is rejected too.
    if (!(d.confidence >= options.reject_threshold)) d.label = -1;
  }
  if (!options.keep_rejected) {
    std::erase_if(detections, [](const Detection& d) { return d.label < 0; });
  }
}

}  // namespace digitcam::vision
