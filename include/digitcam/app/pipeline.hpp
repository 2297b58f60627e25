#pragma once
// One frame's way through the recognizer (DESIGN.md): segment -> normalise every candidate into
// one batch -> classify the batch -> decide (calibrated confidence, reject) -> track -> read
// numbers. The pipeline owns its stages' state (segmenter buffers, the batch, the tracker) and
// borrows the classifier; one Pipeline per processing thread.

#include <cstdint>

#include <opencv2/core.hpp>

#include "digitcam/app/frame_result.hpp"
#include "digitcam/engine/tensor.hpp"
#include "digitcam/vision/classifier.hpp"
#include "digitcam/vision/segmenter.hpp"
#include "digitcam/vision/tracker.hpp"

namespace digitcam::app {

// Every tunable of the recognizer; calibration/default.yml holds them (see calibration.hpp).
struct PipelineSettings {
  vision::SegmenterOptions segmenter;
  bool match_stroke_width = true;
  vision::DecisionOptions decision;
  vision::TrackerOptions tracker;
  vision::ReaderOptions reader;
};

class Pipeline {
 public:
  Pipeline(vision::Classifier& classifier, PipelineSettings settings);

  // frame: BGR or grey, any size. Fills everything in FrameResult but `name` and `latency_ms`.
  FrameResult process(const cv::Mat& frame, std::int64_t index, double time_ms);

  // A still photo of (usually) one digit: process() first; when the segmenter finds nothing
  // (a digit filling the picture, or touching its edges), the whole picture is read as one digit.
  FrameResult process_photo(const cv::Mat& image, std::int64_t index);

  // What the last process() saw, for the debug view.
  const vision::Segmentation& segmentation() const { return segmentation_; }
  const engine::Tensor& crops() const { return batch_; }
  const std::vector<vision::Prediction>& predictions() const { return predictions_; }

  const PipelineSettings& settings() const { return settings_; }
  void set_reject_threshold(float threshold) { settings_.decision.reject_threshold = threshold; }
  void reset_tracks() { tracker_.reset(); }

 private:
  vision::Classifier& classifier_;
  PipelineSettings settings_;
  vision::Segmenter segmenter_;
  vision::Tracker tracker_;
  vision::Segmentation segmentation_;
  engine::Tensor batch_;
  std::vector<vision::Prediction> predictions_;
  // decide()'s input, reused across frames: the candidates the normaliser found ink in.
  std::vector<char> has_ink_;
  std::vector<cv::Rect> boxes_;
  std::vector<vision::Prediction> inked_;
};

}  // namespace digitcam::app
