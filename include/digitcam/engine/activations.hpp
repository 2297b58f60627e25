#pragma once
// Shape-keeping layers without weights.
//
// ReLU:     y = max(x, 0).  cache: y.  backward: dx = dy where y > 0, else 0.
// Flatten:  [N, C, H, W] -> [N, C*H*W, 1, 1], a copy.  backward: dx = dy reshaped.
// Dropout:  training: y = x * mask / (1 - rate), mask ~ Bernoulli(1 - rate) drawn from
//           (seed, call count, index), so a run is reproducible whatever the thread count;
//           inference: y = x.  backward: dx = dy * mask / (1 - rate).
// Softmax:  over C (axis 1) of [N, C, 1, 1]; for imported models that end in Softmax.
//           backward: dx = y * (dy - sum(dy * y)).
// Transpose: permutes the four axes (tf2onnx puts NHWC<->NCHW transposes around Keras convs).
//           backward applies the inverse permutation.

#include <array>
#include <cstdint>

#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

class ReLU : public Layer {
 public:
  std::string_view kind() const override { return "ReLU"; }
  Shape output_shape(const Shape& x) const override { return x; }
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;

 private:
  const Tensor* y_ = nullptr;
};

class Flatten : public Layer {
 public:
  std::string_view kind() const override { return "Flatten"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;

 private:
  Shape x_shape_;
};

class Dropout : public Layer {
 public:
  explicit Dropout(float rate, std::uint64_t seed = 0);

  std::string_view kind() const override { return "Dropout"; }
  Shape output_shape(const Shape& x) const override { return x; }
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;
  void initialize(std::uint64_t seed) override {
    seed_ = seed;
    calls_ = 0;
  }

  float rate() const { return rate_; }

 private:
  float rate_;
  std::uint64_t seed_;
  std::uint64_t calls_ = 0;
  Tensor mask_;  // 0 or 1/(1-rate) per element of the last training batch
};

class Softmax : public Layer {
 public:
  std::string_view kind() const override { return "Softmax"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;

 private:
  const Tensor* y_ = nullptr;
};

class Transpose4D : public Layer {
 public:
  explicit Transpose4D(std::array<int, 4> perm);  // y axis i = x axis perm[i], as in ONNX

  std::string_view kind() const override { return "Transpose"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;

  const std::array<int, 4>& perm() const { return perm_; }

 private:
  std::array<int, 4> perm_;
  Shape x_shape_;
};

}  // namespace digitcam::engine
