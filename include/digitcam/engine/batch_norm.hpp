#pragma once
// Batch normalisation over channels (axis 1) of [N, C, H, W]; also after a dense layer
// ([N, C, 1, 1]).
//   training:  per channel mean m and biased variance v over N, H, W;
//              y = gamma (x - m) / sqrt(v + eps) + beta;
//              running = (1 - momentum) running + momentum batch (PyTorch's convention;
//              running_var takes the unbiased variance).
//   inference: the same with the running statistics.
//   cache:     normalised x (x_hat) and 1/sqrt(v + eps) per channel; inference keeps only a
//              pointer to x (one fused scale and shift per channel) and backward rebuilds x_hat.
//   backward:  dx = gamma inv_std / M (M dy - sum dy - x_hat sum(dy x_hat)), M = N*H*W;
//              dgamma += sum(dy x_hat), dbeta += sum(dy).  In inference mode dx = dy gamma inv_std.

#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

class BatchNorm : public Layer {
 public:
  explicit BatchNorm(int channels, float epsilon = 1e-5f, float momentum = 0.1f);

  std::string_view kind() const override { return "BatchNorm"; }
  Shape output_shape(const Shape& x) const override;
  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, Tensor& dx) override;
  std::vector<Param> params() override;
  std::vector<Param> buffers() override;
  void initialize(std::uint64_t seed) override;  // gamma 1, beta 0, mean 0, var 1

  int channels() const { return channels_; }
  float epsilon() const { return epsilon_; }
  float momentum() const { return momentum_; }
  Tensor& gamma() { return gamma_; }  // each [1, C, 1, 1]
  Tensor& beta() { return beta_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  const Tensor& gamma() const { return gamma_; }
  const Tensor& beta() const { return beta_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  // Inference as y = x * scale + shift per channel, the running statistics folded in: the
  // values forward gives in inference mode (the Network hands them to the layer before).
  void inference_affine(std::vector<float>& scale, std::vector<float>& shift) const;

 private:
  int channels_;
  float epsilon_, momentum_;
  Tensor gamma_, beta_, dgamma_, dbeta_, running_mean_, running_var_;
  const Tensor* x_ = nullptr;
  Tensor x_hat_;
  std::vector<float> inv_std_;

  struct Affine {
    float scale, shift;
  };
  Affine channel_affine(std::size_t channel) const;
  void forward_inference(const Tensor& x, Tensor& y);
  void rebuild_inference_cache();
};

}  // namespace digitcam::engine
