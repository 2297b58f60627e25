#pragma once
// One frame's way through the recognizer (DESIGN.md): segment -> normalise every candidate into
// one batch -> classify the batch -> decide (calibrated confidence, reject) -> track -> read
// numbers. The pipeline owns its stages' state (segmenter buffers, the batch, the tracker) and
// borrows the classifier; one Pipeline per processing thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/app/frame_result.hpp"
#include "digitcam/app/sources.hpp"
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

// segment -> normalise every candidate into one batch -> classify: the part of a frame's way
// that needs nothing from other frames. Owns the segmenter's buffers and the batch, borrows the
// classifier; one analyser per frame in flight.
class FrameAnalyser {
 public:
  FrameAnalyser(vision::Classifier& classifier, const PipelineSettings& settings);
  FrameAnalyser(const FrameAnalyser&) = delete;
  FrameAnalyser& operator=(const FrameAnalyser&) = delete;

  // frame: BGR or grey, any size.
  void analyse(const cv::Mat& frame);
  // A still photo: analyse(); when the segmenter finds nothing (a digit filling the picture, or
  // touching its edges), the whole picture is read as one digit. True when it was.
  bool analyse_photo(const cv::Mat& image);

  const vision::Segmentation& segmentation() const { return segmentation_; }
  const engine::Tensor& crops() const { return batch_; }
  const std::vector<vision::Prediction>& predictions() const { return predictions_; }
  // decide()'s input: the boxes of the candidates the normaliser found ink in, and their
  // predictions.
  const std::vector<cv::Rect>& boxes() const { return boxes_; }
  const std::vector<vision::Prediction>& inked() const { return inked_; }

 private:
  vision::Classifier& classifier_;
  const PipelineSettings& settings_;
  vision::Segmenter segmenter_;
  vision::Segmentation segmentation_;
  engine::Tensor batch_;
  std::vector<vision::Prediction> predictions_;
  std::vector<char> has_ink_;
  std::vector<cv::Rect> boxes_;
  std::vector<vision::Prediction> inked_;
};

class Pipeline {
 public:
  Pipeline(vision::Classifier& classifier, PipelineSettings settings);
  Pipeline(const Pipeline&) = delete;  // the analyser refers to settings_
  Pipeline& operator=(const Pipeline&) = delete;

  // frame: BGR or grey, any size. Fills everything in FrameResult but `name` and `latency_ms`.
  FrameResult process(const cv::Mat& frame, std::int64_t index, double time_ms);

  // A still photo of (usually) one digit: process() first; when the segmenter finds nothing
  // (a digit filling the picture, or touching its edges), the whole picture is read as one digit.
  FrameResult process_photo(const cv::Mat& image, std::int64_t index);

  // The frames of a file, `in_flight` at a time: each frame of a group is analysed on its own
  // analyser side by side with the others (the pipeline's own, and in_flight - 1 more, each with
  // a classifier from make_classifier, made at the first call that needs them and kept), then they
  // are decided, tracked and read in frame order. next() hands over the next frame (false: no
  // more); deliver() gets every frame with its result (name and latency, from the start of its
  // analysis, filled in), in order, on the calling thread. Named frames are photos
  // (process_photo, tracks reset). An exception from next, deliver or a stage ends the run and
  // reaches the caller.
  using ClassifierFactory = std::function<std::unique_ptr<vision::Classifier>()>;
  void process_in_order(const std::function<bool(Frame&)>& next,
                        const std::function<void(const Frame&, FrameResult&&)>& deliver,
                        const ClassifierFactory& make_classifier, int in_flight);

  // What the last process() saw, for the debug view.
  const vision::Segmentation& segmentation() const { return analyser_.segmentation(); }
  const engine::Tensor& crops() const { return analyser_.crops(); }
  const std::vector<vision::Prediction>& predictions() const { return analyser_.predictions(); }

  const PipelineSettings& settings() const { return settings_; }
  void set_reject_threshold(float threshold) { settings_.decision.reject_threshold = threshold; }
  void reset_tracks() { tracker_.reset(); }

 private:
  // decide -> track -> read on what an analyser found; a photo read whole is not tracked.
  FrameResult finish(const FrameAnalyser& analysed, std::int64_t index, double time_ms,
                     bool read_whole = false);
  // Every candidate decided, tracked and decided again on its track's evidence; the rejected
  // ones are dropped unless the settings keep them.
  std::vector<vision::Detection> track(const FrameAnalyser& analysed);

  // An analyser beside the pipeline's own, for frames side by side, with the classifier it uses.
  struct SideAnalyser {
    std::unique_ptr<vision::Classifier> classifier;
    std::unique_ptr<FrameAnalyser> analyser;
  };

  PipelineSettings settings_;
  FrameAnalyser analyser_;
  vision::Tracker tracker_;
  std::vector<SideAnalyser> side_analysers_;
};

}  // namespace digitcam::app
