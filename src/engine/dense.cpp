#include "digitcam/engine/dense.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/gemm.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// Output features per parallel chunk of the bias-gradient sums.
constexpr std::size_t features_per_chunk = 64;

}  // namespace

Dense::Dense(int in_features, int out_features)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features < 1 || out_features < 1) {
    throw ShapeError("Dense: feature counts must be positive (got " + std::to_string(in_features) +
                     " -> " + std::to_string(out_features) + ")");
  }
  weight_ = Tensor({out_features, in_features, 1, 1});
  dweight_ = Tensor(weight_.shape());
  bias_ = Tensor({1, out_features, 1, 1});
  dbias_ = Tensor(bias_.shape());
}

Shape Dense::output_shape(const Shape& x) const {
  if (x.item_count() != static_cast<std::size_t>(in_features_) || x.n < 1) {
    throw ShapeError("Dense: input " + x.str() + " has " + std::to_string(x.item_count()) +
                     " features per item; the layer expects " + std::to_string(in_features_) +
                     ", e.g. " + Shape{std::max(x.n, 1), in_features_, 1, 1}.str());
  }
  return {x.n, out_features_, 1, 1};
}

std::vector<Param> Dense::params() {
  return {{"weight", &weight_, &dweight_, true}, {"bias", &bias_, &dbias_, false}};
}

void Dense::initialize(std::uint64_t seed) {
  const float bound = std::sqrt(6.0f / static_cast<float>(in_features_));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-bound, bound);
  for (float& v : weight_.values()) v = dist(rng);
  bias_.zero();
}

void Dense::forward(const Tensor& x, Tensor& y) {
  const Shape out = output_shape(x.shape());
  x_ = &x;
  y.resize(out);
  // y starts as the bias and gemm adds x W^T onto it (beta = 1).
  for (int n = 0; n < out.n; ++n) std::copy_n(bias_.data(), out_features_, y.item(n));
  gemm(Transpose::no, Transpose::yes, out.n, out_features_, in_features_, 1.0f, x.data(),
       in_features_, weight_.data(), in_features_, 1.0f, y.data(), out_features_);
}

void Dense::backward(const Tensor& dy, Tensor& dx) {
  if (x_ == nullptr) throw ShapeError("Dense: backward needs a forward pass first");
  const Shape out = output_shape(x_->shape());
  if (!(dy.shape() == out)) {
    throw ShapeError("Dense: gradient " + dy.shape().str() + " does not match the forward output " +
                     out.str());
  }
  const int n = out.n;
  gemm(Transpose::yes, Transpose::no, out_features_, in_features_, n, 1.0f, dy.data(),
       out_features_, x_->data(), in_features_, 1.0f, dweight_.data(), in_features_);
  parallel_for(static_cast<std::size_t>(out_features_), features_per_chunk,
               [&](std::size_t begin, std::size_t end) {
                 for (std::size_t j = begin; j < end; ++j) {
                   float sum = 0.0f;
                   for (int i = 0; i < n; ++i) sum += dy.item(i)[j];
                   dbias_.data()[j] += sum;
                 }
               });
  if (!input_gradient()) return;
  dx.resize(x_->shape());
  gemm(Transpose::no, Transpose::no, n, in_features_, out_features_, 1.0f, dy.data(),
       out_features_, weight_.data(), in_features_, 0.0f, dx.data(), in_features_);
}

void dense_forward_reference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             Tensor& y) {
  const int n = x.shape().n;
  const int in = static_cast<int>(x.shape().item_count());
  const int out = weight.shape().n;
  y.resize({n, out, 1, 1});
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < out; ++j) {
      double sum = bias.data()[j];
      for (int k = 0; k < in; ++k) {
        sum += static_cast<double>(x.item(i)[k]) * weight.data()[static_cast<std::size_t>(j) * in + k];
      }
      y.item(i)[j] = static_cast<float>(sum);
    }
}

}  // namespace digitcam::engine
