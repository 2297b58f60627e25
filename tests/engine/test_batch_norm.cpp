#include <doctest/doctest.h>

#include <cmath>

#include "digitcam/engine/batch_norm.hpp"
#include "digitcam/engine/error.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

TEST_CASE("batch_norm: training output has zero mean and unit variance per channel") {
  BatchNorm bn(3);
  bn.set_mode(Mode::training);
  Tensor x({4, 3, 5, 5}), y;
  test::fill_uniform(x, 21, -2.0f, 5.0f);
  bn.forward(x, y);
  for (int c = 0; c < 3; ++c) {
    double sum = 0, squares = 0;
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 25; ++i) {
        const double v = y.item(n)[c * 25 + i];
        sum += v;
        squares += v * v;
      }
    CHECK(sum / 100 == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(squares / 100 == doctest::Approx(1.0).epsilon(1e-3));
  }
  // Running statistics moved 10% toward the batch's.
  CHECK(bn.running_mean().data()[0] != 0.0f);
  CHECK(bn.running_var().data()[0] != 1.0f);
}

TEST_CASE("batch_norm: inference uses the running statistics") {
  BatchNorm bn(2, 1e-5f);
  bn.running_mean().data()[0] = 1.0f;
  bn.running_var().data()[0] = 4.0f;
  bn.gamma().data()[0] = 3.0f;
  bn.beta().data()[0] = 0.5f;
  Tensor x({1, 2, 1, 1}), y;
  x.data()[0] = 5.0f;
  bn.forward(x, y);
  CHECK(y.data()[0] == doctest::Approx(3.0f * (5.0f - 1.0f) / 2.0f + 0.5f).epsilon(1e-4));
}

TEST_CASE("batch_norm: backward matches finite differences in training and inference") {
  for (Mode mode : {Mode::training, Mode::inference}) {
    BatchNorm bn(3);
    bn.set_mode(mode);
    test::fill_uniform(bn.gamma(), 30, 0.5f, 1.5f);
    test::fill_uniform(bn.beta(), 31);
    Tensor x({3, 3, 4, 4});
    test::fill_uniform(x, 32, -1.0f, 2.0f);
    const auto report = test::check_gradients(bn, x, 33, 1e-2f);
    CHECK_MESSAGE(report.input_error < 5e-3, "seed 33, training " << (mode == Mode::training));
    CHECK_MESSAGE(report.param_error < 5e-3, "seed 33, training " << (mode == Mode::training));
  }
}

TEST_CASE("batch_norm: after a dense layer it normalises [N, C, 1, 1]") {
  BatchNorm bn(4);
  bn.set_mode(Mode::training);
  Tensor x({8, 4, 1, 1});
  test::fill_uniform(x, 40);
  const auto report = test::check_gradients(bn, x, 40, 1e-2f);
  CHECK(report.input_error < 5e-3);
  Tensor wrong({2, 5, 1, 1}), y;
  CHECK_THROWS_AS(bn.forward(wrong, y), ShapeError);
}
