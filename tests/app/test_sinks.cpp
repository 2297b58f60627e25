#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/app/frame_result.hpp"
#include "digitcam/app/sinks.hpp"
#include "digitcam/engine/error.hpp"
#include "support/run_binary.hpp"

using digitcam::app::AnnotatedVideoWriter;
using digitcam::app::FrameResult;
using digitcam::app::JsonLinesWriter;
using digitcam::app::RunSummary;
using digitcam::app::to_json_line;
using digitcam::test::slurp;
using digitcam::test::TempFolder;

namespace {

FrameResult known_result() {
  FrameResult r;
  r.frame = 12;
  r.time_ms = 400.0;
  digitcam::vision::Detection four;
  four.box = cv::Rect(10, 20, 15, 30);
  four.label = 4;
  four.confidence = 0.98f;
  four.track = 3;
  digitcam::vision::Detection seven = four;
  seven.box = cv::Rect(30, 21, 14, 29);
  seven.label = 7;
  seven.confidence = 0.5f;
  seven.track = 5;
  r.digits = {four, seven};
  digitcam::vision::Number number;
  number.value = "47";
  number.box = cv::Rect(10, 20, 34, 30);
  number.digits = {0, 1};
  r.numbers = {number};
  return r;
}

}  // namespace

TEST_CASE("sinks: a JSON line has exactly the format of DESIGN.md") {
  CHECK(to_json_line(known_result()) ==
        "{\"frame\":12,\"time_ms\":400.000,\"digits\":["
        "{\"label\":4,\"confidence\":0.9800,\"box\":[10,20,15,30],\"track\":3},"
        "{\"label\":7,\"confidence\":0.5000,\"box\":[30,21,14,29],\"track\":5}],"
        "\"numbers\":[{\"value\":\"47\",\"box\":[10,20,34,30]}]}");
  FrameResult empty;
  CHECK(to_json_line(empty) == "{\"frame\":0,\"time_ms\":0.000,\"digits\":[],\"numbers\":[]}");
}

TEST_CASE("sinks: a file name with a quote, a backslash and a newline is JSON-escaped") {
  FrameResult r;
  r.frame = 1;
  r.time_ms = 33.3333;
  r.name = "a\"b\\c\nd\x01.png";
  CHECK(to_json_line(r) ==
        "{\"frame\":1,\"time_ms\":33.333,\"file\":\"a\\\"b\\\\c\\nd\\u0001.png\","
        "\"digits\":[],\"numbers\":[]}");
}

TEST_CASE("sinks: the JSON lines file holds one complete line per frame after close") {
  TempFolder folder("sinks-json");
  const std::string path = (folder / "out.jsonl").string();
  JsonLinesWriter writer(path);
  std::string expected;
  for (int i = 0; i < 3; ++i) {
    FrameResult r = known_result();
    r.frame = i;
    writer.write(r);
    expected += to_json_line(r) + "\n";
    // Flushed line by line: a run killed now would leave exactly these lines.
    CHECK(slurp(path) == expected);
  }
  writer.close();
  CHECK(slurp(path) == expected);
  CHECK_THROWS_AS(writer.write(known_result()), digitcam::IoError);
}

TEST_CASE("sinks: a JSON lines path that cannot be created is an IoError naming it") {
  try {
    JsonLinesWriter writer("/nonexistent/x.jsonl");
    FAIL("no error for /nonexistent/x.jsonl");
  } catch (const digitcam::IoError& e) {
    CHECK(std::string(e.what()).find("/nonexistent/x.jsonl") != std::string::npos);
  }
}

TEST_CASE("sinks: a JSON lines file that hits a full disk keeps only whole lines and says so") {
  // A file size limit (RLIMIT_FSIZE) stands in for a full disk: past it write() stores part of
  // a line, then fails with EFBIG, as it would with ENOSPC. Set in a child process, which cannot
  // raise the limit again.
  TempFolder folder("sinks-full");
  const std::string path = (folder / "out.jsonl").string();
  const std::string line = to_json_line(known_result()) + "\n";
  constexpr int whole_lines = 5;
  const rlim_t limit = whole_lines * line.size() + line.size() / 2;  // cuts the 6th line
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit fsize{limit, limit};
    if (::setrlimit(RLIMIT_FSIZE, &fsize) != 0) ::_exit(10);
    try {
      JsonLinesWriter writer(path);
      for (int i = 0; i < 100; ++i) writer.write(known_result());
      ::_exit(11);  // no error at all
    } catch (const digitcam::IoError& e) {
      const std::string message = e.what();
      const bool clear = message.find(path) != std::string::npos &&
                         message.find("File too large") != std::string::npos &&
                         message.find("complete") != std::string::npos;
      ::_exit(clear ? 0 : 12);
    } catch (...) {
      ::_exit(13);
    }
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child status " << WEXITSTATUS(status)
                                                          << " (10 setrlimit, 11 no error, "
                                                             "12 unclear message, 13 other)");
  std::string expected;
  for (int i = 0; i < whole_lines; ++i) expected += line;
  CHECK(slurp(path) == expected);
}

TEST_CASE("sinks: JSON lines to /dev/full are an IoError naming it and the reason") {
  JsonLinesWriter writer("/dev/full");
  CHECK_THROWS_WITH_AS(writer.write(known_result()),
                       doctest::Contains("cannot write JSON lines to /dev/full: No space left"),
                       digitcam::IoError);
}

TEST_CASE("sinks: annotated videos read back with every frame written (.avi, .mp4)") {
  TempFolder folder("sinks-video");
  for (const std::string name : {"out.avi", "out.mp4", "out.mkv"}) {
    CAPTURE(name);
    const std::string path = (folder / name).string();
    {
      AnnotatedVideoWriter writer(path, 25.0, cv::Size(64, 48));
      for (int i = 0; i < 5; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(i * 50)));
      writer.write(cv::Mat(24, 32, CV_8UC1, cv::Scalar(200)));  // other size, gray: adapted
      CHECK(writer.frames_written() == 6);
      writer.close();
    }
    cv::VideoCapture capture(path, cv::CAP_FFMPEG);
    REQUIRE(capture.isOpened());
    int frames = 0;
    cv::Mat image;
    while (capture.read(image)) {
      CHECK(image.size() == cv::Size(64, 48));
      if (frames < 5) CHECK(cv::mean(image)[0] == doctest::Approx(frames * 50).epsilon(0.1));
      ++frames;
    }
    CHECK(frames == 6);
  }
}

TEST_CASE("sinks: an image path holds the last frame, written atomically without leftovers") {
  TempFolder folder("sinks-picture");
  const std::string path = (folder / "out.png").string();
  AnnotatedVideoWriter writer(path, 0.0, cv::Size(40, 30));
  CHECK(writer.is_picture());
  writer.write(cv::Mat(30, 40, CV_8UC3, cv::Scalar(1, 2, 3)));
  writer.write(cv::Mat(30, 40, CV_8UC3, cv::Scalar(90, 80, 70)));
  writer.close();
  const cv::Mat back = cv::imread(path);
  REQUIRE(!back.empty());
  CHECK(back.at<cv::Vec3b>(5, 5) == cv::Vec3b(90, 80, 70));
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(folder.path())) {
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("sinks: an annotated output that cannot be opened is an IoError naming it") {
  for (const std::string path : {"/nonexistent/out.avi", "/nonexistent/out.png"}) {
    CAPTURE(path);
    try {
      AnnotatedVideoWriter writer(path, 30.0, cv::Size(64, 48));
      FAIL("no error for " << path);
    } catch (const digitcam::IoError& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(AnnotatedVideoWriter("out.xyz", 30.0, cv::Size(64, 48)), digitcam::UsageError);
}

TEST_CASE("sinks: the run summary gives latency percentiles and counts digits and numbers") {
  RunSummary summary;
  CHECK(summary.text() == "frames 0");
  CHECK(summary.percentile(50) == 0.0);
  for (int i = 100; i >= 1; --i) {  // out of order on purpose
    FrameResult r = known_result();
    r.latency_ms = i;
    if (i % 2 == 0) r.numbers[0].value = "1234";
    summary.add(r);
  }
  // Linear between ranks, as numpy's default: rank = p/100 * (n - 1).
  CHECK(summary.percentile(0) == doctest::Approx(1.0));
  CHECK(summary.percentile(50) == doctest::Approx(50.5));
  CHECK(summary.percentile(95) == doctest::Approx(95.05));
  CHECK(summary.percentile(99) == doctest::Approx(99.01));
  CHECK(summary.percentile(100) == doctest::Approx(100.0));
  CHECK(summary.frames() == 100);
  const std::string text = summary.text();
  CAPTURE(text);
  CHECK(text.rfind("frames 100, ", 0) == 0);
  CHECK(text.find("frames/s, latency p50 50.5 ms p95 95.0 ms p99 99.0 ms") != std::string::npos);
  CHECK(text.find("digits 200 (tracks 2)") != std::string::npos);
  CHECK(text.find("numbers 100 (distinct: 1234, 47)") != std::string::npos);
}
