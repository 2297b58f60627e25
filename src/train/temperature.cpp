#include "digitcam/train/temperature.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "digitcam/engine/error.hpp"

namespace digitcam::train {

namespace {

// The search range of T and the golden-section steps (each shrinks the bracket by 0.618: 60
// steps leave it far below float precision).
constexpr double min_temperature = 0.125;
constexpr double max_temperature = 8.0;
constexpr int golden_steps = 60;
constexpr double inverse_golden = 0.6180339887498949;
constexpr int digit_classes = 10;

std::size_t rows_of(const std::vector<float>& logits, int classes) {
  if (classes < 1 || logits.size() % static_cast<std::size_t>(classes) != 0) {
    throw UsageError("calibration: " + std::to_string(logits.size()) +
                     " logits do not make rows of " + std::to_string(classes) + " classes");
  }
  return logits.size() / static_cast<std::size_t>(classes);
}

void check(const std::vector<float>& logits, int classes, const std::vector<std::uint8_t>& labels,
           double temperature) {
  if (rows_of(logits, classes) != labels.size()) {
    throw UsageError("calibration: " + std::to_string(labels.size()) + " labels for " +
                     std::to_string(rows_of(logits, classes)) + " rows of logits");
  }
  for (const std::uint8_t label : labels) {
    if (label >= classes) {
      throw UsageError("calibration: label " + std::to_string(label) + " of a " +
                       std::to_string(classes) + "-class model");
    }
  }
  if (!(temperature > 0.0) || !std::isfinite(temperature)) {
    throw UsageError("calibration: temperature must be positive, got " +
                     std::to_string(temperature));
  }
}

// Fills p with softmax(z / temperature) over k classes (p's size is k).
void softmax(const float* z, int k, double temperature, std::vector<double>& p) {
  const double top = *std::max_element(z, z + k);
  double sum = 0;
  for (int j = 0; j < k; ++j)
    sum += p[static_cast<std::size_t>(j)] = std::exp((z[j] - top) / temperature);
  for (double& v : p) v /= sum;
}

}  // namespace

double mean_nll(const std::vector<float>& logits, int classes,
                const std::vector<std::uint8_t>& labels, double temperature) {
  check(logits, classes, labels, temperature);
  if (labels.empty()) return 0.0;
  double total = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* z = logits.data() + i * static_cast<std::size_t>(classes);
    // log softmax of the label, computed as (z_y - top)/T - log sum exp((z - top)/T).
    const double top = *std::max_element(z, z + classes);
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += std::exp((z[j] - top) / temperature);
    total -= (z[labels[i]] - top) / temperature - std::log(sum);
  }
  return total / static_cast<double>(labels.size());
}

double fit_temperature(const std::vector<float>& logits, int classes,
                       const std::vector<std::uint8_t>& labels) {
  check(logits, classes, labels, 1.0);
  if (labels.empty()) return 1.0;
  double lo = std::log(min_temperature), hi = std::log(max_temperature);
  const auto nll = [&](double log_t) { return mean_nll(logits, classes, labels, std::exp(log_t)); };
  double a = hi - inverse_golden * (hi - lo), b = lo + inverse_golden * (hi - lo);
  double fa = nll(a), fb = nll(b);
  for (int step = 0; step < golden_steps; ++step) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - inverse_golden * (hi - lo);
      fa = nll(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + inverse_golden * (hi - lo);
      fb = nll(b);
    }
  }
  return std::exp(0.5 * (lo + hi));
}

TopOne top_one(const std::vector<float>& logits, int classes,
               const std::vector<std::uint8_t>& labels, double temperature) {
  check(logits, classes, labels, temperature);
  TopOne out;
  std::vector<double> p(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    softmax(logits.data() + i * static_cast<std::size_t>(classes), classes, temperature, p);
    const auto best = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    out.confidence.push_back(static_cast<float>(p[best]));
    out.correct.push_back(best == labels[i]);
  }
  return out;
}

std::vector<float> digit_confidence(const std::vector<float>& logits, int classes,
                                    double temperature) {
  const std::size_t rows = rows_of(logits, classes);
  check(logits, classes, std::vector<std::uint8_t>(rows, 0), temperature);
  std::vector<float> out;
  out.reserve(rows);
  std::vector<double> p(static_cast<std::size_t>(classes));
  const auto digits = static_cast<std::ptrdiff_t>(std::min(classes, digit_classes));
  for (std::size_t i = 0; i < rows; ++i) {
    softmax(logits.data() + i * static_cast<std::size_t>(classes), classes, temperature, p);
    const auto best = std::max_element(p.begin(), p.end());
    out.push_back(best - p.begin() < digits ? static_cast<float>(*best) : 0.0f);
  }
  return out;
}

float threshold_keeping(std::vector<float> confidence, double keep) {
  if (!(keep > 0.0 && keep <= 1.0)) {
    throw UsageError("calibration: the share of digits to keep must be in (0, 1], got " +
                     std::to_string(keep));
  }
  if (confidence.empty()) return 0.0f;
  std::sort(confidence.begin(), confidence.end(), std::greater<>());
  const auto kept =
      static_cast<std::size_t>(std::ceil(keep * static_cast<double>(confidence.size()) - 1e-9));
  return confidence[std::max<std::size_t>(kept, 1) - 1];
}

}  // namespace digitcam::train
