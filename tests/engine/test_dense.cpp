#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "digitcam/engine/dense.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

namespace {

std::string describe(int in, int out, const Shape& x, std::uint64_t seed) {
  return "in " + std::to_string(in) + " out " + std::to_string(out) + " input " + x.str() +
         " seed " + std::to_string(seed);
}

Dense seeded_dense(int in, int out, std::uint64_t seed) {
  Dense dense(in, out);
  dense.initialize(seed);
  test::fill_uniform(dense.bias(), seed + 7, -0.5f, 0.5f);
  return dense;
}

}  // namespace

TEST_CASE("dense: hand-computed 3 -> 2 case over a batch of two") {
  Dense dense(3, 2);
  const float w[] = {1, 2, 3, -1, 0, 1};  // rows are output features
  std::copy(w, w + 6, dense.weight().data());
  dense.bias().data()[0] = 0.5f;
  dense.bias().data()[1] = -1.0f;
  Tensor x({2, 3, 1, 1});
  const float in[] = {1, 1, 1, 2, 0, -1};
  std::copy(in, in + 6, x.data());
  Tensor y;
  dense.forward(x, y);
  REQUIRE(y.shape() == Shape{2, 2, 1, 1});
  CHECK(y.data()[0] == 6.5f);   // 1 + 2 + 3 + 0.5
  CHECK(y.data()[1] == -1.0f);  // -1 + 0 + 1 - 1
  CHECK(y.data()[2] == -0.5f);  // 2 + 0 - 3 + 0.5
  CHECK(y.data()[3] == -4.0f);  // -2 + 0 - 1 - 1
}

TEST_CASE("dense: fast path equals the reference on odd shapes, 4-D inputs included") {
  const int cases[][5] = {// n, c, h, w (in = c*h*w), out
                          {1, 1, 1, 1, 1},  {3, 7, 1, 1, 5},     {65, 300, 1, 1, 129},
                          {2, 3, 4, 5, 10}, {64, 64, 5, 5, 128}, {1, 1600, 1, 1, 128}};
  std::uint64_t seed = 1;
  for (const auto& c : cases) {
    const Shape shape{c[0], c[1], c[2], c[3]};
    const int in = c[1] * c[2] * c[3], out = c[4];
    Dense dense = seeded_dense(in, out, seed);
    Tensor x(shape);
    test::fill_uniform(x, seed + 1);
    Tensor fast, slow;
    dense.forward(x, fast);
    dense_forward_reference(x, dense.weight(), dense.bias(), slow);
    REQUIRE_MESSAGE(fast.shape() == slow.shape(), describe(in, out, shape, seed));
    const double tolerance = 4e-6 * in + 1e-6;
    int bad = 0;
    for (std::size_t i = 0; i < fast.size(); ++i) {
      if (std::abs(fast.data()[i] - slow.data()[i]) > tolerance && bad++ < 3) {
        CHECK_MESSAGE(false, describe(in, out, shape, seed)
                                 << ": y[" << i << "] = " << fast.data()[i] << ", reference "
                                 << slow.data()[i]);
      }
    }
    CHECK_MESSAGE(bad == 0, describe(in, out, shape, seed) << ": " << bad << " elements differ");
    ++seed;
  }
}

TEST_CASE("dense: backward matches finite differences for dx, dweight and dbias") {
  // The loss is linear in any single input or weight, so a large step is exact up to rounding.
  const Shape shapes[] = {{4, 7, 1, 1}, {3, 2, 3, 2}, {1, 20, 1, 1}};
  const int outs[] = {5, 3, 9};
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t seed = 20 + static_cast<std::uint64_t>(i);
    const int in = static_cast<int>(shapes[i].item_count());
    Dense dense = seeded_dense(in, outs[i], seed);
    Tensor x(shapes[i]);
    test::fill_uniform(x, seed + 1);
    const auto report = test::check_gradients(dense, x, seed, 0.25f, 200);
    CHECK_MESSAGE(report.input_error < 1e-3, describe(in, outs[i], shapes[i], seed));
    CHECK_MESSAGE(report.param_error < 1e-3, describe(in, outs[i], shapes[i], seed));
  }
}

TEST_CASE("dense: backward adds into the parameter gradients and can skip dx") {
  Dense dense = seeded_dense(6, 4, 30);
  Tensor x({3, 6, 1, 1}), y, dx;
  test::fill_uniform(x, 31);
  dense.forward(x, y);
  Tensor dy(y.shape());
  test::fill_uniform(dy, 32);
  for (auto& p : dense.params()) p.grad->zero();
  dense.backward(dy, dx);
  CHECK(dx.shape() == x.shape());
  const Tensor once_w = *dense.params()[0].grad, once_b = *dense.params()[1].grad;
  dense.set_input_gradient(false);
  Tensor untouched({1, 1, 1, 2});
  untouched.fill(7.0f);
  dense.backward(dy, untouched);
  CHECK_MESSAGE((untouched.shape() == Shape{1, 1, 1, 2}), "seed 30: dx touched");
  for (std::size_t i = 0; i < once_w.size(); ++i) {
    REQUIRE_MESSAGE(dense.params()[0].grad->data()[i] == 2.0f * once_w.data()[i],
                    "seed 30, dweight " << i);
  }
  for (std::size_t i = 0; i < once_b.size(); ++i) {
    REQUIRE_MESSAGE(dense.params()[1].grad->data()[i] == 2.0f * once_b.data()[i],
                    "seed 30, dbias " << i);
  }
}

TEST_CASE("dense: forward and backward are bitwise identical on one and two threads") {
  Tensor x({64, 1600, 1, 1}), dy({64, 128, 1, 1});
  test::fill_uniform(x, 40);
  test::fill_uniform(dy, 41);
  Tensor y[2], dx[2], dw[2];
  for (int threads = 1; threads <= 2; ++threads) {
    ThreadBudget budget(threads);
    Dense dense = seeded_dense(1600, 128, 42);
    dense.forward(x, y[threads - 1]);
    for (auto& p : dense.params()) p.grad->zero();
    dense.backward(dy, dx[threads - 1]);
    dw[threads - 1] = *dense.params()[0].grad;
  }
  const auto same = [](const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.size(), b.data());
  };
  CHECK_MESSAGE(same(y[0], y[1]), "seed 40-42, 1600 -> 128, batch 64: y");
  CHECK_MESSAGE(same(dx[0], dx[1]), "seed 40-42, 1600 -> 128, batch 64: dx");
  CHECK_MESSAGE(same(dw[0], dw[1]), "seed 40-42, 1600 -> 128, batch 64: dweight");
}

TEST_CASE("dense: initialize draws He-uniform weights, zero bias, the same for a seed") {
  Dense a(50, 20), b(50, 20);
  a.bias().fill(3.0f);
  a.initialize(5);
  b.initialize(5);
  const float bound = std::sqrt(6.0f / 50);
  float largest = 0.0f;
  for (const float v : a.weight().values()) largest = std::max(largest, std::abs(v));
  CHECK_MESSAGE(largest <= bound, "seed 5, bound " << bound);
  CHECK_MESSAGE(largest > 0.9f * bound, "seed 5: weights do not fill the He range");
  CHECK(std::equal(a.weight().data(), a.weight().data() + a.weight().size(), b.weight().data()));
  for (const float v : a.bias().values()) CHECK(v == 0.0f);
}

TEST_CASE("dense: shapes that do not fit are shape errors naming both shapes") {
  Dense dense(12, 3);
  Tensor y, dx;
  Tensor wrong({2, 5, 1, 1});
  CHECK_THROWS_AS(dense.forward(wrong, y), ShapeError);
  try {
    dense.forward(wrong, y);
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find("Dense") != std::string::npos, message);
    CHECK_MESSAGE(message.find("[2, 5, 1, 1]") != std::string::npos, message);
    CHECK_MESSAGE(message.find("[2, 12, 1, 1]") != std::string::npos, message);
  }
  CHECK_THROWS_AS(Dense(0, 3), ShapeError);
  Tensor x({2, 3, 2, 2});
  dense.forward(x, y);
  CHECK(y.shape() == Shape{2, 3, 1, 1});
  Tensor wrong_dy({2, 4, 1, 1});
  CHECK_THROWS_AS(dense.backward(wrong_dy, dx), ShapeError);
  Dense fresh(12, 3);
  Tensor dy({2, 3, 1, 1});
  CHECK_THROWS_AS(fresh.backward(dy, dx), ShapeError);
}
