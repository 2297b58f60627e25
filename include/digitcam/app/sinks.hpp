#pragma once
// Where results go: JSON lines (one per processed frame), an annotated video or picture, and the
// run summary printed at the end. Outputs stay valid up to the last processed frame: JSON lines
// are flushed one whole line at a time, a picture is written atomically (write, then rename).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/app/frame_result.hpp"

namespace digitcam::app {

// One JSON line, without the newline, in the format of DESIGN.md:
// {"frame":0,"time_ms":0.000,"file":"a.png","digits":[{"label":7,"confidence":0.9800,
//  "box":[x,y,w,h],"track":3}],"numbers":[{"value":"407","box":[x,y,w,h]}]}
// "file" only when the result has a name. Fixed precision: time_ms 3 decimals, confidence 4.
std::string to_json_line(const FrameResult& result);

// Writes JSON lines to a file, or to stdout for "-". Each line reaches the file whole, in one
// write, flushed at once, so a killed run leaves every processed frame's line and no partial one.
class JsonLinesWriter {
 public:
  // IoError naming the path when it cannot be created.
  explicit JsonLinesWriter(const std::string& path_or_dash);
  ~JsonLinesWriter();
  JsonLinesWriter(const JsonLinesWriter&) = delete;
  JsonLinesWriter& operator=(const JsonLinesWriter&) = delete;

  // IoError naming the path when the write fails (disk full, closed pipe, after close()); a file
  // is cut back to the whole lines before, so it stays valid.
  void write(const FrameResult& result);
  // IoError when the file cannot be closed cleanly. Idempotent.
  void close();
  const std::string& path() const { return path_; }

 private:
  void write_all(const std::string& bytes);

  std::string path_;
  int fd_ = -1;               // -1 when closed
  bool owns_fd_ = false;      // false for stdout
  off_t complete_bytes_ = 0;  // length of the whole lines written so far
};

// The annotated frames as a video (.avi MJPG, .mp4/.mov mp4v, .mkv MJPG) or, for an image path
// (.png .jpg ...), as one picture: each write() replaces it atomically, so it holds the last frame.
// Frames of another size are resized to the writer's size; gray frames become BGR.
class AnnotatedVideoWriter {
 public:
  // fps <= 0 (image sources) writes videos at a default rate. IoError naming the path when it
  // cannot be opened; UsageError for an extension that is neither a video nor an image.
  AnnotatedVideoWriter(const std::string& path, double fps, cv::Size frame_size);
  // What the constructor checks that does not need the frame size, for a run to fail at its
  // start, before any frame, rather than at its first frame: UsageError for an extension that is
  // neither a video nor an image, IoError naming the path when its folder is missing or no file
  // can be created in it (read-only, sysfs), or the path is a folder. Creates nothing.
  static void check_path(const std::string& path);
  ~AnnotatedVideoWriter();
  AnnotatedVideoWriter(const AnnotatedVideoWriter&) = delete;
  AnnotatedVideoWriter& operator=(const AnnotatedVideoWriter&) = delete;

  void write(const cv::Mat& bgr);
  // IoError when the finished video does not read back with every frame written (OpenCV's
  // writer ignores write errors, so a full disk shows only here). Idempotent.
  void close();
  bool is_picture() const { return picture_; }
  std::int64_t frames_written() const { return frames_; }

 private:
  std::string path_;
  cv::Size size_;
  bool picture_ = false;
  cv::VideoWriter video_;
  std::int64_t frames_ = 0;
};

// The p-th percentile (p in 0..100, linear between ranks, as numpy's default); 0 when empty.
double percentile(std::vector<double> values, double p);

// Totals of a run for the closing line on stderr. Wall time runs from construction to the last
// add(), so frames/s counts everything the run did between them.
class RunSummary {
 public:
  RunSummary();

  void add(const FrameResult& result);
  // "frames 120, 31.2 frames/s, latency p50 2.1 ms p95 2.9 ms p99 3.5 ms, digits 1180
  //  (tracks 12), numbers 240 (distinct: 407, 1234)"
  std::string text() const;
  // Latency percentile in ms (p in 0..100, linear between ranks); 0 without frames.
  double percentile(double p) const;
  std::int64_t frames() const { return frames_; }
  double fps() const;

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  std::int64_t frames_ = 0;
  std::int64_t digits_ = 0;
  std::int64_t numbers_ = 0;
  std::vector<double> latencies_ms_;
  std::set<int> tracks_;
  std::vector<std::string> distinct_numbers_;  // in order of first appearance
  std::set<std::string> seen_numbers_;
};

}  // namespace digitcam::app
