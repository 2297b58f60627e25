#include "digitcam/vision/tracker.hpp"

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <utility>

namespace digitcam::vision {

namespace {

// A possible continuation: track `track` seen again as detection `detection`.
struct Match {
  double iou = 0.0;
  std::size_t track = 0;
  std::size_t detection = 0;
};

double iou(const cv::Rect& a, const cv::Rect& b) {
  const double overlap = (a & b).area();
  const double joined = static_cast<double>(a.area()) + b.area() - overlap;
  return joined > 0.0 ? overlap / joined : 0.0;
}

// What one frame says about a detection: its digit probabilities and, last, the rest of the
// probability ("not a digit", or rejected). Hand-made or stub detections may carry no
// probabilities; their label then counts with its confidence (or fully, without one), so the
// evidence is never all zero.
Evidence frame_evidence(const Detection& detection) {
  Evidence evidence{};
  std::copy(detection.probabilities.begin(), detection.probabilities.end(), evidence.begin());
  const float total = std::accumulate(evidence.begin(), evidence.end(), 0.0f);
  if (total > 0.0f) {
    evidence[not_a_digit] = std::max(0.0f, 1.0f - total);
    return evidence;
  }
  const bool digit = detection.label >= 0 && detection.label < digit_classes;
  evidence[digit ? static_cast<std::size_t>(detection.label) : not_a_digit] =
      digit && detection.confidence > 0.0f ? detection.confidence : 1.0f;
  return evidence;
}

int leading_class(const Evidence& evidence) {
  return static_cast<int>(std::max_element(evidence.begin(), evidence.end()) - evidence.begin());
}

}  // namespace

Tracker::Tracker(TrackerOptions options) : options_(options) {}

void Tracker::reset() {
  // next_id_ keeps counting: an id names one digit for the whole run, even across files.
  tracks_.clear();
  first_frame_ = true;
}

std::vector<Detection> Tracker::update(std::vector<Detection> detections) {
  // Every (track, detection) pair that overlaps enough, best first; greedy assignment is exact
  // enough for a sheet of separated digits and costs O(tracks x detections).
  std::vector<Match> candidates;
  for (std::size_t t = 0; t < tracks_.size(); ++t) {
    for (std::size_t d = 0; d < detections.size(); ++d) {
      const double overlap = iou(tracks_[t].box, detections[d].box);
      if (overlap >= options_.min_iou && overlap > 0.0) candidates.push_back({overlap, t, d});
    }
  }
  // Ties broken by index so the outcome does not depend on the sort's whims.
  std::sort(candidates.begin(), candidates.end(), [](const Match& a, const Match& b) {
    if (a.iou != b.iou) return a.iou > b.iou;
    if (a.track != b.track) return a.track < b.track;
    return a.detection < b.detection;
  });

  std::vector<char> track_seen(tracks_.size(), 0);
  std::vector<char> detection_used(detections.size(), 0);

  // Folds the frame into the track's evidence, lets the label switch only past the margin, and
  // reports the track's view back on the detection.
  const auto observe = [this](Track& track, Detection& detection) {
    const Evidence now = frame_evidence(detection);
    for (std::size_t c = 0; c < now.size(); ++c) {
      track.evidence[c] = options_.evidence_decay * track.evidence[c] + now[c];
    }
    track.box = detection.box;
    track.missed = 0;
    ++track.seen;
    track.confirmed = track.confirmed || track.seen >= options_.confirm_frames;

    const float total = std::accumulate(track.evidence.begin(), track.evidence.end(), 0.0f);
    const int leader = leading_class(track.evidence);
    if (track.label < 0) {
      track.label = leader;
    } else if (leader != track.label) {
      const float lead = track.evidence[static_cast<std::size_t>(leader)] -
                         track.evidence[static_cast<std::size_t>(track.label)];
      if (lead > options_.switch_margin * total) track.label = leader;
    }

    // Normalised evidence: steady from frame to frame, and with "not a digit" still summing to 1.
    for (std::size_t c = 0; c < detection.probabilities.size(); ++c) {
      detection.probabilities[c] = track.evidence[c] / total;
    }
    const bool digit = track.label < digit_classes && track.confirmed;
    detection.label = digit ? track.label : -1;
    // A track that is not (yet) a digit reports how close its best digit came, as decide() does.
    detection.confidence =
        digit ? detection.probabilities[static_cast<std::size_t>(track.label)]
              : *std::max_element(detection.probabilities.begin(), detection.probabilities.end());
    detection.track = track.id;
  };

  for (const Match& match : candidates) {
    if (track_seen[match.track] || detection_used[match.detection]) continue;
    track_seen[match.track] = 1;
    detection_used[match.detection] = 1;
    observe(tracks_[match.track], detections[match.detection]);
  }

  // A track survives max_missed unseen frames; the next unseen frame ends it.
  std::size_t kept = 0;
  for (std::size_t t = 0; t < tracks_.size(); ++t) {
    if (!track_seen[t] && ++tracks_[t].missed > options_.max_missed) continue;
    if (kept != t) tracks_[kept] = tracks_[t];
    ++kept;
  }
  tracks_.resize(kept);

  for (std::size_t d = 0; d < detections.size(); ++d) {
    Detection& detection = detections[d];
    if (detection_used[d]) continue;
    Track track;
    track.id = next_id_++;
    track.confirmed = first_frame_;
    observe(track, detection);
    tracks_.push_back(track);
  }
  first_frame_ = false;
  return detections;
}

}  // namespace digitcam::vision
