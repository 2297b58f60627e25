#pragma once
// Confidence that means what it says: temperature scaling (Guo et al. 2017, "On Calibration of
// Modern Neural Networks") and the reject threshold's rule.
//
// Temperature scaling divides every logit by one T > 0 before the softmax: the ranking of the
// classes (and so accuracy) stays, only how sure the model sounds changes. T is fitted on a
// held-out split by minimising the mean negative log-likelihood of the true labels.
//
// Logits are given row after row (count x classes floats), labels one per row.

#include <cstdint>
#include <vector>

namespace digitcam::train {

// Mean negative log-likelihood of labels under softmax(logits / temperature).
// UsageError when the sizes disagree, a label is out of range or temperature is not positive.
double mean_nll(const std::vector<float>& logits, int classes,
                const std::vector<std::uint8_t>& labels, double temperature);

// The temperature in [1/8, 8] of least mean_nll, by golden-section search over log T (the NLL
// is convex in 1/T, so one minimum). 1 when there are no rows.
double fit_temperature(const std::vector<float>& logits, int classes,
                       const std::vector<std::uint8_t>& labels);

// Top-1 over all classes under softmax(logits / temperature): its probability and whether it is
// the label. The input of reliability_bins and expected_calibration_error (confidence.hpp).
struct TopOne {
  std::vector<float> confidence;
  std::vector<bool> correct;
};
TopOne top_one(const std::vector<float>& logits, int classes,
               const std::vector<std::uint8_t>& labels, double temperature);

// What the decision stage would report for each row: the probability of the most probable digit
// (classes 0..9) when the most probable class overall is a digit, else 0 (the model said "not
// a digit", which no threshold can undo).
std::vector<float> digit_confidence(const std::vector<float>& logits, int classes,
                                    double temperature);

// The highest threshold t such that at least `keep` (0..1] of `confidence` is >= t: the reject
// threshold that keeps that share of held-out real digits. 0 when confidence is empty.
float threshold_keeping(std::vector<float> confidence, double keep);

}  // namespace digitcam::train
