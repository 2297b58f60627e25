#pragma once
// The drawing of `digitcam draw`: strokes of mouse points on a square of white paper, rendered
// with dark ink whose width follows the drawing's size, so that after the normaliser shrinks a
// digit's ink box to 20 px the strokes are about as thick as MNIST's (2.5 px of 20).

#include <cstddef>
#include <vector>

#include <opencv2/core.hpp>

namespace digitcam::app {

class Sketch {
 public:
  // Pen widths in canvas pixels: the pen is stroke_share of the tallest stroke's height,
  // within these bounds (a first short stroke must still show; a huge digit must not blot).
  static constexpr double stroke_share = 2.5 / 20.0;
  static constexpr int thinnest_pen = 8;
  static constexpr int thickest_pen = 40;

  explicit Sketch(cv::Size size);

  // Points outside the paper are moved to its edge.
  void begin_stroke(cv::Point point);
  void extend_stroke(cv::Point point);  // ignored unless a stroke is in progress
  void end_stroke();
  bool drawing() const { return drawing_; }

  void undo();  // removes the last stroke (the one in progress, if any)
  void clear();

  bool empty() const { return strokes_.empty(); }
  std::size_t stroke_count() const { return strokes_.size(); }
  cv::Size size() const { return size_; }
  // The last point drawn; (-1, -1) when empty.
  cv::Point last_point() const;
  int pen_width() const;

  // CV_8UC1 of size(): white paper, dark ink, anti-aliased round strokes.
  cv::Mat render() const;

 private:
  cv::Point clamped(cv::Point point) const;

  cv::Size size_;
  std::vector<std::vector<cv::Point>> strokes_;
  bool drawing_ = false;
};

}  // namespace digitcam::app
