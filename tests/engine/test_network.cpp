#include <doctest/doctest.h>

#include <vector>

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/batch_norm.hpp"
#include "digitcam/engine/conv2d.hpp"
#include "digitcam/engine/dense.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/loss.hpp"
#include "digitcam/engine/max_pool.hpp"
#include "digitcam/engine/network.hpp"
#include "digitcam/engine/parallel.hpp"
#include "support/gradient_check.hpp"

using namespace digitcam;
using namespace digitcam::engine;

namespace {

// Conv -> BN -> ReLU -> MaxPool -> Flatten -> Dense -> BN -> ReLU -> Dense: every trained layer.
Network tiny_network() {
  Network net({1, 1, 8, 8});
  net.emplace<Conv2D>(Conv2DGeometry{1, 3, 3, 3, 1, 1, 1, 1, 1, 1});
  net.emplace<BatchNorm>(3);
  net.emplace<ReLU>();
  net.emplace<MaxPool>(PoolGeometry{});
  net.emplace<Flatten>();
  net.emplace<Dense>(48, 6);
  net.emplace<BatchNorm>(6);
  net.emplace<ReLU>();
  net.emplace<Dense>(6, 4);
  net.initialize(17);
  return net;
}

double loss_of(Network& net, const Tensor& x, std::span<const int> labels) {
  SoftmaxCrossEntropy loss;
  return loss.forward(net.forward(x), labels);
}

}  // namespace

TEST_CASE("network: whole-net gradient matches finite differences end to end") {
  Network net = tiny_network();
  net.set_mode(Mode::training);
  Tensor x({4, 1, 8, 8});
  test::fill_uniform(x, 18, 0.0f, 1.0f);
  const int labels[] = {0, 3, 1, 2};
  SoftmaxCrossEntropy loss;
  loss.forward(net.forward(x), labels);
  Tensor dlogits;
  loss.backward(dlogits);
  net.zero_gradients();
  net.backward(dlogits);

  constexpr float step = 3e-3f;
  std::mt19937_64 rng(19);
  for (auto& p : net.params()) {
    const Tensor analytic = *p.grad;
    for (int probe = 0; probe < 6; ++probe) {
      const std::size_t k = rng() % p.value->size();
      const float saved = p.value->data()[k];
      p.value->data()[k] = saved + step;
      const double up = loss_of(net, x, labels);
      p.value->data()[k] = saved - step;
      const double down = loss_of(net, x, labels);
      p.value->data()[k] = saved;
      const double numeric = (up - down) / (2.0 * step);
      const double error = std::abs(numeric - analytic.data()[k]) /
                           std::max({1e-2, std::abs(numeric), std::abs(1.0 * analytic.data()[k])});
      CHECK_MESSAGE(error < 5e-2, p.name << "[" << k << "] analytic " << analytic.data()[k]
                                         << " numeric " << numeric << " (seed 17/18/19)");
    }
  }
}

TEST_CASE("network: a layer that does not fit the chain is refused when added") {
  Network net({1, 1, 28, 28});
  net.emplace<Flatten>();
  CHECK_THROWS_AS(net.emplace<Dense>(100, 10), ShapeError);
  Network other({1, 1, 28, 28});
  other.emplace<Conv2D>(Conv2DGeometry{1, 4, 3, 3});
  CHECK_THROWS_AS(other.emplace<BatchNorm>(5), ShapeError);
  Tensor wrong({1, 3, 28, 28});
  CHECK_THROWS_AS(other.forward(wrong), ShapeError);
}

TEST_CASE("network: training steps are reproducible for a seed and across thread counts") {
  const auto train = [](int threads) {
    ThreadBudget budget(threads);
    Network net = tiny_network();
    net.emplace<Dropout>(0.2f);
    net.initialize(5);
    net.set_mode(Mode::training);
    Tensor x({16, 1, 8, 8});
    test::fill_uniform(x, 6, 0.0f, 1.0f);
    std::vector<int> labels(16);
    for (int i = 0; i < 16; ++i) labels[static_cast<std::size_t>(i)] = i % 4;
    SoftmaxCrossEntropy loss;
    Tensor d;
    for (int step = 0; step < 3; ++step) {
      loss.forward(net.forward(x), labels);
      loss.backward(d);
      net.zero_gradients();
      net.backward(d);
      for (auto& p : net.params()) {
        for (std::size_t i = 0; i < p.value->size(); ++i)
          p.value->data()[i] -= 0.1f * p.grad->data()[i];
      }
    }
    const Tensor& out = net.forward(x);
    return std::vector<float>(out.data(), out.data() + out.size());
  };
  const auto one = train(1);
  CHECK(one == train(1));
  CHECK(one == train(2));
}

TEST_CASE(
    "network: a ReLU folded into the MaxPool after it gives what every layer run in turn does") {
  Network net = tiny_network();
  Network by_hand = tiny_network();  // the same seed: the same weights
  net.set_mode(Mode::training);
  by_hand.set_mode(Mode::training);
  REQUIRE(net.layers()[2]->kind() == "ReLU");  // still a layer of its own, and exported as one
  Tensor x({4, 1, 8, 8});
  test::fill_uniform(x, 21);
  const Tensor& out = net.forward(x);

  const auto layers = by_hand.layers();
  std::vector<Tensor> activations(layers.size()), gradients(layers.size());
  const Tensor* in = &x;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    layers[i]->forward(*in, activations[i]);
    in = &activations[i];
  }
  REQUIRE(out.shape() == activations.back().shape());
  for (std::size_t i = 0; i < out.size(); ++i) {
    REQUIRE_MESSAGE(out.data()[i] == activations.back().data()[i], "output " << i);
  }

  Tensor dy(out.shape());
  test::fill_uniform(dy, 22);
  net.zero_gradients();
  net.backward(dy);
  by_hand.zero_gradients();
  const Tensor* upstream = &dy;
  for (std::size_t i = layers.size(); i-- > 0;) {
    layers[i]->backward(*upstream, gradients[i]);
    upstream = &gradients[i];
  }
  const auto folded_params = net.params(), hand_params = by_hand.params();
  REQUIRE(folded_params.size() == hand_params.size());
  for (std::size_t p = 0; p < folded_params.size(); ++p) {
    for (std::size_t i = 0; i < folded_params[p].grad->size(); ++i) {
      REQUIRE_MESSAGE(folded_params[p].grad->data()[i] == hand_params[p].grad->data()[i],
                      folded_params[p].name << " element " << i);
    }
  }
}

namespace {

// Conv -> BN -> ReLU -> Conv (Winograd in inference) -> BN -> ReLU -> MaxPool -> Flatten ->
// Dense -> BN -> ReLU -> Dropout -> Dense, with batch-norm statistics far from the identity.
Network fusable_network() {
  Network net({1, 1, 10, 10});
  net.emplace<Conv2D>(Conv2DGeometry{1, 8, 3, 3, 1, 1, 1, 1, 1, 1});
  net.emplace<BatchNorm>(8);
  net.emplace<ReLU>();
  net.emplace<Conv2D>(Conv2DGeometry{8, 9, 3, 3, 1, 1, 1, 1, 1, 1});
  net.emplace<BatchNorm>(9);
  net.emplace<ReLU>();
  net.emplace<MaxPool>(PoolGeometry{});
  net.emplace<Flatten>();
  net.emplace<Dense>(9 * 5 * 5, 7);
  net.emplace<BatchNorm>(7);
  net.emplace<ReLU>();
  net.emplace<Dropout>(0.5f);
  net.emplace<Dense>(7, 4);
  net.initialize(31);
  std::uint64_t seed = 40;
  for (const auto& layer : net.layers()) {
    auto* norm = dynamic_cast<BatchNorm*>(layer.get());
    if (norm == nullptr) continue;
    test::fill_uniform(norm->gamma(), ++seed);
    test::fill_uniform(norm->beta(), ++seed);
    test::fill_uniform(norm->running_mean(), ++seed);
    test::fill_uniform(norm->running_var(), ++seed);
    for (float& v : norm->running_var().values()) v = 0.1f + v * v;
  }
  return net;
}

}  // namespace

TEST_CASE(
    "network: in inference a BatchNorm and ReLU run inside the layer before them give what "
    "every layer run in turn does") {
  for (const int threads : {1, 2}) {
    for (const int batch : {1, 5}) {
      CAPTURE(threads);
      CAPTURE(batch);
      ThreadBudget budget(threads);
      Network net = fusable_network();
      net.set_mode(Mode::inference);
      Tensor x({batch, 1, 10, 10});
      test::fill_uniform(x, 23);
      const Tensor& out = net.forward(x);

      const auto layers = net.layers();
      std::vector<Tensor> activations(layers.size());
      const Tensor* in = &x;
      int negatives_cut = 0;  // the ReLUs must have had something to do
      for (std::size_t i = 0; i < layers.size(); ++i) {
        layers[i]->forward(*in, activations[i]);
        if (layers[i]->kind() == "ReLU") {
          for (const float v : in->values()) negatives_cut += v < 0.0f;
        }
        in = &activations[i];
      }
      CHECK(negatives_cut > 0);
      REQUIRE(out.shape() == activations.back().shape());
      for (std::size_t i = 0; i < out.size(); ++i) {
        REQUIRE_MESSAGE(out.data()[i] == activations.back().data()[i], "output " << i);
      }
    }
  }
}

TEST_CASE("network: backward after a fused inference forward says to run it in training mode") {
  Network net = fusable_network();
  net.set_mode(Mode::inference);
  Tensor x({2, 1, 10, 10});
  test::fill_uniform(x, 24);
  Tensor dy(net.forward(x).shape());
  CHECK_THROWS_WITH_AS(net.backward(dy), doctest::Contains("training mode"), ShapeError);
  net.set_mode(Mode::training);
  net.forward(x);
  CHECK_NOTHROW(net.backward(dy));
}
