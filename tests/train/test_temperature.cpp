#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/temperature.hpp"

using namespace digitcam;
using namespace digitcam::train;

TEST_CASE("temperature: mean_nll of a hand-computed case") {
  // Two classes, logits (0, ln 3): softmax (1/4, 3/4). Label 1: -ln 0.75; at T = 2 the logits
  // halve: softmax (1/(1+sqrt 3), sqrt 3/(1+sqrt 3)).
  const std::vector<float> logits = {0.0f, static_cast<float>(std::log(3.0))};
  CHECK(mean_nll(logits, 2, {1}, 1.0) == doctest::Approx(-std::log(0.75)));
  CHECK(mean_nll(logits, 2, {1}, 2.0) ==
        doctest::Approx(-std::log(std::sqrt(3.0) / (1 + std::sqrt(3.0)))));
  CHECK_THROWS_AS(mean_nll(logits, 2, {2}, 1.0), UsageError);
  CHECK_THROWS_AS(mean_nll(logits, 2, {1}, 0.0), UsageError);
  CHECK_THROWS_AS(mean_nll(logits, 3, {1}, 1.0), UsageError);
}

TEST_CASE("temperature: fitting recovers the temperature the labels were drawn at") {
  // Labels drawn from softmax(z / 2.5) of random logits z: the fitted T must come out near 2.5.
  std::mt19937_64 random(11);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  constexpr int classes = 11, rows = 20000;
  constexpr double truth = 2.5;
  std::vector<float> logits;
  std::vector<std::uint8_t> labels;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int i = 0; i < rows; ++i) {
    std::vector<double> p(classes);
    double sum = 0;
    for (int j = 0; j < classes; ++j) {
      logits.push_back(normal(random));
      sum += p[static_cast<std::size_t>(j)] = std::exp(logits.back() / truth);
    }
    double u = uniform(random) * sum;
    int label = 0;
    while (label < classes - 1 && (u -= p[static_cast<std::size_t>(label)]) > 0) ++label;
    labels.push_back(static_cast<std::uint8_t>(label));
  }
  const double fitted = fit_temperature(logits, classes, labels);
  CHECK_MESSAGE(std::abs(fitted - truth) < 0.1, "fitted " << fitted << " (seed 11)");
  CHECK(mean_nll(logits, classes, labels, fitted) <= mean_nll(logits, classes, labels, 1.0));
  CHECK(fit_temperature({}, classes, {}) == 1.0);
}

TEST_CASE("temperature: top_one and digit_confidence follow the temperature") {
  // Row 0: a confident "3"; row 1: "not a digit" (class 10) wins.
  std::vector<float> logits(22, 0.0f);
  logits[3] = 5.0f;
  logits[11 + 10] = 5.0f;
  const TopOne sharp = top_one(logits, 11, {3, 4}, 1.0);
  const TopOne soft = top_one(logits, 11, {3, 4}, 4.0);
  CHECK(sharp.correct == std::vector<bool>{true, false});
  CHECK(sharp.confidence[0] == doctest::Approx(std::exp(5.0) / (std::exp(5.0) + 10)));
  CHECK(soft.confidence[0] < sharp.confidence[0]);
  const std::vector<float> digits = digit_confidence(logits, 11, 1.0);
  CHECK(digits[0] == doctest::Approx(sharp.confidence[0]));
  CHECK(digits[1] == 0.0f);  // the model said "not a digit": no threshold keeps it
}

TEST_CASE("temperature: threshold_keeping keeps the stated share") {
  std::vector<float> c;
  for (int i = 1; i <= 100; ++i) c.push_back(static_cast<float>(i) / 100.0f);
  CHECK(threshold_keeping(c, 0.99) == doctest::Approx(0.02f));  // 0.02 .. 1.00: 99 values
  CHECK(threshold_keeping(c, 1.0) == doctest::Approx(0.01f));
  CHECK(threshold_keeping(c, 0.5) == doctest::Approx(0.51f));
  CHECK(threshold_keeping({}, 0.99) == 0.0f);
  CHECK_THROWS_AS(threshold_keeping(c, 0.0), UsageError);
}
