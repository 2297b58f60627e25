#pragma once
// Softmax followed by cross-entropy, fused for a stable gradient.
//   forward:  logits [N, K, 1, 1], labels N values in [0, K)  ->  mean over N of -log p[label]
//             (with label smoothing s the target is (1 - s) one-hot + s / K)
//   cache:    probabilities [N, K, 1, 1] and the labels
//   backward: dlogits = (p - target) / N

#include <span>
#include <vector>

#include "digitcam/engine/tensor.hpp"

namespace digitcam::engine {

class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(float label_smoothing = 0.0f);

  float forward(const Tensor& logits, std::span<const int> labels);
  void backward(Tensor& dlogits) const;
  const Tensor& probabilities() const { return probabilities_; }

 private:
  float label_smoothing_;
  Tensor probabilities_;
  std::vector<int> labels_;
};

// Numerically stable softmax of each row of logits [N, K, 1, 1] into probabilities.
void softmax_rows(const Tensor& logits, Tensor& probabilities);

}  // namespace digitcam::engine
