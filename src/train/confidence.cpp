#include "digitcam/train/confidence.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "digitcam/engine/error.hpp"

namespace digitcam::train {

std::vector<ReliabilityBin> reliability_bins(const std::vector<float>& confidences,
                                             const std::vector<bool>& correct, int bin_count) {
  if (bin_count < 1) {
    throw UsageError("reliability bins: bin count must be at least 1, got " +
                     std::to_string(bin_count));
  }
  if (confidences.size() != correct.size()) {
    throw UsageError("reliability bins: " + std::to_string(confidences.size()) +
                     " confidences but " + std::to_string(correct.size()) +
                     " right/wrong flags; pass one flag per sample");
  }
  std::vector<ReliabilityBin> bins(static_cast<std::size_t>(bin_count));
  std::vector<double> confidence_sum(bins.size(), 0.0);
  std::vector<std::int64_t> right(bins.size(), 0);
  for (std::size_t i = 0; i < confidences.size(); ++i) {
    const float c = confidences[i];
    if (!(c >= 0.0f && c <= 1.0f)) {
      throw UsageError("reliability bins: confidence of sample " + std::to_string(i) + " is " +
                       std::to_string(c) + ", outside 0..1; pass probabilities, not logits");
    }
    // Right-closed bins: ceil(c * M) - 1 puts 1/M itself in bin 0 and 1.0 in the last bin.
    const int m = std::clamp(static_cast<int>(std::ceil(static_cast<double>(c) * bin_count)) - 1, 0,
                             bin_count - 1);
    const auto b = static_cast<std::size_t>(m);
    ++bins[b].count;
    confidence_sum[b] += c;
    if (correct[i]) ++right[b];
  }
  for (std::size_t b = 0; b < bins.size(); ++b) {
    bins[b].lower = static_cast<double>(b) / bin_count;
    bins[b].upper = static_cast<double>(b + 1) / bin_count;
    if (bins[b].count > 0) {
      const auto n = static_cast<double>(bins[b].count);
      bins[b].mean_confidence = confidence_sum[b] / n;
      bins[b].accuracy = static_cast<double>(right[b]) / n;
    }
  }
  return bins;
}

double expected_calibration_error(const std::vector<ReliabilityBin>& bins) {
  std::int64_t total = 0;
  for (const ReliabilityBin& bin : bins) total += bin.count;
  if (total == 0) return 0.0;
  double ece = 0.0;
  for (const ReliabilityBin& bin : bins) {
    ece += static_cast<double>(bin.count) / static_cast<double>(total) *
           std::abs(bin.accuracy - bin.mean_confidence);
  }
  return ece;
}

double expected_calibration_error(const std::vector<float>& confidences,
                                  const std::vector<bool>& correct, int bin_count) {
  return expected_calibration_error(reliability_bins(confidences, correct, bin_count));
}

}  // namespace digitcam::train
