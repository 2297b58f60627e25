#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/confidence.hpp"

using namespace digitcam;
using namespace digitcam::train;

TEST_CASE("confidence: samples land in right-closed equal-width bins") {
  // Four bins of width 0.25: (0, .25], (.25, .5], (.5, .75], (.75, 1].
  const std::vector<float> conf = {0.0f, 0.25f, 0.3f, 0.5f, 0.6f, 0.9f, 1.0f};
  const std::vector<bool> right = {false, true, false, true, true, true, false};
  const std::vector<ReliabilityBin> bins = reliability_bins(conf, right, 4);
  REQUIRE(bins.size() == 4);
  CHECK(bins[0].lower == doctest::Approx(0.0));
  CHECK(bins[0].upper == doctest::Approx(0.25));
  CHECK(bins[3].upper == doctest::Approx(1.0));
  CHECK(bins[0].count == 2);  // 0.0 and 0.25
  CHECK(bins[1].count == 2);  // 0.3 and 0.5
  CHECK(bins[2].count == 1);  // 0.6
  CHECK(bins[3].count == 2);  // 0.9 and 1.0
  CHECK(bins[0].mean_confidence == doctest::Approx(0.125));
  CHECK(bins[0].accuracy == doctest::Approx(0.5));
  CHECK(bins[1].mean_confidence == doctest::Approx(0.4));
  CHECK(bins[1].accuracy == doctest::Approx(0.5));
  CHECK(bins[2].accuracy == doctest::Approx(1.0));
  CHECK(bins[3].mean_confidence == doctest::Approx(0.95));
  CHECK(bins[3].accuracy == doctest::Approx(0.5));
}

TEST_CASE("confidence: hand-computed expected calibration error") {
  const std::vector<float> conf = {0.0f, 0.25f, 0.3f, 0.5f, 0.6f, 0.9f, 1.0f};
  const std::vector<bool> right = {false, true, false, true, true, true, false};
  // |0.5-0.125|*2 + |0.5-0.4|*2 + |1-0.6|*1 + |0.5-0.95|*2, over 7 samples.
  const double expected = (0.75 + 0.2 + 0.4 + 0.9) / 7.0;
  CHECK(expected_calibration_error(conf, right, 4) == doctest::Approx(expected));
  CHECK(expected_calibration_error(reliability_bins(conf, right, 4)) == doctest::Approx(expected));
}

TEST_CASE("confidence: a calibrated model has zero ECE, an overconfident one does not") {
  // 10 samples at 0.8, 8 right: perfectly calibrated in the 15-bin default.
  std::vector<float> conf(10, 0.8f);
  std::vector<bool> right(10, true);
  right[0] = right[1] = false;
  CHECK(expected_calibration_error(conf, right) == doctest::Approx(0.0).epsilon(1e-6));
  // The same samples claimed at 1.0: ECE = 1.0 - 0.8.
  std::vector<float> sure(10, 1.0f);
  CHECK(expected_calibration_error(sure, right) == doctest::Approx(0.2));
  const std::vector<ReliabilityBin> bins = reliability_bins(sure, right);
  CHECK(bins.size() == static_cast<std::size_t>(kCalibrationBins));
  CHECK(bins.back().count == 10);
}

TEST_CASE("confidence: no samples give empty bins and zero ECE") {
  const std::vector<ReliabilityBin> bins = reliability_bins({}, {}, 15);
  REQUIRE(bins.size() == 15);
  for (const ReliabilityBin& bin : bins) CHECK(bin.count == 0);
  CHECK(expected_calibration_error({}, {}) == 0.0);
}

TEST_CASE("confidence: bad input is refused with UsageError") {
  CHECK_THROWS_AS(reliability_bins({0.5f}, {true, false}), UsageError);
  CHECK_THROWS_AS(reliability_bins({1.5f}, {true}), UsageError);
  CHECK_THROWS_AS(reliability_bins({-0.1f}, {true}), UsageError);
  CHECK_THROWS_AS(reliability_bins({std::numeric_limits<float>::quiet_NaN()}, {true}), UsageError);
  CHECK_THROWS_AS(reliability_bins({0.5f}, {true}, 0), UsageError);
}
