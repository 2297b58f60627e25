#pragma once
// Links detections across frames so a digit held steady keeps one id and one label.
//   update(detections of frame t, rejected ones with label -1 included) -> the same detections
//   with `track` set and `label`, `confidence` and `probabilities` replaced by the track's.
// Matching: greedy by IoU (highest first) between this frame's boxes and each live track's last
// box. Evidence: per track, an exponentially decaying sum of the calibrated probabilities, with
// what they leave ("not a digit") as an eleventh class; the track's label changes only when
// another class leads by a margin (hysteresis), so one noisy frame does not flip it: a digit
// blurred in one frame stays that digit, and a person read as a "1" in one frame among frames
// that say "not a digit" stays not a digit (label -1). A track is reported only once it is
// confirmed, seen in confirm_frames frames (as multi-object trackers such as SORT do): a
// camera's clutter throws up shapes that look like a digit for a single frame, a written digit
// stays. Tracks already there in the first frame after a reset are confirmed at once, since
// there is no earlier frame to confirm them against. Unconfirmed tracks report label -1 with
// their best confidence, like a rejected candidate. Tracks unseen for max_missed frames end.
// Ids are never reused.

#include <vector>

#include "digitcam/vision/decision.hpp"

namespace digitcam::vision {

// A track's evidence: the ten digits, then "not a digit".
using Evidence = std::array<float, digit_classes + 1>;
inline constexpr std::size_t not_a_digit = digit_classes;

struct TrackerOptions {
  double min_iou = 0.3;         // a detection continues a track when their boxes overlap this much
  int max_missed = 5;           // frames a track survives without a detection
  float evidence_decay = 0.7f;  // weight of the past evidence at each new frame
  float switch_margin = 0.15f;  // a new label must lead the current one by this share of evidence
  int confirm_frames = 2;       // frames a track must be seen in before it is reported
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
    Evidence evidence{};
    int label = -1;
    int missed = 0;
    int seen = 0;            // frames this track was seen in
    bool confirmed = false;  // seen in confirm_frames frames, or there from the first frame
  };
  TrackerOptions options_;
  std::vector<Track> tracks_;
  int next_id_ = 0;
  bool first_frame_ = true;  // no update since construction or reset()
};

}  // namespace digitcam::vision
