#pragma once
// One evaluation of a model on labelled digits, shared by `digitcam eval` and the report of
// `digitcam train`, so both read the model file through the same Classifier and both reports
// come from the same numbers.
//
// Models with an 11th "not a digit" output are evaluated on digits: the probabilities are the
// softmax over all of the model's outputs (of logits / temperature), the prediction is the most
// probable of the ten digit classes and its confidence that class's probability.

#include <vector>

#include "digitcam/train/metrics.hpp"
#include "digitcam/train/mnist.hpp"
#include "digitcam/train/report.hpp"
#include "digitcam/vision/classifier.hpp"

namespace digitcam::app {

struct Evaluation {
  train::Metrics metrics;                    // over the ten digit classes
  std::vector<train::LabelledCrop> samples;  // every digit: image, truth, prediction, confidence
};

// ModelError when the model has fewer than ten outputs; UsageError for a temperature that is
// not a positive finite number.
Evaluation evaluate(vision::Classifier& classifier, const train::Dataset& data,
                    float temperature = 1.0f);

}  // namespace digitcam::app
