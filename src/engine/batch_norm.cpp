#include "digitcam/engine/batch_norm.hpp"

#include <cmath>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// Channels per parallel chunk: one channel's statistics are one thread's job, so sums are
// always taken in the same order.
constexpr std::size_t channels_per_chunk = 1;
// Inference has no sums: channels are grouped so each task has at least this many values, and
// batch-1 layers of a few thousand values run on the calling thread without waking workers.
constexpr std::size_t inference_values_per_chunk = 1 << 15;

}  // namespace

BatchNorm::BatchNorm(int channels, float epsilon, float momentum)
    : channels_(channels), epsilon_(epsilon), momentum_(momentum) {
  if (channels < 1) throw ShapeError("BatchNorm: channel count must be positive");
  if (!(epsilon > 0.0f)) throw ShapeError("BatchNorm: epsilon must be positive");
  if (!(momentum >= 0.0f && momentum <= 1.0f)) {
    throw ShapeError("BatchNorm: momentum must be in [0, 1]");
  }
  const Shape per_channel{1, channels, 1, 1};
  for (Tensor* t : {&gamma_, &beta_, &dgamma_, &dbeta_, &running_mean_, &running_var_}) {
    *t = Tensor(per_channel);
  }
  initialize(0);
}

void BatchNorm::initialize(std::uint64_t /*seed*/) {
  gamma_.fill(1.0f);
  beta_.zero();
  running_mean_.zero();
  running_var_.fill(1.0f);
}

std::vector<Param> BatchNorm::params() {
  return {{"gamma", &gamma_, &dgamma_, false}, {"beta", &beta_, &dbeta_, false}};
}

std::vector<Param> BatchNorm::buffers() {
  return {{"running_mean", &running_mean_, nullptr, false},
          {"running_var", &running_var_, nullptr, false}};
}

Shape BatchNorm::output_shape(const Shape& x) const {
  if (x.c != channels_) {
    throw ShapeError("BatchNorm: expects " + std::to_string(channels_) + " channels, got " +
                     x.str());
  }
  return x;
}

void BatchNorm::forward(const Tensor& x, Tensor& y) {
  const Shape s = output_shape(x.shape());
  y.resize(s);
  x_ = &x;
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  const std::size_t m = plane * static_cast<std::size_t>(s.n);
  const bool training = mode() == Mode::training;
  if (!training) {
    forward_inference(x, y);
    return;
  }
  x_hat_.resize(s);
  inv_std_.resize(static_cast<std::size_t>(channels_));
  if (training && m < 2) {
    throw ShapeError("BatchNorm: training needs more than one value per channel, got " + s.str());
  }
  parallel_for(static_cast<std::size_t>(channels_), channels_per_chunk,
               [&](std::size_t begin, std::size_t end) {
                 for (std::size_t c = begin; c < end; ++c) {
                   double mean = running_mean_.data()[c];
                   double var = running_var_.data()[c];
                   if (training) {
                     double sum = 0;
                     for (int n = 0; n < s.n; ++n) {
                       const float* p = x.item(n) + c * plane;
                       for (std::size_t i = 0; i < plane; ++i) sum += p[i];
                     }
                     mean = sum / static_cast<double>(m);
                     double squares = 0;
                     for (int n = 0; n < s.n; ++n) {
                       const float* p = x.item(n) + c * plane;
                       for (std::size_t i = 0; i < plane; ++i) {
                         const double d = p[i] - mean;
                         squares += d * d;
                       }
                     }
                     var = squares / static_cast<double>(m);
                     const auto mom = static_cast<double>(momentum_);
                     running_mean_.data()[c] =
                         static_cast<float>((1 - mom) * running_mean_.data()[c] + mom * mean);
                     running_var_.data()[c] = static_cast<float>(
                         (1 - mom) * running_var_.data()[c] +
                         mom * var * static_cast<double>(m) / static_cast<double>(m - 1));
                   }
                   const auto inv_std = static_cast<float>(1.0 / std::sqrt(var + epsilon_));
                   inv_std_[c] = inv_std;
                   const float g = gamma_.data()[c], b = beta_.data()[c];
                   const auto mu = static_cast<float>(mean);
                   for (int n = 0; n < s.n; ++n) {
                     const float* p = x.item(n) + c * plane;
                     float* h = x_hat_.item(n) + c * plane;
                     float* out = y.item(n) + c * plane;
                     for (std::size_t i = 0; i < plane; ++i) {
                       h[i] = (p[i] - mu) * inv_std;
                       out[i] = g * h[i] + b;
                     }
                   }
                 }
               });
}

// Inference is one scale and shift per channel (running statistics folded in). Backward in
// inference mode rebuilds what it needs from x (see backward).
void BatchNorm::forward_inference(const Tensor& x, Tensor& y) {
  const Shape& s = x.shape();
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  const std::size_t grain = std::max<std::size_t>(
      1, inference_values_per_chunk / std::max<std::size_t>(1, s.count() / channels_));
  parallel_for(static_cast<std::size_t>(channels_), grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t c = begin; c < end; ++c) {
      const double inv_std =
          1.0 / std::sqrt(static_cast<double>(running_var_.data()[c]) + epsilon_);
      const double gamma = gamma_.data()[c];
      const auto scale = static_cast<float>(gamma * inv_std);
      const auto shift =
          static_cast<float>(beta_.data()[c] - running_mean_.data()[c] * gamma * inv_std);
      for (int n = 0; n < s.n; ++n) {
        const float* __restrict in = x.item(n) + c * plane;
        float* __restrict out = y.item(n) + c * plane;
        for (std::size_t i = 0; i < plane; ++i) out[i] = in[i] * scale + shift;
      }
    }
  });
}

// x_hat and 1/sqrt(var + eps) from the running statistics, for backward after an inference
// forward (gradient checks, feature visualisation); the fast inference forward skips them.
void BatchNorm::rebuild_inference_cache() {
  const Shape& s = x_->shape();
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  x_hat_.resize(s);
  inv_std_.resize(static_cast<std::size_t>(channels_));
  for (int c = 0; c < channels_; ++c) {
    const auto inv_std =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var_.data()[c]) + epsilon_));
    inv_std_[static_cast<std::size_t>(c)] = inv_std;
    const float mu = running_mean_.data()[c];
    for (int n = 0; n < s.n; ++n) {
      const float* p = x_->item(n) + static_cast<std::size_t>(c) * plane;
      float* h = x_hat_.item(n) + static_cast<std::size_t>(c) * plane;
      for (std::size_t i = 0; i < plane; ++i) h[i] = (p[i] - mu) * inv_std;
    }
  }
}

void BatchNorm::backward(const Tensor& dy, Tensor& dx) {
  if (x_ == nullptr) throw ShapeError("BatchNorm: backward needs a forward pass first");
  if (mode() == Mode::inference) rebuild_inference_cache();
  const Shape& s = x_hat_.shape();
  if (!(dy.shape() == s)) {
    throw ShapeError("BatchNorm: gradient shape " + dy.shape().str() +
                     " does not match the forward output " + s.str());
  }
  if (input_gradient()) dx.resize(s);
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  const auto m = static_cast<float>(plane * static_cast<std::size_t>(s.n));
  const bool training = mode() == Mode::training;
  parallel_for(static_cast<std::size_t>(channels_), channels_per_chunk,
               [&](std::size_t begin, std::size_t end) {
                 for (std::size_t c = begin; c < end; ++c) {
                   double sum_dy = 0, sum_dy_xhat = 0;
                   for (int n = 0; n < s.n; ++n) {
                     const float* g = dy.item(n) + c * plane;
                     const float* h = x_hat_.item(n) + c * plane;
                     for (std::size_t i = 0; i < plane; ++i) {
                       sum_dy += g[i];
                       sum_dy_xhat += static_cast<double>(g[i]) * h[i];
                     }
                   }
                   dgamma_.data()[c] += static_cast<float>(sum_dy_xhat);
                   dbeta_.data()[c] += static_cast<float>(sum_dy);
                   if (!input_gradient()) continue;
                   const float scale = gamma_.data()[c] * inv_std_[c];
                   const auto mean_dy = static_cast<float>(sum_dy) / m;
                   const auto mean_dy_xhat = static_cast<float>(sum_dy_xhat) / m;
                   for (int n = 0; n < s.n; ++n) {
                     const float* g = dy.item(n) + c * plane;
                     const float* h = x_hat_.item(n) + c * plane;
                     float* out = dx.item(n) + c * plane;
                     if (training) {
                       for (std::size_t i = 0; i < plane; ++i) {
                         out[i] = scale * (g[i] - mean_dy - h[i] * mean_dy_xhat);
                       }
                     } else {
                       for (std::size_t i = 0; i < plane; ++i) out[i] = scale * g[i];
                     }
                   }
                 }
               });
}

}  // namespace digitcam::engine
