#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "digitcam/vision/tracker.hpp"

using namespace digitcam::vision;

namespace {

// A detection as decide() would hand it over: `confidence` on `label`, the rest spread evenly.
Detection digit(int label, cv::Rect box, float confidence = 0.9f) {
  Detection d;
  d.box = box;
  d.label = label;
  d.confidence = confidence;
  d.probabilities.fill((1.0f - confidence) / (digit_classes - 1));
  d.probabilities[static_cast<std::size_t>(label)] = confidence;
  return d;
}

Detection rejected(cv::Rect box) {
  Detection d;
  d.box = box;
  d.label = -1;
  d.confidence = 0.3f;
  return d;
}

const cv::Rect left_box{100, 100, 30, 40};
const cv::Rect right_box{150, 100, 30, 40};

}  // namespace

TEST_CASE("tracker: a digit held steady keeps its id through small motion") {
  Tracker tracker;
  const int id = tracker.update({digit(4, left_box)})[0].track;
  CHECK(id >= 0);
  for (int frame = 1; frame <= 6; ++frame) {
    const cv::Rect moved = left_box + cv::Point(2 * frame, -frame);  // a hand drifting slowly
    const std::vector<Detection> out = tracker.update({digit(4, moved)});
    REQUIRE(out.size() == 1);
    CHECK_MESSAGE(out[0].track == id, "frame " << frame);
    CHECK(out[0].label == 4);
    CHECK(out[0].box == moved);
  }
}

TEST_CASE("tracker: a digit held steady keeps its id and label through one noisy frame") {
  Tracker tracker;
  int id = -1;
  for (int frame = 0; frame < 5; ++frame) id = tracker.update({digit(7, left_box)})[0].track;
  const std::vector<Detection> noisy = tracker.update({digit(1, left_box, 0.95f)});
  REQUIRE(noisy.size() == 1);
  CHECK(noisy[0].track == id);
  CHECK(noisy[0].label == 7);
  // The reported confidence is the track's share of evidence for 7, not the frame's 0.05.
  CHECK(noisy[0].confidence > 0.5f);
  CHECK(noisy[0].confidence == doctest::Approx(noisy[0].probabilities[7]));
  const std::vector<Detection> after = tracker.update({digit(7, left_box)});
  CHECK(after[0].label == 7);
  CHECK(after[0].track == id);
}

TEST_CASE("tracker: a new label seen consistently takes over after a few frames") {
  Tracker tracker;
  for (int frame = 0; frame < 8; ++frame) tracker.update({digit(3, left_box)});
  int switched_at = -1;
  for (int frame = 1; frame <= 10 && switched_at < 0; ++frame) {
    const std::vector<Detection> out = tracker.update({digit(8, left_box)});
    if (out[0].label == 8) switched_at = frame;
  }
  CHECK(switched_at >= 2);  // not on the first frame: that could be noise
  CHECK(switched_at <= 5);
}

TEST_CASE("tracker: confidence is steady while the frames' confidence wavers") {
  Tracker tracker;
  const float frame_confidence[] = {0.95f, 0.7f, 0.99f, 0.65f, 0.9f, 0.75f, 0.97f, 0.7f};
  float lowest = 1.0f, highest = 0.0f;
  for (int frame = 0; frame < 8; ++frame) {
    const Detection out = tracker.update({digit(2, left_box, frame_confidence[frame])})[0];
    if (frame >= 4) {
      lowest = std::min(lowest, out.confidence);
      highest = std::max(highest, out.confidence);
    }
  }
  CHECK(highest - lowest < 0.1f);  // the frames themselves swing by 0.27
}

TEST_CASE("tracker: a track ends after max_missed empty frames and its place gets a new id") {
  TrackerOptions options;
  options.max_missed = 3;
  Tracker tracker(options);
  const int first = tracker.update({digit(5, left_box)})[0].track;

  SUBCASE("back after max_missed empty frames: the same track") {
    for (int frame = 0; frame < options.max_missed; ++frame) tracker.update({});
    CHECK(tracker.update({digit(5, left_box)})[0].track == first);
  }
  SUBCASE("back after one more empty frame: a new track") {
    for (int frame = 0; frame <= options.max_missed; ++frame) tracker.update({});
    const int second = tracker.update({digit(5, left_box)})[0].track;
    CHECK(second != first);
    CHECK(second >= 0);
  }
}

TEST_CASE("tracker: two digits side by side keep separate ids") {
  Tracker tracker;
  const std::vector<Detection> first = tracker.update({digit(4, left_box), digit(2, right_box)});
  REQUIRE(first.size() == 2);
  CHECK(first[0].track != first[1].track);
  for (int frame = 1; frame <= 4; ++frame) {
    const cv::Point drift(frame, frame);
    // Given in the other order this time: matching goes by position, not by index.
    const std::vector<Detection> out =
        tracker.update({digit(2, right_box + drift), digit(4, left_box + drift)});
    REQUIRE(out.size() == 2);
    CHECK(out[0].track == first[1].track);
    CHECK(out[0].label == 2);
    CHECK(out[1].track == first[0].track);
    CHECK(out[1].label == 4);
  }
}

TEST_CASE("tracker: rejected candidates are tracked, and their track is not a digit") {
  Tracker tracker;
  const Detection first = tracker.update({rejected(left_box)})[0];
  CHECK(first.track >= 0);
  CHECK(first.label == -1);
  const Detection second = tracker.update({rejected(left_box)})[0];
  CHECK(second.track == first.track);
  CHECK(second.label == -1);
}

TEST_CASE(
    "tracker: read as a digit in one frame among frames that say not a digit, still not one") {
  // A person walking past is "not a digit" in most frames and a confident "1" in a few.
  Tracker tracker;
  for (int frame = 0; frame < 3; ++frame) tracker.update({rejected(left_box)});
  const Detection out = tracker.update({digit(1, left_box, 1.0f)})[0];
  CHECK(out.label == -1);
  CHECK(out.confidence < 0.5f);  // the best digit's share of the track's evidence
  // Seen as a "1" frame after frame, it becomes one.
  Detection later = out;
  for (int frame = 0; frame < 5; ++frame) later = tracker.update({digit(1, left_box, 1.0f)})[0];
  CHECK(later.label == 1);
  CHECK(later.track == out.track);
}

TEST_CASE("tracker: a digit rejected in one frame (blur, a finger) stays that digit") {
  Tracker tracker;
  for (int frame = 0; frame < 3; ++frame) tracker.update({digit(6, left_box, 0.95f)});
  // decide() hands over a rejected candidate with its probabilities: a blurred 6, unsure.
  Detection blurred = digit(6, left_box, 0.4f);
  blurred.label = -1;
  const Detection out = tracker.update({blurred})[0];
  CHECK(out.label == 6);
  CHECK(out.confidence > 0.6f);
}

TEST_CASE("tracker: ids are never reused, even after reset") {
  Tracker tracker;
  const int first = tracker.update({digit(1, left_box)})[0].track;
  tracker.reset();
  const int second = tracker.update({digit(1, left_box)})[0].track;
  CHECK(second != first);
  tracker.reset();
  const int third = tracker.update({digit(1, right_box)})[0].track;
  CHECK(third != first);
  CHECK(third != second);
}

TEST_CASE("tracker: detections without probabilities still count for their label") {
  Tracker tracker;
  Detection bare;
  bare.box = left_box;
  bare.label = 9;
  const Detection out = tracker.update({bare})[0];
  CHECK(out.label == 9);
  CHECK(out.track >= 0);
  CHECK(out.confidence == doctest::Approx(1.0f));
}

TEST_CASE("tracker: a digit that appears after the first frame is reported from its second") {
  Tracker tracker;
  tracker.update({digit(4, left_box)});

  // A shape in the clutter that looks like a confident "1" for one frame only.
  const std::vector<Detection> flash =
      tracker.update({digit(4, left_box), digit(1, right_box, 1.0f)});
  REQUIRE(flash.size() == 2);
  CHECK(flash[0].label == 4);
  CHECK(flash[1].label == -1);
  CHECK(flash[1].track >= 0);
  CHECK(flash[1].confidence == doctest::Approx(1.0f));  // how close it came, as for a rejection

  // A written digit stays: seen again, it is confirmed and keeps its id.
  const std::vector<Detection> again =
      tracker.update({digit(4, left_box), digit(1, right_box, 1.0f)});
  REQUIRE(again.size() == 2);
  CHECK(again[1].label == 1);
  CHECK(again[1].track == flash[1].track);

  SUBCASE("the first frame after a reset has nothing to confirm against: reported at once") {
    tracker.reset();
    const std::vector<Detection> out = tracker.update({digit(7, right_box)});
    REQUIRE(out.size() == 1);
    CHECK(out[0].label == 7);
  }
  SUBCASE("confirm_frames = 1 reports every track at once") {
    TrackerOptions options;
    options.confirm_frames = 1;
    Tracker eager(options);
    eager.update({});
    CHECK(eager.update({digit(3, left_box)})[0].label == 3);
  }
}
