#pragma once
// 2-D convolution (cross-correlation, as in ONNX Conv with group 1 and dilation 1).
//   forward:  x [N, IC, H, W]  ->  y [N, OC, OH, OW],  OH = (H + pad_top + pad_bottom - KH) / SH +
//   1 cache:    pointer to x (backward rebuilds each item's im2col matrix cols_n [IC*KH*KW, OH*OW]
//             in cache rather than keeping the whole batch's)
//   backward: dx [N, IC, H, W] (col2im of W^T dy); dweight [OC, IC, KH, KW] += dy cols^T;
//             dbias [1, OC, 1, 1] += sum of dy over N, OH, OW.
// Inference of 3x3 stride-1 layers with 8 or more input channels uses Winograd F(2x2, 3x3)
// (16 multiplies per 2x2 output tile and channel pair instead of 36); training and everything else
// use im2col.
// The arithmetic is im2col + gemm per item (y_n = W cols_n lands in NCHW as it is), items in
// parallel; the weight gradient is summed per fixed chunk of items, then over chunks in order,
// so it is the same for any thread count. conv2d_forward_reference() is the direct 7-loop version.

#include <array>

#include "digitcam/engine/gemm.hpp"
#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

struct Conv2DGeometry {
  int in_channels = 1;
  int out_channels = 1;
  int kernel_h = 3;
  int kernel_w = 3;
  int stride_h = 1;
  int stride_w = 1;
  int pad_top = 0;
  int pad_left = 0;
  int pad_bottom = 0;
  int pad_right = 0;

  int out_h(int in_h) const { return (in_h + pad_top + pad_bottom - kernel_h) / stride_h + 1; }
  int out_w(int in_w) const { return (in_w + pad_left + pad_right - kernel_w) / stride_w + 1; }
};

class Conv2D : public Layer {
 public:
  explicit Conv2D(const Conv2DGeometry& geometry);  // validates; weights zero until initialize()

  std::string_view kind() const override { return "Conv2D"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  bool accepts_epilogue() const override { return true; }
  void forward_then(const Tensor& x, Tensor& y, const ChannelEpilogue& after) override;
  void backward(const Tensor& dy, Tensor& dx) override;
  std::vector<Param> params() override;
  void initialize(std::uint64_t seed) override;  // He-uniform weights, zero bias
  void set_parameters_fixed(bool fixed) override;

  const Conv2DGeometry& geometry() const { return geometry_; }
  Tensor& weight() { return weight_; }  // [OC, IC, KH, KW]
  Tensor& bias() { return bias_; }      // [1, OC, 1, 1]
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Conv2DGeometry geometry_;
  Tensor weight_, bias_, dweight_, dbias_;
  const Tensor* x_ = nullptr;
  Tensor partial_dweight_;       // backward: weight gradient of each chunk of items
  Tensor partial_dbias_;         // backward: bias gradient of each chunk of items
  PackedMatrix packed_weights_;  // W packed for forward; W^T packed for backward's dx
  // Inference of 3x3 stride-1 layers by Winograd F(2x2, 3x3): the weights it was made from, and
  // G w G^T packed per transform position.
  Tensor winograd_source_;
  std::array<PackedMatrix, 16> winograd_weights_;
  // The transformed weights were checked against the weights since they were last promised
  // fixed: while that promise holds, they are not compared again.
  bool winograd_checked_while_fixed_ = false;

  void forward_with(const Tensor& x, Tensor& y, const ChannelEpilogue* after);
  void forward_winograd(const Tensor& x, Tensor& y, const ChannelEpilogue* after);
};

// Direct convolution, the slow obvious version the tests compare the fast path against.
void conv2d_forward_reference(const Conv2DGeometry& g, const Tensor& x, const Tensor& weight,
                              const Tensor& bias, Tensor& y);

}  // namespace digitcam::engine
