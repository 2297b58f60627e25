#include "digitcam/app/pipeline.hpp"

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
  if (read_whole) {
    if (!analysed.boxes().empty()) {
      result.digits = vision::decide(analysed.boxes(), analysed.inked(), settings_.decision);
    }
  } else {
    result.digits = track(analysed);
  }
  result.numbers = vision::read_numbers(result.digits, settings_.reader);
  return result;
}

std::vector<vision::Detection> Pipeline::track(const FrameAnalyser& analysed) {
  // Rejected candidates are tracked too, and the decision is taken again on each track's
  // evidence: a person read as a "1" in one frame among frames that say "not a digit" stays
  // not a digit, and a digit blurred in one frame stays a digit.
  vision::DecisionOptions every_candidate = settings_.decision;
  every_candidate.keep_rejected = true;
  std::vector<vision::Detection> digits =
      tracker_.update(analysed.boxes().empty()
                          ? std::vector<vision::Detection>{}
                          : vision::decide(analysed.boxes(), analysed.inked(), every_candidate));
  vision::reject_unsure(digits, settings_.decision);
  return digits;
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
  // Frames are taken in_flight at a time, analysed side by side (one analyser and classifier
  // each; the first is the pipeline's own), then finished and delivered in order on the calling
  // thread, so the sinks and the tracker stay on one thread. Each frame's own loops run on its
  // thread (engine::parallel_for does not split again inside a chunk); waiting for a group's
  // slowest frame costs little, since the frames of a video cost about the same.
  struct Slot {
    FrameAnalyser* analyser = nullptr;
    Frame frame;
    bool whole = false;  // a photo read whole (see FrameAnalyser::analyse_photo)
    std::chrono::steady_clock::time_point started;
  };
  std::vector<Slot> slots(static_cast<std::size_t>(std::max(1, in_flight)));
  while (side_analysers_.size() + 1 < slots.size()) {
    SideAnalyser side;
    side.classifier = make_classifier();
    side.analyser = std::make_unique<FrameAnalyser>(*side.classifier, settings_);
    side_analysers_.push_back(std::move(side));
  }
  slots[0].analyser = &analyser_;
  for (std::size_t i = 1; i < slots.size(); ++i)
    slots[i].analyser = side_analysers_[i - 1].analyser.get();
  for (bool more = true; more;) {
    std::size_t taken = 0;
    while (taken < slots.size() && (more = next(slots[taken].frame))) ++taken;
    engine::parallel_for(taken, 1, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        Slot& slot = slots[i];
        slot.started = std::chrono::steady_clock::now();
        slot.whole = false;
        if (slot.frame.name.empty()) {
          slot.analyser->analyse(slot.frame.image);
        } else {
          slot.whole = slot.analyser->analyse_photo(slot.frame.image);
        }
      }
    });
    for (std::size_t i = 0; i < taken; ++i) {
      const Slot& slot = slots[i];
      const Frame& f = slot.frame;
      const bool photo = !f.name.empty();
      if (photo) tracker_.reset();  // separate pictures share no tracks
      FrameResult result = finish(*slot.analyser, f.index, photo ? 0.0 : f.time_ms, slot.whole);
      result.name = f.name;
      result.latency_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - slot.started)
              .count();
      deliver(f, std::move(result));
    }
  }
}

}  // namespace digitcam::app
