#pragma once
// The narrow door from vision to the network: a Classifier turns a batch of 28x28 crops into class
// scores, whichever runtime does the arithmetic.
//   native: digitcam's engine (engine::load_onnx_model, Network::forward in inference mode)
//   opencv: OpenCV's dnn (cv::dnn::readNetFromONNX) on the same .onnx file
// logits() returns scores whose softmax is the model's class probabilities: the raw logits, or,
// for a model whose graph ends in Softmax, the log of its probabilities (clamped at
// log(min_probability) so they stay finite). predict() therefore treats every model alike, and a
// temperature T gives probabilities proportional to p^(1/T) either way.
//
// A Classifier keeps its buffers between calls (after the first batch of a size, only the
// returned predictions allocate) and is not thread-safe: use one per thread.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "digitcam/engine/onnx_io.hpp"
#include "digitcam/engine/tensor.hpp"

namespace digitcam::vision {

enum class EngineKind { native, opencv };

// "native" or "opencv"; UsageError for anything else.
EngineKind parse_engine_kind(std::string_view text);
std::string_view engine_kind_name(EngineKind kind);

struct Prediction {
  int label = -1;                    // index of the most probable class
  float confidence = 0.0f;           // probabilities[label]
  std::vector<float> probabilities;  // one per class, summing to 1
};

class Classifier {
 public:
  // Probabilities below this are taken as this before their log is returned as a logit.
  static constexpr float min_probability = 1e-30f;

  virtual ~Classifier() = default;
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  virtual EngineKind kind() const = 0;
  std::string name() const { return std::string(engine_kind_name(kind())); }
  int classes() const { return classes_; }
  // What the model file says about itself (class names, properties, producer, input layout).
  const engine::OnnxInfo& info() const { return info_; }

  // batch [N, 1, 28, 28], crops in 0..1 (white ink on black); out becomes [N, K, 1, 1] scores
  // (see above). ShapeError when batch has another shape.
  virtual void logits(const engine::Tensor& batch, engine::Tensor& out) = 0;

 protected:
  Classifier(engine::OnnxInfo info, int classes) : info_(std::move(info)), classes_(classes) {}
  static void check_batch(const engine::Tensor& batch);

 private:
  friend std::vector<Prediction> predict(Classifier& classifier, const engine::Tensor& batch,
                                         float temperature);
  engine::OnnxInfo info_;
  int classes_;
  engine::Tensor scores_;  // predict()'s logits, reused across calls
};

// Loads model_path for the chosen runtime. ModelError when the file is missing, damaged or not
// a 28x28 digit classifier the runtime can run.
std::unique_ptr<Classifier> make_classifier(EngineKind kind,
                                            const std::filesystem::path& model_path);

// One prediction per crop: a numerically stable softmax of logits / temperature.
// UsageError when temperature is not a positive finite number.
std::vector<Prediction> predict(Classifier& classifier, const engine::Tensor& batch,
                                float temperature = 1.0f);

}  // namespace digitcam::vision
