#include "digitcam/engine/activations.hpp"

#include <algorithm>
#include <cmath>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// Elements per parallel chunk for element-wise loops: large enough that scheduling is noise.
constexpr std::size_t elementwise_grain = 1 << 15;

void require_same_shape(std::string_view layer, const Shape& expected, const Shape& got) {
  if (!(expected == got)) {
    throw ShapeError(std::string(layer) + ": gradient shape " + got.str() +
                     " does not match the forward output " + expected.str());
  }
}

// splitmix64: a counter-based hash, so element i's dropout decision needs no shared state.
std::uint64_t mix(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

// ---- ReLU ----

void ReLU::forward(const Tensor& x, Tensor& y) {
  y.resize(x.shape());
  const float* in = x.data();
  float* out = y.data();
  parallel_for(x.size(), elementwise_grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) out[i] = std::max(in[i], 0.0f);
  });
  y_ = &y;
}

void ReLU::backward(const Tensor& dy, Tensor& dx) {
  require_same_shape(kind(), y_->shape(), dy.shape());
  if (!input_gradient()) return;
  dx.resize(dy.shape());
  const float* y = y_->data();
  const float* g = dy.data();
  float* out = dx.data();
  parallel_for(dy.size(), elementwise_grain, [&](std::size_t begin, std::size_t end) {
    // Both values are loaded before the choice so the compiler emits a blend; a conditional
    // load became a branch that mispredicts on every other element of a real gradient
    // (20 ms of a 120 ms training step of the default net).
    for (std::size_t i = begin; i < end; ++i) {
      const float passed = g[i];
      out[i] = y[i] > 0.0f ? passed : 0.0f;
    }
  });
}

// ---- Flatten ----

Shape Flatten::output_shape(const Shape& x) const {
  return {x.n, static_cast<int>(x.item_count()), 1, 1};
}

void Flatten::forward(const Tensor& x, Tensor& y) {
  x_shape_ = x.shape();
  y.resize(output_shape(x.shape()));
  std::copy_n(x.data(), x.size(), y.data());
}

void Flatten::backward(const Tensor& dy, Tensor& dx) {
  require_same_shape(kind(), output_shape(x_shape_), dy.shape());
  if (!input_gradient()) return;
  dx.resize(x_shape_);
  std::copy_n(dy.data(), dy.size(), dx.data());
}

// ---- Dropout ----

Dropout::Dropout(float rate, std::uint64_t seed) : rate_(rate), seed_(seed) {
  if (!(rate >= 0.0f && rate < 1.0f)) {
    throw ShapeError("Dropout: rate " + std::to_string(rate) + " is outside [0, 1)");
  }
}

void Dropout::forward(const Tensor& x, Tensor& y) {
  y.resize(x.shape());
  if (mode() == Mode::inference || rate_ == 0.0f) {
    std::copy_n(x.data(), x.size(), y.data());
    mask_.resize({0, 0, 0, 0});
    return;
  }
  mask_.resize(x.shape());
  const std::uint64_t stream = mix(seed_ ^ mix(calls_++));
  const float keep_scale = 1.0f / (1.0f - rate_);
  // Compare the top 24 bits of the hash against the rate: exact enough and branch-free.
  const auto threshold = static_cast<std::uint32_t>(rate_ * static_cast<float>(1u << 24));
  const float* in = x.data();
  float* out = y.data();
  float* mask = mask_.data();
  parallel_for(x.size(), elementwise_grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const auto draw = static_cast<std::uint32_t>(mix(stream + i) >> 40);
      mask[i] = draw >= threshold ? keep_scale : 0.0f;
      out[i] = in[i] * mask[i];
    }
  });
}

void Dropout::backward(const Tensor& dy, Tensor& dx) {
  if (!input_gradient()) return;
  dx.resize(dy.shape());
  if (mask_.empty()) {
    std::copy_n(dy.data(), dy.size(), dx.data());
    return;
  }
  require_same_shape(kind(), mask_.shape(), dy.shape());
  const float* g = dy.data();
  const float* mask = mask_.data();
  float* out = dx.data();
  for (std::size_t i = 0; i < dy.size(); ++i) out[i] = g[i] * mask[i];
}

// ---- Softmax ----

Shape Softmax::output_shape(const Shape& x) const {
  if (x.h != 1 || x.w != 1) {
    throw ShapeError("Softmax: expects [N, K, 1, 1] scores, got " + x.str());
  }
  return x;
}

void Softmax::forward(const Tensor& x, Tensor& y) {
  y.resize(output_shape(x.shape()));
  const int k = x.shape().c;
  for (int n = 0; n < x.shape().n; ++n) {
    const float* in = x.item(n);
    float* out = y.item(n);
    const float top = *std::max_element(in, in + k);
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += out[j] = std::exp(in[j] - top);
    for (int j = 0; j < k; ++j) out[j] /= sum;
  }
  y_ = &y;
}

void Softmax::backward(const Tensor& dy, Tensor& dx) {
  require_same_shape(kind(), y_->shape(), dy.shape());
  if (!input_gradient()) return;
  dx.resize(dy.shape());
  const int k = dy.shape().c;
  for (int n = 0; n < dy.shape().n; ++n) {
    const float* y = y_->item(n);
    const float* g = dy.item(n);
    float* out = dx.item(n);
    float dot = 0.0f;
    for (int j = 0; j < k; ++j) dot += g[j] * y[j];
    for (int j = 0; j < k; ++j) out[j] = y[j] * (g[j] - dot);
  }
}

// ---- Transpose4D ----

Transpose4D::Transpose4D(std::array<int, 4> perm) : perm_(perm) {
  std::array<int, 4> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  if (sorted != std::array<int, 4>{0, 1, 2, 3}) {
    throw ShapeError("Transpose: perm must be a permutation of 0, 1, 2, 3");
  }
  if (perm[0] != 0) throw ShapeError("Transpose: moving the batch axis is not supported");
}

namespace {

std::array<int, 4> dims_of(const Shape& s) {
  return {s.n, s.c, s.h, s.w};
}
Shape shape_of(const std::array<int, 4>& d) {
  return {d[0], d[1], d[2], d[3]};
}

// y axis i = x axis perm[i]: walks y in order and gathers from x.
void permute(const Tensor& x, const std::array<int, 4>& perm, Tensor& y) {
  const auto in_dims = dims_of(x.shape());
  std::array<std::size_t, 4> in_stride{};
  in_stride[3] = 1;
  for (int i = 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * in_dims[i + 1];
  std::array<int, 4> out_dims{};
  std::array<std::size_t, 4> gather{};
  for (int i = 0; i < 4; ++i) {
    out_dims[i] = in_dims[perm[i]];
    gather[i] = in_stride[perm[i]];
  }
  y.resize(shape_of(out_dims));
  const float* in = x.data();
  float* out = y.data();
  for (int a = 0; a < out_dims[0]; ++a)
    for (int b = 0; b < out_dims[1]; ++b)
      for (int c = 0; c < out_dims[2]; ++c)
        for (int d = 0; d < out_dims[3]; ++d)
          *out++ = in[a * gather[0] + b * gather[1] + c * gather[2] + d * gather[3]];
}

}  // namespace

Shape Transpose4D::output_shape(const Shape& x) const {
  const auto d = dims_of(x);
  return {d[perm_[0]], d[perm_[1]], d[perm_[2]], d[perm_[3]]};
}

void Transpose4D::forward(const Tensor& x, Tensor& y) {
  x_shape_ = x.shape();
  permute(x, perm_, y);
}

void Transpose4D::backward(const Tensor& dy, Tensor& dx) {
  require_same_shape(kind(), output_shape(x_shape_), dy.shape());
  if (!input_gradient()) return;
  std::array<int, 4> inverse{};
  for (int i = 0; i < 4; ++i) inverse[perm_[i]] = i;
  permute(dy, inverse, dx);
}

}  // namespace digitcam::engine
