#pragma once
// Max pooling (ONNX MaxPool, floor mode). Padding counts as -infinity.
//   forward:  x [N, C, H, W] -> y [N, C, OH, OW]
//   cache:    index into x of each output's maximum
//   backward: dx is zero except at the cached maxima, where dy is added (overlapping windows add).
// With the ReLU before it folded in (fold_relu_before; the Network does this for a ReLU whose
// output only this layer reads) it takes the ReLU's input: the maxima are clamped at 0 and dy
// passes only where the maximum was positive, as the ReLU would let it. Max and ReLU commute,
// so this is bit for bit the two layers, at the cost of the four times smaller output.

#include <cstdint>

#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

struct PoolGeometry {
  int kernel_h = 2;
  int kernel_w = 2;
  int stride_h = 2;
  int stride_w = 2;
  int pad_top = 0;
  int pad_left = 0;
  int pad_bottom = 0;
  int pad_right = 0;

  int out_h(int in_h) const { return (in_h + pad_top + pad_bottom - kernel_h) / stride_h + 1; }
  int out_w(int in_w) const { return (in_w + pad_left + pad_right - kernel_w) / stride_w + 1; }
};

class MaxPool : public Layer {
 public:
  explicit MaxPool(const PoolGeometry& geometry);

  std::string_view kind() const override { return "MaxPool"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;

  const PoolGeometry& geometry() const { return geometry_; }
  void fold_relu_before(bool folded) { relu_before_ = folded; }

 private:
  PoolGeometry geometry_;
  Shape x_shape_;
  std::vector<std::int32_t> argmax_;  // per output element, offset within its (n, c) plane
  bool relu_before_ = false;
  const Tensor* y_ = nullptr;  // the last output, read by backward when the ReLU is folded in
};

void max_pool_forward_reference(const PoolGeometry& g, const Tensor& x, Tensor& y);

}  // namespace digitcam::engine
