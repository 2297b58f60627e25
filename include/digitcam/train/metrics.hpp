#pragma once
// Classification metrics from a confusion matrix: accuracy, per-class and macro-averaged
// precision, recall and F1, as a JSON object (for the model card) and as a text table.
//
// Conventions (those of scikit-learn with zero_division=0): a ratio whose denominator is zero is
// 0; macro averages run over the classes that occur as truth or as prediction.

#include <cstdint>
#include <string>
#include <vector>

namespace digitcam::train {

// K x K counts; row = true class, column = predicted class.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int classes = 10);

  // Throws UsageError when a label is outside 0..classes-1.
  void add(int truth, int predicted);
  std::int64_t at(int truth, int predicted) const {
    return counts_[static_cast<std::size_t>(truth * classes_ + predicted)];
  }
  int classes() const { return classes_; }
  std::int64_t total() const;
  std::int64_t row_sum(int truth) const;         // support of a class
  std::int64_t column_sum(int predicted) const;  // how often a class was predicted
  bool operator==(const ConfusionMatrix&) const = default;

 private:
  int classes_;
  std::vector<std::int64_t> counts_;  // row-major, classes_ * classes_
};

struct ClassMetrics {
  int label = 0;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  std::int64_t support = 0;  // true samples of this class
};

struct Metrics {
  double accuracy = 0;
  double precision_macro = 0;
  double recall_macro = 0;
  double f1_macro = 0;
  std::int64_t count = 0;
  std::vector<ClassMetrics> per_class;
  ConfusionMatrix confusion;
};

Metrics compute_metrics(const ConfusionMatrix& confusion);

// One JSON object with keys accuracy, precision_macro, recall_macro, f1_macro, count,
// confusion (array of rows) and per_class (array of {label, precision, recall, f1, support}).
std::string to_json(const Metrics& metrics);
// A readable multi-line table: the summary, per-class figures and the confusion matrix.
std::string to_table(const Metrics& metrics);

}  // namespace digitcam::train
