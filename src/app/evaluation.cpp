#include "digitcam/app/evaluation.hpp"

#include <algorithm>
#include <string>

#include "digitcam/engine/error.hpp"
#include "digitcam/vision/decision.hpp"

namespace digitcam::app {

namespace {

// Crops per classifier call: large batches are fastest for both engines.
constexpr int eval_batch = 500;

}  // namespace

Evaluation evaluate(vision::Classifier& classifier, const train::Dataset& data, float temperature) {
  if (classifier.classes() < vision::digit_classes) {
    throw ModelError("the model has " + std::to_string(classifier.classes()) +
                     " outputs; a digit classifier needs at least 10 (0-9, and optionally "
                     "\"not a digit\")");
  }
  Evaluation result;
  train::ConfusionMatrix confusion(vision::digit_classes);
  result.samples.reserve(static_cast<std::size_t>(data.count));
  engine::Tensor batch;
  for (int start = 0; start < data.count; start += eval_batch) {
    const int size = std::min(eval_batch, data.count - start);
    train::fill_batch_range(data, start, size, batch);
    const auto predictions = vision::predict(classifier, batch, temperature);
    for (int i = 0; i < size; ++i) {
      const auto k = static_cast<std::size_t>(start + i);
      const std::vector<float>& p = predictions[static_cast<std::size_t>(i)].probabilities;
      const auto digits_end = p.begin() + vision::digit_classes;
      const int label = static_cast<int>(std::max_element(p.begin(), digits_end) - p.begin());
      const int truth = data.labels[k];
      confusion.add(truth, label);
      result.samples.push_back(
          {train::image_of(data, k), truth, label, p[static_cast<std::size_t>(label)]});
    }
  }
  result.metrics = train::compute_metrics(confusion);
  return result;
}

}  // namespace digitcam::app
