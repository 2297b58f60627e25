// libFuzzer target: a picture's way from bytes to crops, as `digitcam run photo.png` takes it:
// the image source decodes the file (any format OpenCV reads, whatever the name says), then the
// recognizer segments it, normalises every candidate into a 28x28 crop and decides, tracks and
// reads numbers. The network is replaced by a classifier that scores every crop alike, so the
// fuzzer spends its time in decoding, segmentation and normalisation. Every input must give a
// result or end in a SourceError naming the file.

#include <cstddef>
#include <cstdint>

#include "digitcam/app/pipeline.hpp"
#include "digitcam/app/sources.hpp"
#include "digitcam/engine/error.hpp"
#include "fuzz_input_file.hpp"

namespace {

constexpr int class_count = 10;

// Equal logits for every crop: every class equally likely.
class FlatClassifier final : public digitcam::vision::Classifier {
 public:
  FlatClassifier() : Classifier(digitcam::engine::OnnxInfo{}, class_count) {}
  digitcam::vision::EngineKind kind() const override {
    return digitcam::vision::EngineKind::native;
  }
  void logits(const digitcam::engine::Tensor& batch, digitcam::engine::Tensor& out) override {
    check_batch(batch);
    out.resize({batch.shape().n, class_count, 1, 1});
    out.zero();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto path = digitcam::fuzz::scratch_path("photo.png");
  static FlatClassifier classifier;
  digitcam::fuzz::write_file(path, data, size);
  try {
    auto source = digitcam::app::open_source(path.string());
    digitcam::app::Frame frame;
    digitcam::app::Pipeline pipeline(classifier, digitcam::app::PipelineSettings{});
    while (source->read(frame)) (void)pipeline.process_photo(frame.image, frame.index);
  } catch (const digitcam::SourceError&) {
  }
  return 0;
}
