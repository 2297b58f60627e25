#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "digitcam/engine/conv2d.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

namespace {

std::string describe(const Conv2DGeometry& g, const Shape& x, std::uint64_t seed) {
  return "ic " + std::to_string(g.in_channels) + " oc " + std::to_string(g.out_channels) +
         " kernel " + std::to_string(g.kernel_h) + "x" + std::to_string(g.kernel_w) + " stride " +
         std::to_string(g.stride_h) + "x" + std::to_string(g.stride_w) + " pads t" +
         std::to_string(g.pad_top) + " l" + std::to_string(g.pad_left) + " b" +
         std::to_string(g.pad_bottom) + " r" + std::to_string(g.pad_right) + " input " + x.str() +
         " seed " + std::to_string(seed);
}

Conv2D seeded_conv(const Conv2DGeometry& g, std::uint64_t seed) {
  Conv2D conv(g);
  conv.initialize(seed);
  test::fill_uniform(conv.bias(), seed + 7, -0.5f, 0.5f);
  return conv;
}

// Every geometry feature at once: rectangular kernels, strides, asymmetric pads, 1x1 kernels,
// one input channel (the first layer) and the tutorial net's second layer.
struct ShapeCase {
  Conv2DGeometry g;
  Shape x;
};
const ShapeCase odd_cases[] = {
    {{3, 5, 3, 3, 2, 2, 1, 0, 2, 1}, {3, 3, 9, 11}},
    {{2, 7, 2, 3, 1, 2, 0, 1, 1, 0}, {3, 2, 8, 7}},
    {{4, 6, 5, 5, 3, 3, 2, 2, 2, 2}, {2, 4, 12, 10}},
    {{5, 3, 1, 1, 1, 1, 0, 0, 0, 0}, {3, 5, 6, 4}},
    {{1, 32, 3, 3, 1, 1, 0, 0, 0, 0}, {3, 1, 28, 28}},
    {{1, 24, 3, 3, 1, 1, 1, 1, 1, 1}, {3, 1, 28, 28}},
    {{32, 64, 3, 3, 1, 1, 0, 0, 0, 0}, {3, 32, 13, 13}},
    {{48, 96, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 48, 7, 7}},
    // Winograd's territory (3x3, stride 1, 8+ input channels): asymmetric and wide pads, odd
    // sizes that leave half tiles, and a batch cut into several tasks.
    {{9, 5, 3, 3, 1, 1, 0, 1, 2, 0}, {2, 9, 6, 9}},
    {{16, 7, 3, 3, 1, 1, 2, 2, 2, 2}, {5, 16, 4, 5}},
    {{8, 6, 3, 3, 1, 1, 1, 1, 1, 1}, {7, 8, 13, 13}},
    // One item: its rows of tiles are shared among the threads, in bands of unequal height.
    {{12, 10, 3, 3, 1, 1, 1, 0, 2, 1}, {1, 12, 9, 11}},
};

struct ModeCase {
  Conv2DGeometry g;
  Shape shape;
  Mode mode;
};

std::vector<ModeCase> with_both_modes(std::span<const ShapeCase> cases) {
  std::vector<ModeCase> all;
  for (const Mode mode : {Mode::inference, Mode::training}) {
    for (const auto& c : cases) all.push_back({c.g, c.x, mode});
  }
  return all;
}

}  // namespace

TEST_CASE("conv2d: hand-computed 2x2 kernel, with and without stride and padding") {
  Conv2D conv({1, 1, 2, 2});
  const float w[] = {1, 2, 3, 4};
  std::copy(w, w + 4, conv.weight().data());
  conv.bias().data()[0] = 1.0f;
  Tensor x({1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x.data()[i] = static_cast<float>(i + 1);  // 1..9 row by row
  Tensor y;
  conv.forward(x, y);
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.data()[0] == 38.0f);  // 1*1 + 2*2 + 4*3 + 5*4 + 1
  CHECK(y.data()[1] == 48.0f);
  CHECK(y.data()[2] == 68.0f);
  CHECK(y.data()[3] == 78.0f);

  Conv2D padded({1, 1, 2, 2, 2, 2, 1, 1, 1, 1});
  std::copy(w, w + 4, padded.weight().data());
  padded.bias().data()[0] = 1.0f;
  padded.forward(x, y);
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.data()[0] == 5.0f);   // only x(0,0) * w(1,1) inside the window
  CHECK(y.data()[1] == 19.0f);  // x(0,1) * w(1,0) + x(0,2) * w(1,1)
  CHECK(y.data()[2] == 37.0f);  // x(1,0) * w(0,1) + x(2,0) * w(1,1)
  CHECK(y.data()[3] == 78.0f);
}

TEST_CASE("conv2d: fast path equals the reference on odd shapes, strides and pads") {
  std::uint64_t seed = 1;
  // Inference takes Winograd where it applies; training always takes im2col (stride 1 through
  // a padded plane, other strides the general loop).
  for (const auto& [g, shape, mode] : with_both_modes(odd_cases)) {
    Conv2D conv = seeded_conv(g, seed);
    conv.set_mode(mode);
    Tensor x(shape);
    test::fill_uniform(x, seed + 1);
    Tensor fast, slow;
    conv.forward(x, fast);
    conv2d_forward_reference(g, x, conv.weight(), conv.bias(), slow);
    REQUIRE_MESSAGE(fast.shape() == slow.shape(), describe(g, shape, seed));
    // Inputs and weights are at most 1 (He bound <= sqrt(6)), so each sum of IC*KH*KW terms
    // is off by at most a few float roundings of its size.
    const double tolerance = 1e-6 * g.in_channels * g.kernel_h * g.kernel_w * 4;
    int bad = 0;
    for (std::size_t i = 0; i < fast.size(); ++i) {
      if (std::abs(fast.data()[i] - slow.data()[i]) > tolerance && bad++ < 3) {
        CHECK_MESSAGE(false, describe(g, shape, seed) << ": y[" << i << "] = " << fast.data()[i]
                                                      << ", reference " << slow.data()[i]);
      }
    }
    CHECK_MESSAGE(bad == 0, describe(g, shape, seed) << ": " << bad << " elements differ");
    ++seed;
  }
}

TEST_CASE("conv2d: inference follows weights changed after a forward pass") {
  // Winograd keeps transformed weights between calls; a write through weight() must not leave
  // it computing with the old ones.
  const Conv2DGeometry g{8, 4, 3, 3, 1, 1, 1, 1, 1, 1};
  Conv2D conv = seeded_conv(g, 50);
  Tensor x({2, 8, 7, 7});
  test::fill_uniform(x, 51);
  Tensor fast, slow;
  conv.forward(x, fast);
  test::fill_uniform(conv.weight(), 52);
  conv.forward(x, fast);
  conv2d_forward_reference(g, x, conv.weight(), conv.bias(), slow);
  REQUIRE(fast.shape() == slow.shape());
  double largest = 0.0;
  for (std::size_t i = 0; i < fast.size(); ++i) {
    largest = std::max(largest, static_cast<double>(std::abs(fast.data()[i] - slow.data()[i])));
  }
  CHECK_MESSAGE(largest < 1e-4, "seed 50-52: largest difference " << largest);
}

TEST_CASE("conv2d: backward matches finite differences for dx, dweight and dbias") {
  // The loss is linear in any single input or weight, so a large step is exact up to rounding.
  const ShapeCase cases[] = {{{2, 3, 3, 3, 2, 2, 1, 0, 2, 1}, {2, 2, 6, 7}},
                             {{3, 2, 2, 3, 1, 2, 0, 1, 1, 0}, {3, 3, 5, 5}},
                             {{1, 4, 3, 3, 1, 1, 0, 0, 0, 0}, {2, 1, 6, 6}}};
  std::uint64_t seed = 20;
  for (const auto& [g, shape] : cases) {
    Conv2D conv = seeded_conv(g, seed);
    Tensor x(shape);
    test::fill_uniform(x, seed + 1);
    const auto report = test::check_gradients(conv, x, seed, 0.25f, 200);
    CHECK_MESSAGE(report.input_error < 1e-3, describe(g, shape, seed));
    CHECK_MESSAGE(report.param_error < 1e-3, describe(g, shape, seed));
    ++seed;
  }
}

TEST_CASE("conv2d: backward adds into the parameter gradients and can skip dx") {
  const Conv2DGeometry g{2, 3, 3, 3, 1, 1, 1, 1, 1, 1};
  Conv2D conv = seeded_conv(g, 30);
  Tensor x({2, 2, 5, 6}), y, dx;
  test::fill_uniform(x, 31);
  conv.forward(x, y);
  Tensor dy(y.shape());
  test::fill_uniform(dy, 32);
  for (auto& p : conv.params()) p.grad->zero();
  conv.backward(dy, dx);
  const Tensor once_w = *conv.params()[0].grad, once_b = *conv.params()[1].grad;
  conv.set_input_gradient(false);
  Tensor untouched({1, 1, 1, 3});
  untouched.fill(7.0f);
  conv.backward(dy, untouched);
  CHECK_MESSAGE((untouched.shape() == Shape{1, 1, 1, 3}),
                "seed 30: dx touched without input_gradient");
  CHECK(untouched.data()[0] == 7.0f);
  const Tensor& twice_w = *conv.params()[0].grad;
  const Tensor& twice_b = *conv.params()[1].grad;
  for (std::size_t i = 0; i < once_w.size(); ++i) {
    REQUIRE_MESSAGE(twice_w.data()[i] == 2.0f * once_w.data()[i], "seed 30, dweight " << i);
  }
  for (std::size_t i = 0; i < once_b.size(); ++i) {
    REQUIRE_MESSAGE(twice_b.data()[i] == 2.0f * once_b.data()[i], "seed 30, dbias " << i);
  }
}

TEST_CASE("conv2d: forward and backward are bitwise identical on one and two threads") {
  const Conv2DGeometry g{32, 64, 3, 3, 1, 1, 0, 0, 0, 0};
  Tensor x({16, 32, 13, 13});
  test::fill_uniform(x, 40);
  Tensor dy({16, 64, 11, 11});
  test::fill_uniform(dy, 41);
  Tensor y[2], dx[2], dw[2], db[2];
  for (int threads = 1; threads <= 2; ++threads) {
    ThreadBudget budget(threads);
    Conv2D conv = seeded_conv(g, 42);
    conv.forward(x, y[threads - 1]);
    for (auto& p : conv.params()) p.grad->zero();
    conv.backward(dy, dx[threads - 1]);
    dw[threads - 1] = *conv.params()[0].grad;
    db[threads - 1] = *conv.params()[1].grad;
  }
  const auto same = [](const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.size(), b.data());
  };
  CHECK_MESSAGE(same(y[0], y[1]), "seed 40-42, input [16, 32, 13, 13]: y");
  CHECK_MESSAGE(same(dx[0], dx[1]), "seed 40-42, input [16, 32, 13, 13]: dx");
  CHECK_MESSAGE(same(dw[0], dw[1]), "seed 40-42, input [16, 32, 13, 13]: dweight");
  CHECK_MESSAGE(same(db[0], db[1]), "seed 40-42, input [16, 32, 13, 13]: dbias");
}

TEST_CASE(
    "conv2d: a single item shared out by tile rows or by output channels equals the same item "
    "inside a batch") {
  // Inference on one crop shares its tile rows among the threads, or its output channels on a
  // small plane; a batch gives each thread whole items. Every value must come out bit for bit
  // the same either way, on 1 and 2 threads. 14x14 is split by rows, 7x7 and 5x5 by channels
  // (9 channels: parts of 6 and 3).
  struct Case {
    Conv2DGeometry g;
    int size;
  };
  for (const Case& c :
       {Case{{48, 48, 3, 3, 1, 1, 1, 1, 1, 1}, 14}, Case{{48, 96, 3, 3, 1, 1, 1, 1, 1, 1}, 7},
        Case{{8, 9, 3, 3, 1, 1, 1, 1, 1, 1}, 5}}) {
    const int ic = c.g.in_channels;
    Tensor batch({3, ic, c.size, c.size});
    test::fill_uniform(batch, 60);
    Tensor batched;
    Conv2D conv = seeded_conv(c.g, 61);
    conv.set_mode(Mode::inference);
    conv.forward(batch, batched);
    for (int threads = 1; threads <= 2; ++threads) {
      ThreadBudget budget(threads);
      for (int item = 0; item < 3; ++item) {
        Tensor one({1, ic, c.size, c.size}), alone;
        std::copy_n(batch.item(item), one.size(), one.data());
        conv.forward(one, alone);
        CHECK_MESSAGE(std::equal(alone.data(), alone.data() + alone.size(), batched.item(item)),
                      "seed 60-61, " << ic << " -> " << c.g.out_channels << " on " << c.size << "x"
                                     << c.size << ", item " << item << " on " << threads
                                     << " threads");
      }
    }
  }
}

TEST_CASE("conv2d: initialize draws He-uniform weights, zero bias, the same for a seed") {
  const Conv2DGeometry g{8, 16, 3, 3};
  Conv2D a(g), b(g);
  a.bias().fill(3.0f);
  a.initialize(5);
  b.initialize(5);
  const float bound = std::sqrt(6.0f / (8 * 3 * 3));
  float largest = 0.0f;
  for (const float v : a.weight().values()) largest = std::max(largest, std::abs(v));
  CHECK_MESSAGE(largest <= bound, "seed 5, bound " << bound);
  CHECK_MESSAGE(largest > 0.9f * bound, "seed 5: weights do not fill the He range");
  CHECK(std::equal(a.weight().data(), a.weight().data() + a.weight().size(), b.weight().data()));
  for (const float v : a.bias().values()) CHECK(v == 0.0f);
}

TEST_CASE("conv2d: shapes that do not fit are shape errors naming both shapes") {
  Conv2D conv({3, 4, 3, 3});
  Tensor y;
  Tensor wrong_channels({2, 2, 8, 8});
  CHECK_THROWS_AS(conv.forward(wrong_channels, y), ShapeError);
  try {
    conv.forward(wrong_channels, y);
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find("Conv2D") != std::string::npos, message);
    CHECK_MESSAGE(message.find("[2, 2, 8, 8]") != std::string::npos, message);
    CHECK_MESSAGE(message.find("[2, 3, 8, 8]") != std::string::npos, message);
  }
  Tensor too_small({1, 3, 2, 8});
  CHECK_THROWS_AS(conv.forward(too_small, y), ShapeError);
  CHECK_THROWS_AS(Conv2D({0, 4, 3, 3}), ShapeError);
  CHECK_THROWS_AS(Conv2D({1, 4, 3, 3, 0, 1}), ShapeError);
  CHECK_THROWS_AS(Conv2D({1, 4, 3, 3, 1, 1, -1, 0, 0, 0}), ShapeError);

  Tensor x({1, 3, 8, 8}), dx;
  conv.forward(x, y);
  Tensor wrong_dy({1, 4, 5, 6});
  CHECK_THROWS_AS(conv.backward(wrong_dy, dx), ShapeError);
  Conv2D fresh({3, 4, 3, 3});
  Tensor dy({1, 4, 6, 6});
  CHECK_THROWS_AS(fresh.backward(dy, dx), ShapeError);
}

TEST_CASE("conv2d: weights promised fixed are checked once; a change before the promise is seen") {
  const Conv2DGeometry g{8, 8, 3, 3, 1, 1, 1, 1, 1, 1};
  Tensor x({1, 8, 6, 6});
  test::fill_uniform(x, 70);
  Conv2D conv = seeded_conv(g, 71);
  conv.set_mode(Mode::inference);
  Tensor first, y, expected;
  conv.forward(x, first);  // transforms the weights of seed 71

  // Written before the promise: seen.
  test::fill_uniform(conv.weight(), 72);
  conv.set_parameters_fixed(true);
  conv.forward(x, y);
  conv2d_forward_reference(g, x, conv.weight(), conv.bias(), expected);
  for (std::size_t i = 0; i < y.size(); ++i) {
    REQUIRE_MESSAGE(std::abs(y.data()[i] - expected.data()[i]) < 1e-4f, "seed 70-72, value " << i);
  }
  const Tensor promised = y;

  // Written while promised fixed (the promise broken): the kept transform is used, which is
  // what the promise saves.
  test::fill_uniform(conv.weight(), 73);
  conv.forward(x, y);
  CHECK(std::equal(y.data(), y.data() + y.size(), promised.data()));

  // The promise withdrawn: the weights are compared again.
  conv.set_parameters_fixed(false);
  conv.forward(x, y);
  conv2d_forward_reference(g, x, conv.weight(), conv.bias(), expected);
  for (std::size_t i = 0; i < y.size(); ++i) {
    REQUIRE_MESSAGE(std::abs(y.data()[i] - expected.data()[i]) < 1e-4f, "seed 70-73, value " << i);
  }
}

TEST_CASE(
    "conv2d: a single item inside another parallel loop, its parts run inline, gives the "
    "same values") {
  // The 7x7 layer is split by channels on 2 threads; inside a parallel_for chunk it is not split.
  ThreadBudget budget(2);
  const Conv2DGeometry g{48, 96, 3, 3, 1, 1, 1, 1, 1, 1};
  Tensor one({1, 48, 7, 7}), outside, inside;
  test::fill_uniform(one, 80);
  Conv2D conv = seeded_conv(g, 81);
  conv.set_mode(Mode::inference);
  CHECK_FALSE(inside_parallel_chunk());
  conv.forward(one, outside);
  bool nested = false;
  parallel_for(2, 1, [&](std::size_t begin, std::size_t) {
    if (begin != 0) return;
    nested = inside_parallel_chunk();
    conv.forward(one, inside);
  });
  CHECK(nested);
  REQUIRE(inside.shape() == outside.shape());
  CHECK_MESSAGE(std::equal(inside.data(), inside.data() + inside.size(), outside.data()),
                "seed 80-81, 48 -> 96 on 7x7");
}
