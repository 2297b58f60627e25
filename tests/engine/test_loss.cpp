#include <doctest/doctest.h>

#include <cmath>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/loss.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

TEST_CASE("cross-entropy: hand-computed loss for uniform logits") {
  SoftmaxCrossEntropy loss;
  Tensor logits({2, 4, 1, 1});
  const int labels[] = {1, 3};
  CHECK(loss.forward(logits, labels) == doctest::Approx(std::log(4.0f)));
  Tensor d;
  loss.backward(d);
  CHECK(d.at(0, 1, 0, 0) == doctest::Approx((0.25f - 1.0f) / 2.0f));
  CHECK(d.at(0, 0, 0, 0) == doctest::Approx(0.25f / 2.0f));
}

TEST_CASE("cross-entropy: gradient matches finite differences, with label smoothing too") {
  for (float smoothing : {0.0f, 0.1f}) {
    SoftmaxCrossEntropy loss(smoothing);
    Tensor logits({3, 5, 1, 1});
    test::fill_uniform(logits, 8, -4.0f, 4.0f);
    const int labels[] = {0, 4, 2};
    loss.forward(logits, labels);
    Tensor d;
    loss.backward(d);
    constexpr float step = 1e-2f;
    for (std::size_t i = 0; i < logits.size(); ++i) {
      const float saved = logits.data()[i];
      logits.data()[i] = saved + step;
      const double up = loss.forward(logits, labels);
      logits.data()[i] = saved - step;
      const double down = loss.forward(logits, labels);
      logits.data()[i] = saved;
      CHECK_MESSAGE(d.data()[i] == doctest::Approx((up - down) / (2 * step)).epsilon(2e-3),
                    "smoothing " << smoothing << " element " << i);
    }
  }
}

TEST_CASE("cross-entropy: a label outside the classes is refused") {
  SoftmaxCrossEntropy loss;
  Tensor logits({1, 10, 1, 1});
  const int labels[] = {10};
  CHECK_THROWS_AS(loss.forward(logits, labels), ShapeError);
  const int two[] = {1, 2};
  CHECK_THROWS_AS(loss.forward(logits, two), ShapeError);
}

TEST_CASE("softmax_rows: stable for huge logits") {
  Tensor logits({1, 3, 1, 1}), p;
  logits.data()[0] = 1000.0f;
  logits.data()[1] = 999.0f;
  logits.data()[2] = -1000.0f;
  softmax_rows(logits, p);
  CHECK(std::isfinite(p.data()[0]));
  CHECK(p.data()[0] == doctest::Approx(1.0f / (1.0f + std::exp(-1.0f))));
}
