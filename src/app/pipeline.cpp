#include "digitcam/app/pipeline.hpp"

#include <tbb/parallel_pipeline.h>

#include <chrono>

#include "digitcam/engine/parallel.hpp"
#include "digitcam/vision/normalizer.hpp"

namespace digitcam::app {

namespace {

constexpr int crop_pixels = vision::normalized_side * vision::normalized_side;

}  // namespace

FrameAnalyser::FrameAnalyser(vision::Classifier& classifier, const PipelineSettings& settings)
    : classifier_(classifier), settings_(settings), segmenter_(settings.segmenter) {}

void FrameAnalyser::analyse(const cv::Mat& frame) {
  segmentation_ = segmenter_.segment(frame);
  const auto& candidates = segmentation_.candidates;
  const int count = static_cast<int>(candidates.size());
  batch_.resize({count, 1, vision::normalized_side, vision::normalized_side});
  predictions_.clear();
  boxes_.clear();
  inked_.clear();
  if (count == 0) return;
  const vision::NormalizeOptions normalize{segmentation_.polarity, settings_.match_stroke_width};
  has_ink_.assign(candidates.size(), 0);
  engine::parallel_for(candidates.size(), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      has_ink_[i] = vision::normalize_into(candidates[i].gray, normalize,
                                           batch_.data() + i * crop_pixels, candidates[i].ink_mask);
    }
  });
  predictions_ = vision::predict(classifier_, batch_, settings_.decision.temperature);
  // A candidate the normaliser found no ink in is not a digit, whatever the network says.
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!has_ink_[i]) continue;
    boxes_.push_back(candidates[i].box);
    inked_.push_back(predictions_[i]);
  }
}

bool FrameAnalyser::analyse_photo(const cv::Mat& image) {
  analyse(image);
  if (!segmentation_.candidates.empty()) return false;
  batch_.resize({1, 1, vision::normalized_side, vision::normalized_side});
  const vision::NormalizeOptions normalize{settings_.segmenter.polarity,
                                           settings_.match_stroke_width};
  if (!vision::normalize_into(image, normalize, batch_.data())) return false;
  predictions_ = vision::predict(classifier_, batch_, settings_.decision.temperature);
  boxes_.assign(1, cv::Rect(0, 0, image.cols, image.rows));
  inked_ = predictions_;
  return true;
}

Pipeline::Pipeline(vision::Classifier& classifier, PipelineSettings settings)
    : settings_(std::move(settings)),
      analyser_(classifier, settings_),
      tracker_(settings_.tracker) {}

FrameResult Pipeline::finish(const FrameAnalyser& analysed, std::int64_t index, double time_ms,
                             bool read_whole) {
  FrameResult result;
  result.frame = index;
  result.time_ms = time_ms;
  if (!analysed.boxes().empty()) {
    result.digits = vision::decide(analysed.boxes(), analysed.inked(), settings_.decision);
  }
  if (!read_whole) result.digits = tracker_.update(std::move(result.digits));
  result.numbers = vision::read_numbers(result.digits, settings_.reader);
  return result;
}

FrameResult Pipeline::process(const cv::Mat& frame, std::int64_t index, double time_ms) {
  analyser_.analyse(frame);
  return finish(analyser_, index, time_ms);
}

FrameResult Pipeline::process_photo(const cv::Mat& image, std::int64_t index) {
  const bool whole = analyser_.analyse_photo(image);
  return finish(analyser_, index, 0.0, whole);
}

void Pipeline::process_in_order(const std::function<bool(Frame&)>& next,
                                const std::function<void(const Frame&, FrameResult&&)>& deliver,
                                const ClassifierFactory& make_classifier, int in_flight) {
  // One slot per frame in flight. At most in_flight frames are in the pipeline and they leave it
  // in order, so when frame i + in_flight enters, frame i (the last user of slot i % in_flight)
  // has left: slots are reused round robin without locks.
  struct Slot {
    std::unique_ptr<vision::Classifier> classifier;
    std::unique_ptr<FrameAnalyser> analyser;
    Frame frame;
    bool whole = false;
    std::chrono::steady_clock::time_point started;
  };
  in_flight = std::max(1, in_flight);
  std::vector<Slot> slots(static_cast<std::size_t>(in_flight));
  for (Slot& slot : slots) {
    slot.classifier = make_classifier();
    slot.analyser = std::make_unique<FrameAnalyser>(*slot.classifier, settings_);
  }
  // ThreadSanitizer is told what TBB guarantees (engine::handoff_*): the serial stages run one
  // token at a time in order, and a slot passes from stage to stage.
  std::size_t entered = 0;
  const char input_order = 0, output_order = 0;
  const auto release_all = [&] {
    engine::handoff_release(&input_order);
    engine::handoff_release(&output_order);
    for (const Slot& slot : slots) engine::handoff_release(&slot);
  };
  const auto acquire_all = [&] {
    engine::handoff_acquire(&input_order);
    engine::handoff_acquire(&output_order);
    for (const Slot& slot : slots) engine::handoff_acquire(&slot);
  };
  release_all();
  tbb::parallel_pipeline(
      static_cast<std::size_t>(in_flight),
      tbb::make_filter<void, Slot*>(tbb::filter_mode::serial_in_order,
                                    [&](tbb::flow_control& control) -> Slot* {
                                      engine::handoff_acquire(&input_order);
                                      Slot& slot = slots[entered % slots.size()];
                                      engine::handoff_acquire(&slot);
                                      const bool more = next(slot.frame);
                                      if (more) ++entered;
                                      engine::handoff_release(&slot);
                                      engine::handoff_release(&input_order);
                                      if (!more) control.stop();
                                      return more ? &slot : nullptr;
                                    }) &
          tbb::make_filter<Slot*, Slot*>(tbb::filter_mode::parallel,
                                         [](Slot* slot) {
                                           engine::handoff_acquire(slot);
                                           const Frame& f = slot->frame;
                                           slot->started = std::chrono::steady_clock::now();
                                           slot->whole = false;
                                           if (f.name.empty()) {
                                             slot->analyser->analyse(f.image);
                                           } else {
                                             slot->whole = slot->analyser->analyse_photo(f.image);
                                           }
                                           engine::handoff_release(slot);
                                           return slot;
                                         }) &
          tbb::make_filter<Slot*, void>(tbb::filter_mode::serial_in_order, [&](Slot* slot) {
            engine::handoff_acquire(slot);
            engine::handoff_acquire(&output_order);
            const Frame& f = slot->frame;
            const bool photo = !f.name.empty();
            if (photo) tracker_.reset();  // separate pictures share no tracks
            FrameResult result =
                finish(*slot->analyser, f.index, photo ? 0.0 : f.time_ms, slot->whole);
            result.name = f.name;
            result.latency_ms = std::chrono::duration<double, std::milli>(
                                    std::chrono::steady_clock::now() - slot->started)
                                    .count();
            deliver(f, std::move(result));
            engine::handoff_release(&output_order);
            engine::handoff_release(slot);
          }));
  acquire_all();
}

}  // namespace digitcam::app
