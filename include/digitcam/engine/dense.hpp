#pragma once
// Fully connected layer (ONNX Gemm with transB = 1; PyTorch's Linear).
//   forward:  x [N, C, H, W] with C*H*W == in_features  ->  y [N, out_features, 1, 1]
//             y = x W^T + b
//   cache:    pointer to x
//   backward: dx = dy W (shape of x); dweight [out, in, 1, 1] += dy^T x; dbias [1, out, 1, 1] +=
//             column sums of dy.

#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

class Dense : public Layer {
 public:
  Dense(int in_features, int out_features);

  std::string_view kind() const override { return "Dense"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  // Its output is one value per channel: the epilogue's own pass over it costs next to nothing.
  bool accepts_epilogue() const override { return true; }
  void backward(const Tensor& dy, Tensor& dx) override;
  std::vector<Param> params() override;
  void initialize(std::uint64_t seed) override;  // He-uniform weights, zero bias

  int in_features() const { return in_features_; }
  int out_features() const { return out_features_; }
  Tensor& weight() { return weight_; }  // [out, in, 1, 1]
  Tensor& bias() { return bias_; }      // [1, out, 1, 1]
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int in_features_, out_features_;
  Tensor weight_, bias_, dweight_, dbias_;
  const Tensor* x_ = nullptr;
};

void dense_forward_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y);

}  // namespace digitcam::engine
