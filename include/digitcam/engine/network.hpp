#pragma once
// A chain of layers. The network owns one activation tensor per layer and two gradient buffers,
// so after the first batch of a given size neither forward nor backward allocates. In inference
// it runs some layers inside others, with the same values bit for bit: a ReLU before a MaxPool
// in the pool, a BatchNorm and ReLU after a Conv2D or Dense in that layer's output pass.

#include <memory>
#include <span>
#include <vector>

#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

class Network {
 public:
  Network(Network&&) = default;
  Network& operator=(Network&&) = default;

  // The shape of one input item; n is ignored (the batch size comes with each call).
  explicit Network(Shape input_item = {1, 1, 28, 28});

  template <class L, class... Args>
  L& emplace(Args&&... args) {
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *layer;
    add(std::move(layer));
    return ref;
  }
  void add(std::unique_ptr<Layer> layer);  // throws ShapeError when it does not fit the chain

  // x [N, C, H, W] matching input_item; returns the last layer's output [N, classes, 1, 1].
  const Tensor& forward(const Tensor& x);
  // dy is d(loss)/d(output of the last forward); fills every parameter gradient (adding).
  void backward(const Tensor& dy);

  void set_mode(Mode mode);
  void set_parameters_fixed(bool fixed);  // Layer::set_parameters_fixed for every layer
  void initialize(std::uint64_t seed);    // each layer gets its own seed derived from this one
  void zero_gradients();
  std::vector<Param> params();
  std::vector<Param> buffers();
  std::size_t parameter_count();

  const Shape& input_item() const { return input_item_; }
  Shape output_shape(int batch) const;
  int classes() const { return output_shape(1).c; }
  std::span<const std::unique_ptr<Layer>> layers() const { return layers_; }
  // A one-line description per layer: "Conv2D [N, 1, 28, 28] -> [N, 32, 28, 28]".
  std::string summary() const;

 private:
  Shape input_item_;
  std::vector<std::unique_ptr<Layer>> layers_;
  // Per layer: a ReLU folded into the MaxPool after it (MaxPool::fold_relu_before), skipped by
  // forward and backward; it stays in layers() and in the exported graph.
  std::vector<char> folded_;
  // Per layer, in inference: the BatchNorm and ReLU after it that it applies as it writes its
  // output (Layer::forward_then), those layers then skipped. Filled by take_epilogue.
  std::vector<ChannelEpilogue> epilogues_;
  bool fused_forward_ = false;  // the last forward skipped layers this way: no backward after it
  std::vector<Param> params_;   // gathered as layers are added, so training steps do not allocate
  std::vector<Tensor> activations_;
  Tensor gradient_a_, gradient_b_;
  const Tensor* input_ = nullptr;

  // Fills epilogues_[i] with what layer i can take over from the layers after it in this
  // forward; returns how many it takes (0: none, layer i runs a plain forward).
  std::size_t take_epilogue(std::size_t i);
};

}  // namespace digitcam::engine
