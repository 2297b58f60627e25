#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/app/pipeline.hpp"
#include "digitcam/engine/parallel.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::app;

namespace {

constexpr int sample_frames = 60;  // enough for tracks to form, settle and end

std::vector<cv::Mat> sample_video_frames() {
  cv::VideoCapture capture((test::source_dir() / "samples" / "demo.avi").string(), cv::CAP_FFMPEG);
  REQUIRE(capture.isOpened());
  std::vector<cv::Mat> frames;
  for (cv::Mat frame; frames.size() < sample_frames && capture.read(frame);) {
    frames.push_back(frame.clone());
  }
  REQUIRE(frames.size() == sample_frames);
  return frames;
}

std::unique_ptr<vision::Classifier> committed_model() {
  return vision::make_classifier(vision::EngineKind::native,
                                 test::source_dir() / "models" / "digits.onnx");
}

PipelineSettings default_settings() {
  return load_calibration(test::source_dir() / "calibration" / "default.yml");
}

// Everything a sink sees of a result, but the latency (a time, not a reading).
void check_same(const FrameResult& a, const FrameResult& b) {
  CAPTURE(a.frame);
  CHECK(a.frame == b.frame);
  CHECK(a.time_ms == b.time_ms);
  CHECK(a.name == b.name);
  REQUIRE(a.digits.size() == b.digits.size());
  for (std::size_t i = 0; i < a.digits.size(); ++i) {
    CHECK(a.digits[i].box == b.digits[i].box);
    CHECK(a.digits[i].label == b.digits[i].label);
    CHECK(a.digits[i].confidence == b.digits[i].confidence);
    CHECK(a.digits[i].track == b.digits[i].track);
  }
  REQUIRE(a.numbers.size() == b.numbers.size());
  for (std::size_t i = 0; i < a.numbers.size(); ++i) {
    CHECK(a.numbers[i].value == b.numbers[i].value);
    CHECK(a.numbers[i].box == b.numbers[i].box);
  }
}

// Hands out the frames of a list in order, as a file source does.
struct FrameList {
  const std::vector<Frame>& frames;
  std::size_t next = 0;
  bool operator()(Frame& f) {
    if (next == frames.size()) return false;
    f = frames[next++];
    return true;
  }
};

std::vector<Frame> as_frames(const std::vector<cv::Mat>& images) {
  std::vector<Frame> frames(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    frames[i].image = images[i];
    frames[i].index = static_cast<std::int64_t>(i);
    frames[i].time_ms = 40.0 * static_cast<double>(i);
  }
  return frames;
}

}  // namespace

TEST_CASE("pipeline: frames in order through several analysers read what one at a time reads") {
  engine::ThreadBudget budget(2);
  const std::vector<cv::Mat> images = sample_video_frames();
  const std::vector<Frame> frames = as_frames(images);
  auto classifier = committed_model();

  Pipeline one_at_a_time(*classifier, default_settings());
  std::vector<FrameResult> expected;
  for (const Frame& f : frames)
    expected.push_back(one_at_a_time.process(f.image, f.index, f.time_ms));
  std::size_t digits = 0;
  for (const FrameResult& r : expected) digits += r.digits.size();
  REQUIRE(digits >
          5 * frames.size());  // the sample's card is read, so the comparison means something

  for (const int in_flight : {1, 2, 3}) {
    CAPTURE(in_flight);
    Pipeline in_order(*classifier, default_settings());
    std::vector<FrameResult> got;
    std::vector<std::int64_t> delivered_frames;
    in_order.process_in_order(
        FrameList{frames},
        [&](const Frame& f, FrameResult&& r) {
          delivered_frames.push_back(f.index);
          CHECK(r.latency_ms >= 0.0);
          got.push_back(std::move(r));
        },
        committed_model, in_flight);
    REQUIRE(got.size() == expected.size());
    CHECK(std::is_sorted(delivered_frames.begin(), delivered_frames.end()));
    for (std::size_t i = 0; i < got.size(); ++i) check_same(got[i], expected[i]);
  }
}

TEST_CASE("pipeline: named frames are photos, read as process_photo reads them, tracks reset") {
  engine::ThreadBudget budget(2);
  auto classifier = committed_model();
  std::vector<Frame> frames;
  for (const char* name : {"1_small_grey.png", "2_big.png", "9_white_on_black.png"}) {
    Frame f;
    f.image = cv::imread((test::source_dir() / "samples" / "photo" / name).string());
    REQUIRE(!f.image.empty());
    f.index = static_cast<std::int64_t>(frames.size());
    f.name = name;
    frames.push_back(f);
  }
  Pipeline one_at_a_time(*classifier, default_settings());
  std::vector<FrameResult> expected;
  for (const Frame& f : frames) {
    one_at_a_time.reset_tracks();
    expected.push_back(one_at_a_time.process_photo(f.image, f.index));
    expected.back().name = f.name;
  }
  Pipeline in_order(*classifier, default_settings());
  std::vector<FrameResult> got;
  in_order.process_in_order(
      FrameList{frames}, [&](const Frame&, FrameResult&& r) { got.push_back(std::move(r)); },
      committed_model, 2);
  REQUIRE(got.size() == frames.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    check_same(got[i], expected[i]);
    REQUIRE(!got[i].digits.empty());
    CHECK(got[i].digits.front().label == got[i].name.front() - '0');
  }
}

TEST_CASE(
    "pipeline: an error in the sink or the source ends the frames in order and reaches the "
    "caller; nothing after it is delivered") {
  engine::ThreadBudget budget(2);
  const std::vector<Frame> frames = as_frames(sample_video_frames());
  auto classifier = committed_model();
  Pipeline pipeline(*classifier, default_settings());

  std::vector<std::int64_t> delivered;
  const auto failing_sink = [&](const Frame& f, FrameResult&&) {
    if (f.index == 7) throw std::runtime_error("disk full at frame 7");
    delivered.push_back(f.index);
  };
  CHECK_THROWS_WITH_AS(
      pipeline.process_in_order(FrameList{frames}, failing_sink, committed_model, 2),
      "disk full at frame 7", std::runtime_error);
  CHECK(delivered == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6});

  delivered.clear();
  std::size_t handed = 0;
  const auto failing_source = [&](Frame& f) {
    if (handed == 4) throw std::runtime_error("stream lost after 4 frames");
    f = frames[handed++];
    return true;
  };
  CHECK_THROWS_WITH_AS(
      pipeline.process_in_order(
          failing_source, [&](const Frame& f, FrameResult&&) { delivered.push_back(f.index); },
          committed_model, 2),
      "stream lost after 4 frames", std::runtime_error);
  CHECK(delivered.size() <= 4);
  CHECK(std::is_sorted(delivered.begin(), delivered.end()));
}
