#include "digitcam/engine/loss.hpp"

#include <algorithm>
#include <cmath>

#include "digitcam/engine/error.hpp"

namespace digitcam::engine {

void softmax_rows(const Tensor& logits, Tensor& probabilities) {
  const Shape& s = logits.shape();
  if (s.h != 1 || s.w != 1) {
    throw ShapeError("softmax: expects scores of shape [N, K, 1, 1], got " + s.str());
  }
  probabilities.resize(s);
  for (int n = 0; n < s.n; ++n) {
    const float* in = logits.item(n);
    float* out = probabilities.item(n);
    const float top = *std::max_element(in, in + s.c);
    float sum = 0.0f;
    for (int k = 0; k < s.c; ++k) sum += out[k] = std::exp(in[k] - top);
    for (int k = 0; k < s.c; ++k) out[k] /= sum;
  }
}

SoftmaxCrossEntropy::SoftmaxCrossEntropy(float label_smoothing)
    : label_smoothing_(label_smoothing) {
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
    throw ShapeError("cross-entropy: label smoothing must be in [0, 1)");
  }
}

float SoftmaxCrossEntropy::forward(const Tensor& logits, std::span<const int> labels) {
  const Shape& s = logits.shape();
  if (static_cast<std::size_t>(s.n) != labels.size()) {
    throw ShapeError("cross-entropy: " + std::to_string(labels.size()) + " labels for logits " +
                     s.str());
  }
  softmax_rows(logits, probabilities_);
  labels_.assign(labels.begin(), labels.end());
  const float off = label_smoothing_ / static_cast<float>(s.c);
  const float on = 1.0f - label_smoothing_ + off;
  double total = 0;
  for (int n = 0; n < s.n; ++n) {
    const int label = labels[static_cast<std::size_t>(n)];
    if (label < 0 || label >= s.c) {
      throw ShapeError("cross-entropy: label " + std::to_string(label) + " outside [0, " +
                       std::to_string(s.c) + ")");
    }
    const float* p = probabilities_.item(n);
    // Clamp so a saturated softmax gives a large finite loss instead of infinity.
    constexpr float smallest_probability = 1e-30f;
    for (int k = 0; k < s.c; ++k) {
      const float target = k == label ? on : off;
      if (target > 0.0f) total -= target * std::log(std::max(p[k], smallest_probability));
    }
  }
  return static_cast<float>(total / std::max(1, s.n));
}

void SoftmaxCrossEntropy::backward(Tensor& dlogits) const {
  const Shape& s = probabilities_.shape();
  dlogits.resize(s);
  const float off = label_smoothing_ / static_cast<float>(s.c);
  const float on = 1.0f - label_smoothing_ + off;
  const float scale = 1.0f / static_cast<float>(std::max(1, s.n));
  for (int n = 0; n < s.n; ++n) {
    const float* p = probabilities_.item(n);
    float* d = dlogits.item(n);
    const int label = labels_[static_cast<std::size_t>(n)];
    for (int k = 0; k < s.c; ++k) d[k] = (p[k] - (k == label ? on : off)) * scale;
  }
}

}  // namespace digitcam::engine
