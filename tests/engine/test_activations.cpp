#include <doctest/doctest.h>

#include <cmath>

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/error.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

namespace {

// Values kept away from 0 so ReLU's kink never sits inside a finite-difference step.
Tensor away_from_zero(Shape s, std::uint64_t seed) {
  Tensor x(s);
  test::fill_uniform(x, seed, 0.1f, 1.0f);
  for (std::size_t i = 0; i < x.size(); i += 2) x.data()[i] = -x.data()[i];
  return x;
}

}  // namespace

TEST_CASE("relu: hand-computed values and gradient") {
  Tensor x({1, 1, 1, 4});
  const float in[] = {-2.0f, -0.5f, 0.5f, 3.0f};
  std::copy(in, in + 4, x.data());
  ReLU relu;
  relu.set_mode(Mode::training);
  Tensor y, dx;
  relu.forward(x, y);
  CHECK(y.data()[0] == 0.0f);
  CHECK(y.data()[1] == 0.0f);
  CHECK(y.data()[2] == 0.5f);
  CHECK(y.data()[3] == 3.0f);
  Tensor dy({1, 1, 1, 4});
  dy.fill(1.0f);
  relu.backward(dy, dx);
  CHECK(dx.data()[0] == 0.0f);
  CHECK(dx.data()[3] == 1.0f);
}

TEST_CASE("relu: backward matches finite differences") {
  ReLU relu;
  const auto report = test::check_gradients(relu, away_from_zero({2, 3, 4, 5}, 11), 11);
  CHECK_MESSAGE(report.input_error < 1e-3, "seed 11, shape [2,3,4,5]");
}

TEST_CASE("flatten: keeps values and reshapes to [N, CHW, 1, 1]") {
  Flatten flatten;
  Tensor x({2, 3, 4, 5});
  test::fill_uniform(x, 3);
  Tensor y;
  flatten.forward(x, y);
  CHECK(y.shape() == Shape{2, 60, 1, 1});
  CHECK(y.data()[77] == x.data()[77]);
  const auto report = test::check_gradients(flatten, x, 3);
  CHECK(report.input_error < 1e-3);
}

TEST_CASE("dropout: identity at inference, scaled mask in training, reproducible for a seed") {
  Tensor x({4, 8, 8, 8});
  x.fill(1.0f);
  Dropout a(0.25f, 7), b(0.25f, 7);
  Tensor ya, yb;
  a.forward(x, ya);
  CHECK(ya.data()[5] == 1.0f);

  a.set_mode(Mode::training);
  b.set_mode(Mode::training);
  a.forward(x, ya);
  b.forward(x, yb);
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < ya.size(); ++i) {
    REQUIRE(ya.data()[i] == yb.data()[i]);
    if (ya.data()[i] == 0.0f) {
      ++zeros;
    } else {
      CHECK(ya.data()[i] == doctest::Approx(1.0f / 0.75f));
    }
  }
  const double dropped = static_cast<double>(zeros) / static_cast<double>(ya.size());
  CHECK_MESSAGE(std::abs(dropped - 0.25) < 0.03, "dropped fraction " << dropped);

  // Backward uses the same mask as forward.
  Tensor dy(x.shape()), dx;
  dy.fill(2.0f);
  a.backward(dy, dx);
  for (std::size_t i = 0; i < dx.size(); ++i) {
    REQUIRE(dx.data()[i] == doctest::Approx(2.0f * ya.data()[i]));
  }
  // The next call draws a new mask.
  Tensor y2;
  a.forward(x, y2);
  bool differs = false;
  for (std::size_t i = 0; i < y2.size() && !differs; ++i) differs = y2.data()[i] != ya.data()[i];
  CHECK(differs);
}

TEST_CASE("dropout: a rate outside [0, 1) is refused") {
  CHECK_THROWS_AS(Dropout(1.0f), ShapeError);
  CHECK_THROWS_AS(Dropout(-0.1f), ShapeError);
}

TEST_CASE("softmax: rows sum to one and backward matches finite differences") {
  Softmax softmax;
  Tensor x({3, 10, 1, 1});
  test::fill_uniform(x, 5, -3.0f, 3.0f);
  Tensor y;
  softmax.forward(x, y);
  for (int n = 0; n < 3; ++n) {
    float sum = 0;
    for (int k = 0; k < 10; ++k) sum += y.item(n)[k];
    CHECK(sum == doctest::Approx(1.0f));
  }
  const auto report = test::check_gradients(softmax, x, 5, 1e-2f);
  CHECK_MESSAGE(report.input_error < 2e-3, "seed 5");
}

TEST_CASE("transpose: NHWC to NCHW moves every element where ONNX says") {
  Transpose4D to_nchw({0, 3, 1, 2});
  Tensor x({2, 3, 4, 5});  // read as N=2, H=3, W=4, C=5
  test::fill_uniform(x, 9);
  Tensor y;
  to_nchw.forward(x, y);
  REQUIRE(y.shape() == Shape{2, 5, 3, 4});
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 5; ++c)
      for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 4; ++w) REQUIRE(y.at(n, c, h, w) == x.at(n, h, w, c));
  const auto report = test::check_gradients(to_nchw, x, 9);
  CHECK(report.input_error < 1e-3);
  CHECK_THROWS_AS(Transpose4D({1, 0, 2, 3}), ShapeError);
  CHECK_THROWS_AS(Transpose4D({0, 1, 1, 3}), ShapeError);
}
