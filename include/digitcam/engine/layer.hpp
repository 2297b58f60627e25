#pragma once
// The contract every layer keeps (see STYLE.md, "A layer"):
// - forward(x, y) resizes and fills y, and keeps what backward needs (a pointer to x, masks,
//   column buffers). x must stay alive and unchanged until backward; the Network guarantees it.
// - backward(dy, dx) overwrites dx (same shape as the last x) and ADDS into the parameter
//   gradients; the trainer zeroes them before each batch. When input_gradient() is false the
//   layer skips dx entirely (the first layer of a network has nobody to hand it to).
// - mode() selects training behaviour (batch statistics, dropout) or inference.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "digitcam/engine/epilogue.hpp"
#include "digitcam/engine/tensor.hpp"

namespace digitcam::engine {

enum class Mode { inference, training };

// A trainable tensor and its gradient. decay says whether weight decay applies (weights yes,
// biases and batch-norm scales no).
struct Param {
  std::string name;
  Tensor* value = nullptr;
  Tensor* grad = nullptr;
  bool decay = true;
};

class Layer {
 public:
  virtual ~Layer() = default;

  virtual std::string_view kind() const = 0;
  // Shape of y for an input of shape x; throws ShapeError when x does not fit this layer.
  virtual Shape output_shape(const Shape& x) const = 0;
  virtual void forward(const Tensor& x, Tensor& y) = 0;
  virtual void backward(const Tensor& dy, Tensor& dx) = 0;
  virtual std::vector<Param> params() { return {}; }
  // Tensors that are state but not trained (batch norm's running statistics).
  virtual std::vector<Param> buffers() { return {}; }
  // Fresh random weights, reproducible for a seed.
  virtual void initialize(std::uint64_t /*seed*/) {}

  // Inference: forward, then `after` applied to each channel of y (the BatchNorm and ReLU
  // that follow; see ChannelEpilogue). This does it in a pass of its own; a layer that applies
  // it as it writes its output overrides it. The Network hands epilogues only to layers whose
  // accepts_epilogue() is true: those where that saves passes.
  virtual bool accepts_epilogue() const { return false; }
  virtual void forward_then(const Tensor& x, Tensor& y, const ChannelEpilogue& after);

  void set_mode(Mode mode) { mode_ = mode; }
  Mode mode() const { return mode_; }
  // A promise that the parameters will not change until it is withdrawn: inference may then
  // keep what it derives from them (Winograd's transformed weights) without checking them on
  // every forward. A model loaded for classifying makes it; training must not.
  virtual void set_parameters_fixed(bool fixed) { parameters_fixed_ = fixed; }
  bool parameters_fixed() const { return parameters_fixed_; }
  void set_input_gradient(bool needed) { input_gradient_ = needed; }
  bool input_gradient() const { return input_gradient_; }

 protected:
  Mode mode_ = Mode::inference;
  bool input_gradient_ = true;
  bool parameters_fixed_ = false;
};

}  // namespace digitcam::engine
