#include "digitcam/engine/batch_norm.hpp"

#include <algorithm>
#include <cmath>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// Channels whose sums are taken side by side, each in the plain order (items, then pixels):
// one double addition chain per channel is latency-bound, four independent ones overlap. A
// group of channels is one thread's job, so the sums never depend on the thread count.
constexpr int lanes = 4;
// Inference has no sums: channels are grouped so each task has at least this many values, and
// batch-1 layers of a few thousand values run on the calling thread without waking workers.
constexpr std::size_t inference_values_per_chunk = 1 << 15;

// The planes of channel group `group`: lane k reads channel group*lanes + k, or the last
// channel for lanes past it (their sums are computed and ignored).
struct LanePlanes {
  std::size_t channel[lanes];
  int used;  // lanes that are real channels
};

LanePlanes lane_planes(std::size_t group, int channels) {
  LanePlanes planes{};
  const auto first = static_cast<int>(group) * lanes;
  planes.used = std::min(lanes, channels - first);
  for (int k = 0; k < lanes; ++k) {
    planes.channel[k] = static_cast<std::size_t>(std::min(first + k, channels - 1));
  }
  return planes;
}

std::size_t channel_groups(int channels) {
  return static_cast<std::size_t>((channels + lanes - 1) / lanes);
}

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
  const auto count = static_cast<double>(m);
  parallel_for(channel_groups(channels_), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t group = begin; group < end; ++group) {
      const LanePlanes lp = lane_planes(group, channels_);
      double sum[lanes] = {};
      for (int n = 0; n < s.n; ++n) {
        const float* p[lanes];
        for (int k = 0; k < lanes; ++k) p[k] = x.item(n) + lp.channel[k] * plane;
        for (std::size_t i = 0; i < plane; ++i) {
          for (int k = 0; k < lanes; ++k) sum[k] += p[k][i];
        }
      }
      double mean[lanes], squares[lanes] = {};
      for (int k = 0; k < lanes; ++k) mean[k] = sum[k] / count;
      for (int n = 0; n < s.n; ++n) {
        const float* p[lanes];
        for (int k = 0; k < lanes; ++k) p[k] = x.item(n) + lp.channel[k] * plane;
        for (std::size_t i = 0; i < plane; ++i) {
          for (int k = 0; k < lanes; ++k) {
            const double d = p[k][i] - mean[k];
            squares[k] += d * d;
          }
        }
      }
      for (int k = 0; k < lp.used; ++k) {
        const std::size_t c = lp.channel[k];
        const double var = squares[k] / count;
        const auto mom = static_cast<double>(momentum_);
        running_mean_.data()[c] =
            static_cast<float>((1 - mom) * running_mean_.data()[c] + mom * mean[k]);
        running_var_.data()[c] = static_cast<float>((1 - mom) * running_var_.data()[c] +
                                                    mom * var * count / (count - 1));
        const auto inv_std = static_cast<float>(1.0 / std::sqrt(var + epsilon_));
        inv_std_[c] = inv_std;
        const float g = gamma_.data()[c], b = beta_.data()[c];
        const auto mu = static_cast<float>(mean[k]);
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
      const auto [scale, shift] = channel_affine(c);
      for (int n = 0; n < s.n; ++n) {
        const float* __restrict in = x.item(n) + c * plane;
        float* __restrict out = y.item(n) + c * plane;
        for (std::size_t i = 0; i < plane; ++i) out[i] = in[i] * scale + shift;
      }
    }
  });
}

BatchNorm::Affine BatchNorm::channel_affine(std::size_t c) const {
  const double inv_std = 1.0 / std::sqrt(static_cast<double>(running_var_.data()[c]) + epsilon_);
  const double gamma = gamma_.data()[c];
  return {static_cast<float>(gamma * inv_std),
          static_cast<float>(beta_.data()[c] - running_mean_.data()[c] * gamma * inv_std)};
}

void BatchNorm::inference_affine(std::vector<float>& scale, std::vector<float>& shift) const {
  const auto channels = static_cast<std::size_t>(channels_);
  scale.resize(channels);
  shift.resize(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    const Affine a = channel_affine(c);
    scale[c] = a.scale;
    shift[c] = a.shift;
  }
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
  parallel_for(channel_groups(channels_), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t group = begin; group < end; ++group) {
      const LanePlanes lp = lane_planes(group, channels_);
      double sum_dy[lanes] = {}, sum_dy_xhat[lanes] = {};
      for (int n = 0; n < s.n; ++n) {
        const float *g[lanes], *h[lanes];
        for (int k = 0; k < lanes; ++k) {
          g[k] = dy.item(n) + lp.channel[k] * plane;
          h[k] = x_hat_.item(n) + lp.channel[k] * plane;
        }
        for (std::size_t i = 0; i < plane; ++i) {
          for (int k = 0; k < lanes; ++k) {
            sum_dy[k] += g[k][i];
            sum_dy_xhat[k] += static_cast<double>(g[k][i]) * h[k][i];
          }
        }
      }
      for (int k = 0; k < lp.used; ++k) {
        const std::size_t c = lp.channel[k];
        dgamma_.data()[c] += static_cast<float>(sum_dy_xhat[k]);
        dbeta_.data()[c] += static_cast<float>(sum_dy[k]);
        if (!input_gradient()) continue;
        const float scale = gamma_.data()[c] * inv_std_[c];
        const auto mean_dy = static_cast<float>(sum_dy[k]) / m;
        const auto mean_dy_xhat = static_cast<float>(sum_dy_xhat[k]) / m;
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
    }
  });
}

}  // namespace digitcam::engine
