#include "digitcam/train/architectures.hpp"

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/batch_norm.hpp"
#include "digitcam/engine/conv2d.hpp"
#include "digitcam/engine/dense.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/max_pool.hpp"

namespace digitcam::train {

namespace {

using engine::BatchNorm;
using engine::Conv2D;
using engine::Conv2DGeometry;
using engine::Dense;
using engine::Dropout;
using engine::Flatten;
using engine::MaxPool;
using engine::Network;
using engine::ReLU;

// A 3x3 convolution that keeps the spatial size, then batch norm and ReLU.
void conv_bn_relu(Network& net, int in, int out) {
  net.emplace<Conv2D>(Conv2DGeometry{in, out, 3, 3, 1, 1, 1, 1, 1, 1});
  net.emplace<BatchNorm>(out);
  net.emplace<ReLU>();
}

Network default_network(int classes) {
  Network net({1, 1, 28, 28});
  conv_bn_relu(net, 1, 24);  // 28x28
  net.emplace<MaxPool>(engine::PoolGeometry{});
  conv_bn_relu(net, 24, 48);  // 14x14
  conv_bn_relu(net, 48, 48);
  net.emplace<MaxPool>(engine::PoolGeometry{});
  conv_bn_relu(net, 48, 96);  // 7x7
  net.emplace<MaxPool>(engine::PoolGeometry{});  // 3x3
  net.emplace<Flatten>();
  net.emplace<Dense>(96 * 3 * 3, 128);
  net.emplace<BatchNorm>(128);
  net.emplace<ReLU>();
  net.emplace<Dropout>(0.3f);
  net.emplace<Dense>(128, classes);
  return net;
}

Network tutorial_network(int classes) {
  Network net({1, 1, 28, 28});
  net.emplace<Conv2D>(Conv2DGeometry{1, 32, 3, 3});  // 26x26
  net.emplace<ReLU>();
  net.emplace<MaxPool>(engine::PoolGeometry{});  // 13x13
  net.emplace<Conv2D>(Conv2DGeometry{32, 64, 3, 3});  // 11x11
  net.emplace<ReLU>();
  net.emplace<MaxPool>(engine::PoolGeometry{});  // 5x5
  net.emplace<Flatten>();
  net.emplace<Dense>(64 * 5 * 5, 128);
  net.emplace<ReLU>();
  net.emplace<Dropout>(0.5f);
  net.emplace<Dense>(128, classes);
  return net;
}

}  // namespace

engine::Network make_architecture(const std::string& name, int classes) {
  if (name == "default") return default_network(classes);
  if (name == "tutorial") return tutorial_network(classes);
  throw UsageError("unknown architecture '" + name + "'; choose default or tutorial");
}

std::vector<std::string> architecture_names() { return {"default", "tutorial"}; }

}  // namespace digitcam::train
