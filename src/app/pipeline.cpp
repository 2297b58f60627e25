#include "digitcam/app/pipeline.hpp"

#include "digitcam/engine/parallel.hpp"
#include "digitcam/vision/normalizer.hpp"

namespace digitcam::app {

namespace {

constexpr int crop_pixels = vision::normalized_side * vision::normalized_side;

}  // namespace

Pipeline::Pipeline(vision::Classifier& classifier, PipelineSettings settings)
    : classifier_(classifier),
      settings_(std::move(settings)),
      segmenter_(settings_.segmenter),
      tracker_(settings_.tracker) {}

FrameResult Pipeline::process(const cv::Mat& frame, std::int64_t index, double time_ms) {
  FrameResult result;
  result.frame = index;
  result.time_ms = time_ms;
  segmentation_ = segmenter_.segment(frame);
  const auto& candidates = segmentation_.candidates;
  const int count = static_cast<int>(candidates.size());
  batch_.resize({count, 1, vision::normalized_side, vision::normalized_side});
  predictions_.clear();
  if (count > 0) {
    const vision::NormalizeOptions normalize{segmentation_.polarity, settings_.match_stroke_width};
    has_ink_.assign(candidates.size(), 0);
    engine::parallel_for(candidates.size(), 1, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        has_ink_[i] = vision::normalize_into(
            candidates[i].gray, normalize, batch_.data() + i * crop_pixels, candidates[i].ink_mask);
      }
    });
    predictions_ = vision::predict(classifier_, batch_, settings_.decision.temperature);
    // A candidate the normaliser found no ink in is not a digit, whatever the network says.
    boxes_.clear();
    inked_.clear();
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (!has_ink_[i]) continue;
      boxes_.push_back(candidates[i].box);
      inked_.push_back(predictions_[i]);
    }
    result.digits = vision::decide(boxes_, inked_, settings_.decision);
  }
  result.digits = tracker_.update(std::move(result.digits));
  result.numbers = vision::read_numbers(result.digits, settings_.reader);
  return result;
}

FrameResult Pipeline::process_photo(const cv::Mat& image, std::int64_t index) {
  FrameResult result = process(image, index, 0.0);
  if (!segmentation_.candidates.empty()) return result;
  batch_.resize({1, 1, vision::normalized_side, vision::normalized_side});
  const vision::NormalizeOptions normalize{settings_.segmenter.polarity,
                                           settings_.match_stroke_width};
  if (!vision::normalize_into(image, normalize, batch_.data())) return result;
  predictions_ = vision::predict(classifier_, batch_, settings_.decision.temperature);
  const std::vector<cv::Rect> whole{cv::Rect(0, 0, image.cols, image.rows)};
  result.digits = vision::decide(whole, predictions_, settings_.decision);
  result.numbers = vision::read_numbers(result.digits, settings_.reader);
  return result;
}

}  // namespace digitcam::app
