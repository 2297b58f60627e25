#include "digitcam/train/metrics.hpp"

#include <cstdio>
#include <numeric>
#include <sstream>

#include "digitcam/engine/error.hpp"

namespace digitcam::train {

namespace {

// Significant digits of ratios in JSON: enough to tell 99.61% from 99.62% on 10,000 images.
constexpr int json_digits = 6;

double ratio(std::int64_t numerator, std::int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*g", json_digits, value);
  return text;
}

std::string percent(double fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%6.2f%%", 100.0 * fraction);
  return text;
}

}  // namespace

ConfusionMatrix::ConfusionMatrix(int classes)
    : classes_(classes), counts_(static_cast<std::size_t>(classes > 0 ? classes * classes : 0)) {
  if (classes < 1) throw UsageError("a confusion matrix needs at least one class");
}

void ConfusionMatrix::add(int truth, int predicted) {
  if (truth < 0 || truth >= classes_ || predicted < 0 || predicted >= classes_) {
    throw UsageError("confusion matrix: label pair (" + std::to_string(truth) + ", " +
                     std::to_string(predicted) + ") outside 0.." + std::to_string(classes_ - 1));
  }
  ++counts_[static_cast<std::size_t>(truth * classes_ + predicted)];
}

std::int64_t ConfusionMatrix::total() const {
  return std::accumulate(counts_.begin(), counts_.end(), std::int64_t{0});
}

std::int64_t ConfusionMatrix::row_sum(int truth) const {
  std::int64_t sum = 0;
  for (int p = 0; p < classes_; ++p) sum += at(truth, p);
  return sum;
}

std::int64_t ConfusionMatrix::column_sum(int predicted) const {
  std::int64_t sum = 0;
  for (int t = 0; t < classes_; ++t) sum += at(t, predicted);
  return sum;
}

Metrics compute_metrics(const ConfusionMatrix& confusion) {
  Metrics m;
  m.confusion = confusion;
  m.count = confusion.total();
  std::int64_t correct = 0;
  int present = 0;
  for (int k = 0; k < confusion.classes(); ++k) {
    const std::int64_t hits = confusion.at(k, k);
    const std::int64_t support = confusion.row_sum(k), predicted = confusion.column_sum(k);
    ClassMetrics c;
    c.label = k;
    c.support = support;
    c.precision = ratio(hits, predicted);
    c.recall = ratio(hits, support);
    c.f1 = c.precision + c.recall > 0 ? 2 * c.precision * c.recall / (c.precision + c.recall) : 0;
    m.per_class.push_back(c);
    correct += hits;
    if (support > 0 || predicted > 0) {
      ++present;
      m.precision_macro += c.precision;
      m.recall_macro += c.recall;
      m.f1_macro += c.f1;
    }
  }
  m.accuracy = ratio(correct, m.count);
  if (present > 0) {
    m.precision_macro /= present;
    m.recall_macro /= present;
    m.f1_macro /= present;
  }
  return m;
}

std::string to_json(const Metrics& m) {
  std::ostringstream j;
  j << "{\"accuracy\": " << number(m.accuracy)
    << ", \"precision_macro\": " << number(m.precision_macro)
    << ", \"recall_macro\": " << number(m.recall_macro) << ", \"f1_macro\": " << number(m.f1_macro)
    << ", \"count\": " << m.count << ", \"confusion\": [";
  const int k = m.confusion.classes();
  for (int t = 0; t < k; ++t) {
    j << (t ? ", [" : "[");
    for (int p = 0; p < k; ++p) j << (p ? ", " : "") << m.confusion.at(t, p);
    j << "]";
  }
  j << "], \"per_class\": [";
  for (std::size_t i = 0; i < m.per_class.size(); ++i) {
    const ClassMetrics& c = m.per_class[i];
    j << (i ? ", " : "") << "{\"label\": " << c.label << ", \"precision\": " << number(c.precision)
      << ", \"recall\": " << number(c.recall) << ", \"f1\": " << number(c.f1)
      << ", \"support\": " << c.support << "}";
  }
  j << "]}";
  return j.str();
}

std::string to_table(const Metrics& m) {
  std::ostringstream t;
  char line[160];
  std::snprintf(line, sizeof line,
                "%lld images: accuracy %s, macro precision %s, recall %s, F1 %s\n",
                static_cast<long long>(m.count), percent(m.accuracy).c_str(),
                percent(m.precision_macro).c_str(), percent(m.recall_macro).c_str(),
                percent(m.f1_macro).c_str());
  t << line << "\nclass  precision   recall       F1  support\n";
  for (const ClassMetrics& c : m.per_class) {
    std::snprintf(line, sizeof line, "%5d   %s  %s  %s  %7lld\n", c.label,
                  percent(c.precision).c_str(), percent(c.recall).c_str(), percent(c.f1).c_str(),
                  static_cast<long long>(c.support));
    t << line;
  }
  const int k = m.confusion.classes();
  t << "\nconfusion (rows: true class, columns: predicted)\n      ";
  for (int p = 0; p < k; ++p) {
    std::snprintf(line, sizeof line, "%6d", p);
    t << line;
  }
  t << '\n';
  for (int r = 0; r < k; ++r) {
    std::snprintf(line, sizeof line, "%6d", r);
    t << line;
    for (int p = 0; p < k; ++p) {
      std::snprintf(line, sizeof line, "%6lld", static_cast<long long>(m.confusion.at(r, p)));
      t << line;
    }
    t << '\n';
  }
  return t.str();
}

}  // namespace digitcam::train
