#include "digitcam/engine/network.hpp"

#include <sstream>

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/batch_norm.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/max_pool.hpp"

namespace digitcam::engine {

namespace {

// Each layer's seed: a splitmix64 step away from the network's, so layers differ but repeat.
std::uint64_t layer_seed(std::uint64_t seed, std::size_t index) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Network::Network(Shape input_item) : input_item_(input_item) {
  input_item_.n = 1;
}

void Network::add(std::unique_ptr<Layer> layer) {
  Shape in = output_shape(1);
  (void)layer->output_shape(in);  // throws when the layer does not fit what comes before
  layer->set_input_gradient(!layers_.empty());
  // A ReLU's output read only by the MaxPool after it: the pool applies it to its four times
  // smaller output instead (same values, same gradients), saving a pass over the larger tensor
  // each way.
  auto* pool = dynamic_cast<MaxPool*>(layer.get());
  if (pool != nullptr && !layers_.empty() && dynamic_cast<ReLU*>(layers_.back().get()) != nullptr) {
    pool->fold_relu_before(true);
    pool->set_input_gradient(layers_.back()->input_gradient());
    folded_.back() = 1;
  }
  layers_.push_back(std::move(layer));
  folded_.push_back(0);
  activations_.resize(layers_.size());
  epilogues_.resize(layers_.size());
  const std::size_t index = layers_.size() - 1;
  for (auto& p : layers_.back()->params()) {
    p.name = std::to_string(index) + "." + std::string(layers_.back()->kind()) + "." + p.name;
    params_.push_back(p);
  }
}

Shape Network::output_shape(int batch) const {
  Shape s = input_item_;
  s.n = batch;
  for (const auto& layer : layers_) s = layer->output_shape(s);
  return s;
}

const Tensor& Network::forward(const Tensor& x) {
  if (layers_.empty()) throw ShapeError("network: no layers");
  const Shape& s = x.shape();
  if (s.c != input_item_.c || s.h != input_item_.h || s.w != input_item_.w) {
    Shape expected = input_item_;
    expected.n = s.n;
    throw ShapeError("network: input " + s.str() + " does not match the expected " +
                     expected.str());
  }
  input_ = &x;
  fused_forward_ = false;
  const Tensor* in = &x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (folded_[i]) continue;
    const std::size_t taken = take_epilogue(i);
    if (taken > 0) {
      layers_[i]->forward_then(*in, activations_[i], epilogues_[i]);
      fused_forward_ = true;
    } else {
      layers_[i]->forward(*in, activations_[i]);
    }
    in = &activations_[i];
    i += taken;
  }
  return *in;
}

std::size_t Network::take_epilogue(std::size_t i) {
  if (layers_[i]->mode() != Mode::inference || !layers_[i]->accepts_epilogue()) return 0;
  // A ReLU folded into the MaxPool after it is left to the pool.
  const auto inference_layer = [&](std::size_t j) -> const Layer* {
    const bool usable = j < layers_.size() && !folded_[j] && layers_[j]->mode() == Mode::inference;
    return usable ? layers_[j].get() : nullptr;
  };
  ChannelEpilogue& after = epilogues_[i];
  after.scale.clear();
  after.shift.clear();
  after.relu = false;
  std::size_t next = i + 1;
  if (const auto* norm = dynamic_cast<const BatchNorm*>(inference_layer(next))) {
    norm->inference_affine(after.scale, after.shift);
    ++next;
  }
  if (dynamic_cast<const ReLU*>(inference_layer(next)) != nullptr) {
    after.relu = true;
    ++next;
  }
  return next - i - 1;
}

void Network::backward(const Tensor& dy) {
  if (input_ == nullptr) throw ShapeError("network: backward needs a forward pass first");
  if (fused_forward_) {
    throw ShapeError(
        "network: backward after an inference forward, which skips the BatchNorm and ReLU layers "
        "it fuses; run the forward pass in training mode");
  }
  // Ping-pong between two gradient buffers: each layer reads one and writes the other.
  const Tensor* upstream = &dy;
  Tensor* buffers[2] = {&gradient_a_, &gradient_b_};
  std::size_t next = 0;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    if (folded_[i]) continue;
    Tensor* dx = buffers[next];
    next ^= 1;
    layers_[i]->backward(*upstream, *dx);
    upstream = dx;
  }
}

void Network::set_mode(Mode mode) {
  for (auto& layer : layers_) layer->set_mode(mode);
}

void Network::set_parameters_fixed(bool fixed) {
  for (auto& layer : layers_) layer->set_parameters_fixed(fixed);
}

void Network::initialize(std::uint64_t seed) {
  for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->initialize(layer_seed(seed, i));
}

void Network::zero_gradients() {
  for (auto& p : params_) p.grad->zero();
}

std::vector<Param> Network::params() {
  return params_;
}

std::vector<Param> Network::buffers() {
  std::vector<Param> all;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (auto& p : layers_[i]->buffers()) {
      p.name = std::to_string(i) + "." + std::string(layers_[i]->kind()) + "." + p.name;
      all.push_back(p);
    }
  }
  return all;
}

std::size_t Network::parameter_count() {
  std::size_t count = 0;
  for (const auto& p : params()) count += p.value->size();
  return count;
}

std::string Network::summary() const {
  std::ostringstream out;
  Shape s = input_item_;
  const auto dims = [](const Shape& x) {
    return "[N, " + std::to_string(x.c) + ", " + std::to_string(x.h) + ", " + std::to_string(x.w) +
           "]";
  };
  for (const auto& layer : layers_) {
    const Shape next = layer->output_shape(s);
    out << layer->kind() << ' ' << dims(s) << " -> " << dims(next) << '\n';
    s = next;
  }
  return out.str();
}

}  // namespace digitcam::engine
