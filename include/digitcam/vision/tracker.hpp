#pragma once
// Links detections across frames so a digit held steady keeps one id and one label.
//   update(detections of frame t) -> the same detections with `track` set and, where a track's
//   accumulated evidence says so, `label` and `confidence` replaced by the track's.
// Matching: greedy by IoU (highest first) between this frame's boxes and each live track's last
// box. Evidence: per track, an exponentially decaying sum of the calibrated probabilities; the
// track's label changes only when another class leads by a margin (hysteresis), so one noisy
// frame does not flip it. Tracks unseen for max_missed frames end. Ids are never reused.

#include <vector>

#include "digitcam/vision/decision.hpp"

namespace digitcam::vision {

struct TrackerOptions {
  double min_iou = 0.3;         // a detection continues a track when their boxes overlap this much
  int max_missed = 5;           // frames a track survives without a detection
  float evidence_decay = 0.7f;  // weight of the past evidence at each new frame
  float switch_margin = 0.15f;  // a new label must lead the current one by this share of evidence
};

class Tracker {
 public:
  explicit Tracker(TrackerOptions options = {});
  std::vector<Detection> update(std::vector<Detection> detections);
  void reset();  // forget every track (a new file, a seek)

 private:
  struct Track {
    int id = 0;
    cv::Rect box;
    std::array<float, digit_classes> evidence{};
    int label = -1;
    int missed = 0;
  };
  TrackerOptions options_;
  std::vector<Track> tracks_;
  int next_id_ = 0;
};

}  // namespace digitcam::vision
