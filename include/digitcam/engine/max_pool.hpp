#pragma once
// Max pooling (ONNX MaxPool, floor mode). Padding counts as -infinity.
//   forward:  x [N, C, H, W] -> y [N, C, OH, OW]
//   cache:    index into x of each output's maximum
//   backward: dx is zero except at the cached maxima, where dy is added (overlapping windows add).

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

 private:
  PoolGeometry geometry_;
  Shape x_shape_;
  std::vector<std::int32_t> argmax_;  // per output element, offset within its (n, c) plane
};

void max_pool_forward_reference(const PoolGeometry& g, const Tensor& x, Tensor& y);

}  // namespace digitcam::engine
