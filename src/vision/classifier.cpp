#include "digitcam/vision/classifier.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/network.hpp"

namespace digitcam::vision {

namespace {

namespace fs = std::filesystem;
using engine::Shape;
using engine::Tensor;

// The crop every classifier takes: one grey 28x28 image per item.
constexpr int crop_side = 28;
constexpr int crop_pixels = crop_side * crop_side;

// Writes model outputs as scores whose softmax is the model's probabilities.
void write_scores(const float* values, bool probabilities, std::size_t count, float* dst) {
  if (!probabilities) {
    std::copy_n(values, count, dst);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    dst[i] = std::log(std::max(values[i], Classifier::min_probability));
  }
}

class NativeClassifier final : public Classifier {
 public:
  explicit NativeClassifier(engine::OnnxModel model)
      : Classifier(std::move(model.info), model.network.classes()),
        network_(std::move(model.network)) {
    network_.set_mode(engine::Mode::inference);
    network_.set_parameters_fixed(true);  // nothing writes a loaded model's weights
  }

  EngineKind kind() const override { return EngineKind::native; }

  void logits(const Tensor& batch, Tensor& out) override {
    check_batch(batch);
    out.resize({batch.shape().n, classes(), 1, 1});
    if (batch.shape().n == 0) return;
    const Tensor& y = network_.forward(batch);
    write_scores(y.data(), info().outputs_probabilities, out.size(), out.data());
  }

 private:
  engine::Network network_;
};

// Feeds n crops laid out as [n, 1, 28, 28] to net in the layout the model declares (dims, whose
// [0] becomes n; every accepted layout has the same memory order) and returns the output blob.
cv::Mat run_net(cv::dnn::Net& net, const engine::OnnxInfo& info, const std::string& file,
                std::vector<int>& dims, cv::Mat& blob, const float* crops, int n) {
  dims[0] = n;
  blob.create(static_cast<int>(dims.size()), dims.data(), CV_32F);  // reuses blob's memory
  std::memcpy(blob.ptr<float>(), crops, static_cast<std::size_t>(n) * crop_pixels * sizeof(float));
  try {
    net.setInput(blob, info.input_name);
    cv::Mat y = net.forward();
    if (y.type() != CV_32F || !y.isContinuous()) {
      throw ModelError("OpenCV's dnn returned a non-float output for model '" + file + "'");
    }
    return y;
  } catch (const cv::Exception& e) {
    throw ModelError("OpenCV's dnn failed running model '" + file + "': " + e.what());
  }
}

class OpenCvClassifier final : public Classifier {
 public:
  OpenCvClassifier(engine::OnnxInfo info, std::string file, cv::dnn::Net net,
                   std::vector<int> input_dims, int classes, bool one_at_a_time)
      : Classifier(std::move(info), classes),
        file_(std::move(file)),
        net_(std::move(net)),
        input_dims_(std::move(input_dims)),
        one_at_a_time_(one_at_a_time) {}

  EngineKind kind() const override { return EngineKind::opencv; }

  void logits(const Tensor& batch, Tensor& out) override {
    check_batch(batch);
    const int n = batch.shape().n;
    out.resize({n, classes(), 1, 1});
    const int step = one_at_a_time_ ? 1 : std::max(n, 1);
    for (int first = 0; first < n; first += step) {
      const cv::Mat y = run_net(net_, info(), file_, input_dims_, blob_, batch.item(first), step);
      if (y.total() != static_cast<std::size_t>(step) * static_cast<std::size_t>(classes())) {
        throw ModelError("OpenCV's dnn returned " + std::to_string(y.total()) + " scores for " +
                         std::to_string(step) + " crops of " + std::to_string(classes()) +
                         " classes from '" + file_ + "'; the model does not output [N, K]");
      }
      write_scores(y.ptr<float>(), info().outputs_probabilities, y.total(), out.item(first));
    }
  }

 private:
  std::string file_;
  cv::dnn::Net net_;
  std::vector<int> input_dims_;  // declared input dims, [0] set to the batch size per call
  cv::Mat blob_;                 // reused input buffer
  // OpenCV 4.6 bakes shape arithmetic (PyTorch's view(x.size(0), -1)) for the batch size it
  // first sees; such models run one crop per call.
  bool one_at_a_time_;
};

std::unique_ptr<Classifier> make_opencv(const fs::path& path) {
  engine::OnnxInfo info = engine::read_onnx_info(path);
  const std::string file = path.string();
  // The layouts digitcam feeds: [N,1,28,28], [N,28,28,1], [N,28,28] or [N,784].
  std::vector<int> dims;
  std::int64_t per_item = 1;
  for (std::size_t k = 0; k < info.input_dims.size(); ++k) {
    if (k > 0) per_item *= info.input_dims[k];
    dims.push_back(
        k == 0 ? 1 : static_cast<int>(std::clamp<std::int64_t>(info.input_dims[k], -1, 1 << 20)));
  }
  const bool grey_crop = dims.size() >= 2 && dims.size() <= 4 && per_item == crop_pixels &&
                         (dims.size() != 4 || dims[1] == 1 || dims[3] == 1);
  if (!grey_crop) {
    throw ModelError("model '" + file + "' takes input '" + info.input_name +
                     "' of another shape than one 28x28 grey crop per item; use a "
                     "model trained on MNIST-style digits");
  }
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(file);
  } catch (const cv::Exception& e) {
    throw ModelError("OpenCV's dnn cannot read model '" + file + "': " + e.what());
  }
  if (net.empty()) throw ModelError("OpenCV's dnn read no network from '" + file + "'");
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  // One blank crop tells the number of classes and proves the network runs at all; two tell
  // whether it runs batches.
  const std::vector<float> blank(2 * crop_pixels, 0.0f);
  cv::Mat blob;
  const auto classes =
      static_cast<int>(run_net(net, info, file, dims, blob, blank.data(), 1).total());
  if (classes < 1) throw ModelError("model '" + file + "' outputs nothing in OpenCV's dnn");
  bool batches = false;
  try {
    batches = run_net(net, info, file, dims, blob, blank.data(), 2).total() ==
              2 * static_cast<std::size_t>(classes);
  } catch (const ModelError&) {
    batches = false;
  }
  return std::make_unique<OpenCvClassifier>(std::move(info), file, std::move(net), std::move(dims),
                                            classes, !batches);
}

}  // namespace

EngineKind parse_engine_kind(std::string_view text) {
  if (text == "native") return EngineKind::native;
  if (text == "opencv") return EngineKind::opencv;
  throw UsageError("unknown engine '" + std::string(text) + "'; use native or opencv");
}

std::string_view engine_kind_name(EngineKind kind) {
  return kind == EngineKind::native ? "native" : "opencv";
}

void Classifier::check_batch(const Tensor& batch) {
  const Shape& s = batch.shape();
  if (s.c != 1 || s.h != crop_side || s.w != crop_side) {
    throw ShapeError("classifier: expects crops [N, 1, 28, 28], got " + s.str());
  }
}

std::unique_ptr<Classifier> make_classifier(EngineKind kind, const fs::path& model_path) {
  if (kind == EngineKind::native) {
    return std::make_unique<NativeClassifier>(engine::load_onnx_model(model_path));
  }
  return make_opencv(model_path);
}

std::vector<Prediction> predict(Classifier& classifier, const Tensor& batch, float temperature) {
  if (!(temperature > 0.0f) || !std::isfinite(temperature)) {
    throw UsageError("softmax temperature must be a positive number, got " +
                     std::to_string(temperature));
  }
  Tensor& scores = classifier.scores_;
  classifier.logits(batch, scores);
  const int n = scores.shape().n, k = scores.shape().c;
  std::vector<Prediction> predictions(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const float* z = scores.item(i);
    Prediction& p = predictions[static_cast<std::size_t>(i)];
    p.probabilities.resize(static_cast<std::size_t>(k));
    // Subtracting the largest score keeps every exponent <= 0: no overflow, at least one 1.
    const float top = *std::max_element(z, z + k);
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += p.probabilities[j] = std::exp((z[j] - top) / temperature);
    for (float& v : p.probabilities) v /= sum;
    p.label = static_cast<int>(std::max_element(p.probabilities.begin(), p.probabilities.end()) -
                               p.probabilities.begin());
    p.confidence = p.probabilities[static_cast<std::size_t>(p.label)];
  }
  return predictions;
}

}  // namespace digitcam::vision
