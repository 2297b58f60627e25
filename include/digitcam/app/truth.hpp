#pragma once
// Ground truth for footage and stills (the format samples/README.md describes) and the score of a
// run against it, so `digitcam run SOURCE --truth FILE` reports how well it read:
//   video: one JSON object a line, {"frame":i,"digits":[{"label":5,"box":[x,y,w,h]},...],
//          "numbers":["538",...]}; a still: one such object without "frame" in a .json file.
// A true digit is read when a reported digit of the same label overlaps its box with IoU >= 0.3
// (one-to-one, best overlaps first). A reported digit that overlaps no true box that much is a
// false digit.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/app/frame_result.hpp"

namespace digitcam::app {

struct TruthDigit {
  int label = 0;
  cv::Rect box;
};

struct TruthFrame {
  std::int64_t frame = 0;
  std::vector<TruthDigit> digits;
  std::vector<std::string> numbers;
};

// Frames by index. IoError naming the file and line when it cannot be read or parsed.
std::map<std::int64_t, TruthFrame> load_truth(const std::filesystem::path& path);

class TruthScore {
 public:
  static constexpr double min_iou = 0.3;

  void add(const FrameResult& result, const TruthFrame& truth);
  std::int64_t frames() const { return frames_; }
  std::int64_t true_digits() const { return true_digits_; }
  std::int64_t digits_read() const { return digits_read_; }
  std::int64_t false_digits() const { return false_digits_; }
  double read_rate() const;     // digits_read / true_digits
  double numbers_rate() const;  // true numbers found among the numbers read
  std::string text() const;     // "read 1962/2000 digits (98.1%), 0.02 false digits/frame, ..."

 private:
  std::int64_t frames_ = 0, true_digits_ = 0, digits_read_ = 0, false_digits_ = 0;
  std::int64_t true_numbers_ = 0, numbers_read_ = 0;
};

}  // namespace digitcam::app
