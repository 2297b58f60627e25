#include "digitcam/engine/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <istream>
#include <numbers>
#include <ostream>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// Elements per parallel chunk of an update; updates are element-wise, so any split is exact.
constexpr std::size_t update_grain = 1 << 14;
// Tag at the start of saved optimizer state, to refuse a checkpoint of another format.
constexpr std::uint32_t state_magic = 0x4443'4f50;  // "DCOP"

// Makes sure there are `per_param` zero-initialised slots shaped like each parameter.
void ensure_slots(std::vector<Tensor>& slots, std::span<const Param> params, int per_param) {
  const std::size_t wanted = params.size() * static_cast<std::size_t>(per_param);
  if (slots.size() == wanted) return;
  slots.clear();
  for (int k = 0; k < per_param; ++k) {
    for (const auto& p : params) slots.emplace_back(p.value->shape());
  }
}

}  // namespace

void Optimizer::save_state(std::ostream& out) const {
  const auto write = [&](const auto& v) { out.write(reinterpret_cast<const char*>(&v), sizeof v); };
  write(state_magic);
  write(steps_);
  write(static_cast<std::uint64_t>(slots_.size()));
  for (const auto& t : slots_) {
    write(static_cast<std::uint64_t>(t.size()));
    out.write(reinterpret_cast<const char*>(t.data()),
              static_cast<std::streamsize>(t.size() * sizeof(float)));
  }
}

void Optimizer::load_state(std::istream& in) {
  const auto read = [&](auto& v) {
    if (!in.read(reinterpret_cast<char*>(&v), sizeof v)) {
      throw IoError("optimizer state: truncated checkpoint; start again without --resume");
    }
  };
  std::uint32_t magic = 0;
  read(magic);
  if (magic != state_magic) {
    throw IoError("optimizer state: not a digitcam checkpoint; start again without --resume");
  }
  read(steps_);
  std::uint64_t count = 0;
  read(count);
  if (count != slots_.size() && !slots_.empty()) {
    throw IoError("optimizer state: checkpoint has " + std::to_string(count) +
                  " slots, this optimizer " + std::to_string(slots_.size()) +
                  "; was it written with another --optimizer or --arch?");
  }
  std::vector<Tensor> loaded;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t size = 0;
    read(size);
    if (size > (1ull << 32)) throw IoError("optimizer state: absurd slot size in checkpoint");
    Tensor t({1, 1, 1, static_cast<int>(size)});
    if (!in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(size * 4))) {
      throw IoError("optimizer state: truncated checkpoint; start again without --resume");
    }
    loaded.push_back(std::move(t));
  }
  // Shapes are restored from the parameters on the next step; contents are what matters here.
  pending_ = std::move(loaded);
}

void Optimizer::adopt_pending(std::span<const Param> params, int per_param) {
  ensure_slots(slots_, params, per_param);
  if (pending_.empty()) return;
  if (pending_.size() != slots_.size()) {
    throw IoError("optimizer state: checkpoint does not match this network");
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (pending_[i].size() != slots_[i].size()) {
      throw IoError("optimizer state: checkpoint does not match this network");
    }
    std::copy_n(pending_[i].data(), slots_[i].size(), slots_[i].data());
  }
  pending_.clear();
}

Sgd::Sgd(float momentum, float weight_decay, bool nesterov)
    : momentum_(momentum), weight_decay_(weight_decay), nesterov_(nesterov) {}

void Sgd::step(std::span<const Param> params, float learning_rate) {
  adopt_pending(params, 1);
  ++steps_;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    float* w = p.value->data();
    const float* g = p.grad->data();
    float* v = slots_[i].data();
    const float decay = p.decay ? weight_decay_ : 0.0f;
    parallel_for(p.value->size(), update_grain, [&](std::size_t begin, std::size_t end) {
      for (std::size_t j = begin; j < end; ++j) {
        const float grad = g[j] + decay * w[j];
        v[j] = momentum_ * v[j] + grad;
        w[j] -= learning_rate * (nesterov_ ? grad + momentum_ * v[j] : v[j]);
      }
    });
  }
}

Adam::Adam(float weight_decay, bool decoupled, float beta1, float beta2, float epsilon)
    : weight_decay_(weight_decay),
      decoupled_(decoupled),
      beta1_(beta1),
      beta2_(beta2),
      epsilon_(epsilon) {}

void Adam::step(std::span<const Param> params, float learning_rate) {
  adopt_pending(params, 2);
  ++steps_;
  const auto t = static_cast<double>(steps_);
  const auto correction1 = static_cast<float>(1.0 - std::pow(beta1_, t));
  const auto correction2 = static_cast<float>(1.0 - std::pow(beta2_, t));
  const float step_size = learning_rate / correction1;
  const float sqrt_correction2 = std::sqrt(correction2);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    float* w = p.value->data();
    const float* g = p.grad->data();
    float* m = slots_[i].data();
    float* v = slots_[params.size() + i].data();
    const float decay = p.decay ? weight_decay_ : 0.0f;
    parallel_for(p.value->size(), update_grain, [&](std::size_t begin, std::size_t end) {
      for (std::size_t j = begin; j < end; ++j) {
        float grad = g[j];
        if (decoupled_) {
          w[j] -= learning_rate * decay * w[j];
        } else {
          grad += decay * w[j];
        }
        m[j] = beta1_ * m[j] + (1.0f - beta1_) * grad;
        v[j] = beta2_ * v[j] + (1.0f - beta2_) * grad * grad;
        w[j] -= step_size * m[j] / (std::sqrt(v[j]) / sqrt_correction2 + epsilon_);
      }
    });
  }
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float weight_decay,
                                          float momentum) {
  if (name == "sgd") return std::make_unique<Sgd>(momentum, weight_decay, true);
  if (name == "adam") return std::make_unique<Adam>(weight_decay, false);
  if (name == "adamw") return std::make_unique<Adam>(weight_decay, true);
  throw UsageError("unknown optimizer '" + name + "'; choose sgd, adam or adamw");
}

float Schedule::at(std::int64_t step) const {
  const double total = static_cast<double>(std::max<std::int64_t>(total_steps, 1));
  const double s = std::clamp(static_cast<double>(step), 0.0, total);
  const double warm = std::max(1.0, warmup_fraction * total);
  const auto cosine_down = [&](double from, double to, double progress) {
    return to + (from - to) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  };
  switch (kind) {
    case ScheduleKind::constant:
      return peak;
    case ScheduleKind::cosine:
      if (s < warm) return static_cast<float>(peak * (s + 1) / warm);
      return static_cast<float>(cosine_down(peak, 0.0, (s - warm) / std::max(1.0, total - warm)));
    case ScheduleKind::one_cycle: {
      constexpr double start_divisor = 25.0;   // lr starts at peak / 25
      constexpr double final_divisor = 1e4;    // and ends at peak / 1e4 (PyTorch's defaults)
      const double start = peak / start_divisor, last = peak / final_divisor;
      if (s < warm) return static_cast<float>(start + (peak - start) * s / warm);
      return static_cast<float>(cosine_down(peak, last, (s - warm) / std::max(1.0, total - warm)));
    }
  }
  return peak;
}

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "constant") return ScheduleKind::constant;
  if (name == "cosine") return ScheduleKind::cosine;
  if (name == "one-cycle" || name == "onecycle") return ScheduleKind::one_cycle;
  throw UsageError("unknown schedule '" + name + "'; choose constant, cosine or one-cycle");
}

}  // namespace digitcam::engine
