#pragma once
// How far a model's confidence can be trusted: the reliability diagram's bins and the expected
// calibration error (ECE) of top-1 confidences.
//
// Convention (Guo et al. 2017, "On Calibration of Modern Neural Networks"): bin_count
// equal-width bins over [0, 1]; bin m holds the confidences in (m/M, (m+1)/M], with a
// confidence of exactly 0 in bin 0. ECE = sum over bins of (count / total) *
// |accuracy - mean confidence|. Empty bins carry no weight.

#include <cstdint>
#include <vector>

namespace digitcam::train {

// ECE's customary bin count (the figure papers and torchmetrics report).
constexpr int kCalibrationBins = 15;

struct ReliabilityBin {
  double lower = 0;  // confidence interval (lower, upper]
  double upper = 0;
  std::int64_t count = 0;      // samples whose top-1 confidence fell in this bin
  double mean_confidence = 0;  // 0 when the bin is empty
  double accuracy = 0;         // share of those samples that were right; 0 when empty
};

// One entry per bin, in order of confidence. confidences[i] is sample i's top-1 probability
// (0..1); correct[i] says whether its top-1 label was right. Throws UsageError when the two
// lengths differ, a confidence is outside 0..1 (or NaN), or bin_count < 1.
std::vector<ReliabilityBin> reliability_bins(const std::vector<float>& confidences,
                                             const std::vector<bool>& correct,
                                             int bin_count = kCalibrationBins);

// ECE of samples (0 when there are none), same arguments and errors as reliability_bins.
double expected_calibration_error(const std::vector<float>& confidences,
                                  const std::vector<bool>& correct,
                                  int bin_count = kCalibrationBins);
// ECE of bins already computed.
double expected_calibration_error(const std::vector<ReliabilityBin>& bins);

}  // namespace digitcam::train
