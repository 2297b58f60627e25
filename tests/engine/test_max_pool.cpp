#include <doctest/doctest.h>

#include <initializer_list>
#include <limits>

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/max_pool.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

namespace {

// Distinct values spaced further apart than the finite-difference step, so no two elements of
// a window swap places while a gradient is probed (max-pool's kink).
Tensor distinct_values(Shape s, std::uint64_t seed) {
  Tensor x(s);
  std::vector<float> values(x.size());
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.05f * static_cast<float>(i);
  std::mt19937_64 rng(seed);
  std::shuffle(values.begin(), values.end(), rng);
  std::copy(values.begin(), values.end(), x.data());
  return x;
}

void require_bitwise_equal(const Tensor& got, const Tensor& expected, const char* pass) {
  REQUIRE(got.shape() == expected.shape());
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE_MESSAGE(got.data()[i] == expected.data()[i], pass << " element " << i);
  }
}

}  // namespace

TEST_CASE("max_pool: hand-computed 2x2 stride 2 case") {
  Tensor x({1, 1, 4, 4});
  for (int i = 0; i < 16; ++i) x.data()[i] = static_cast<float>((i * 7) % 16);
  // rows: 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9
  MaxPool pool({});
  Tensor y;
  pool.forward(x, y);
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.data()[0] == 12.0f);
  CHECK(y.data()[1] == 14.0f);
  CHECK(y.data()[2] == 15.0f);
  CHECK(y.data()[3] == 13.0f);
}

TEST_CASE("max_pool: fast path equals the reference on odd shapes, strides and pads") {
  const PoolGeometry cases[] = {{2, 2, 2, 2, 0, 0, 0, 0},
                                {3, 3, 2, 2, 1, 1, 1, 1},
                                {3, 2, 1, 2, 0, 1, 2, 0},
                                {2, 3, 3, 1, 1, 0, 0, 2}};
  std::uint64_t seed = 1;
  for (const auto& g : cases) {
    // Inference takes a shortcut for plain 2x2 windows; training keeps the argmax path.
    for (Mode mode : {Mode::inference, Mode::training}) {
      Tensor x({3, 2, 7, 9});
      test::fill_uniform(x, seed);
      MaxPool pool(g);
      pool.set_mode(mode);
      Tensor fast, slow;
      pool.forward(x, fast);
      max_pool_forward_reference(g, x, slow);
      REQUIRE(fast.shape() == slow.shape());
      for (std::size_t i = 0; i < fast.size(); ++i) {
        REQUIRE_MESSAGE(fast.data()[i] == slow.data()[i],
                        "seed " << seed << " mode " << static_cast<int>(mode) << " element " << i);
      }
    }
    ++seed;
  }
}

TEST_CASE("max_pool: backward matches finite differences, overlapping windows included") {
  for (const PoolGeometry g : {PoolGeometry{}, PoolGeometry{3, 3, 2, 2, 1, 1, 1, 1}}) {
    MaxPool pool(g);
    pool.set_mode(Mode::training);
    const auto report = test::check_gradients(pool, distinct_values({2, 3, 6, 7}, 4), 4, 1e-2f);
    CHECK_MESSAGE(report.input_error < 1e-3, "kernel " << g.kernel_h << " seed 4");
  }
}

TEST_CASE("max_pool: training sends a tied window's gradient to its first maximum") {
  // Windows (row-major): a tie of 3s, four equal values, and -inf everywhere: the gradient goes
  // to the first of the largest values, as the general path and the reference loops choose.
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x({1, 1, 2, 6});
  const float values[] = {1, 3, 5, 5, -inf, -inf, 3, 2, 5, 5, -inf, -inf};
  std::copy(std::begin(values), std::end(values), x.data());
  MaxPool pool({});
  pool.set_mode(Mode::training);
  Tensor y, dx;
  pool.forward(x, y);
  REQUIRE(y.shape() == Shape{1, 1, 1, 3});
  CHECK(y.data()[0] == 3.0f);
  CHECK(y.data()[1] == 5.0f);
  CHECK(y.data()[2] == -inf);
  Tensor dy({1, 1, 1, 3});
  dy.fill(1.0f);
  pool.backward(dy, dx);
  const float expected[] = {0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 12; ++i) CHECK_MESSAGE(dx.data()[i] == expected[i], "element " << i);
}

TEST_CASE("max_pool: an input smaller than the window is a shape error") {
  MaxPool pool({3, 3, 1, 1, 0, 0, 0, 0});
  Tensor x({1, 1, 2, 2}), y;
  CHECK_THROWS_AS(pool.forward(x, y), ShapeError);
  CHECK_THROWS_AS(MaxPool({0, 2, 2, 2, 0, 0, 0, 0}), ShapeError);
}

TEST_CASE("max_pool: with the ReLU before it folded in, it is bit for bit ReLU then MaxPool") {
  const PoolGeometry cases[] = {PoolGeometry{}, PoolGeometry{3, 3, 2, 2, 1, 1, 1, 1}};
  std::uint64_t seed = 11;
  for (const auto& g : cases) {
    for (Mode mode : {Mode::inference, Mode::training}) {
      // Values around 0, with whole windows below it and exact zeros, where the ReLU decides.
      Tensor x({2, 3, 8, 9});
      test::fill_uniform(x, seed++);
      for (std::size_t i = 0; i < x.size(); ++i) {
        x.data()[i] = i % 7 == 0 ? 0.0f : x.data()[i] - (i % 36 < 12 ? 2.0f : 0.0f);
      }
      ReLU relu;
      MaxPool pool(g), folded(g);
      folded.fold_relu_before(true);
      for (Layer* layer : std::initializer_list<Layer*>{&relu, &pool, &folded}) {
        layer->set_mode(mode);
      }
      Tensor relu_out, expected, got;
      relu.forward(x, relu_out);
      pool.forward(relu_out, expected);
      folded.forward(x, got);
      require_bitwise_equal(got, expected, "forward");
      if (mode != Mode::training) continue;
      Tensor dy(expected.shape());
      test::fill_uniform(dy, seed++);
      Tensor pool_dx, expected_dx, got_dx;
      pool.backward(dy, pool_dx);
      relu.backward(pool_dx, expected_dx);
      folded.backward(dy, got_dx);
      require_bitwise_equal(got_dx, expected_dx, "backward");
    }
  }
}
