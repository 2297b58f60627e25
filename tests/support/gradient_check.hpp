#pragma once
// Finite-difference gradient checks for layers. The loss is L = sum(y * r) for a fixed random r,
// so dL/dy = r; central differences of L (summed in double) are compared with what backward gives.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "digitcam/engine/layer.hpp"

namespace digitcam::test {

inline void fill_uniform(engine::Tensor& t, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.values()) v = dist(rng);
}

inline double weighted_sum(const engine::Tensor& y, const engine::Tensor& r) {
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y.data()[i]) * r.data()[i];
  return s;
}

// Largest relative error |analytic - numeric| / max(1, |analytic|, |numeric|) over the sampled
// coordinates. Checks at most max_probes coordinates of x and of each parameter.
struct GradientReport {
  double input_error = 0;
  double param_error = 0;
};

inline GradientReport check_gradients(engine::Layer& layer, engine::Tensor x, std::uint64_t seed,
                                      float step = 1e-2f, int max_probes = 64) {
  using engine::Tensor;
  Tensor y;
  layer.forward(x, y);
  Tensor r(y.shape());
  fill_uniform(r, seed + 1);

  for (auto& p : layer.params()) p.grad->zero();
  Tensor dx(x.shape());
  layer.forward(x, y);
  layer.backward(r, dx);

  const auto loss_at = [&](void) {
    Tensor yy;
    layer.forward(x, yy);
    return weighted_sum(yy, r);
  };
  const auto relative = [](double a, double b) {
    return std::abs(a - b) / std::max({1.0, std::abs(a), std::abs(b)});
  };
  GradientReport report;
  std::mt19937_64 rng(seed + 2);
  const auto probe = [&](Tensor& t, const Tensor& analytic, double& worst) {
    const std::size_t count = t.size();
    for (int i = 0; i < max_probes && count > 0; ++i) {
      const std::size_t k = count <= static_cast<std::size_t>(max_probes)
                                ? static_cast<std::size_t>(i) % count
                                : rng() % count;
      const float saved = t.data()[k];
      t.data()[k] = saved + step;
      const double up = loss_at();
      t.data()[k] = saved - step;
      const double down = loss_at();
      t.data()[k] = saved;
      const double numeric = (up - down) / (2.0 * step);
      worst = std::max(worst, relative(analytic.data()[k], numeric));
    }
  };
  probe(x, dx, report.input_error);
  for (auto& p : layer.params()) {
    Tensor analytic = *p.grad;
    probe(*p.value, analytic, report.param_error);
  }
  return report;
}

}  // namespace digitcam::test
