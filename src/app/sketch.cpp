#include "digitcam/app/sketch.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace digitcam::app {

namespace {

constexpr std::uint8_t paper = 255;
constexpr std::uint8_t ink = 0;

}  // namespace

Sketch::Sketch(cv::Size size) : size_(size) {}

cv::Point Sketch::clamped(cv::Point point) const {
  return {std::clamp(point.x, 0, std::max(0, size_.width - 1)),
          std::clamp(point.y, 0, std::max(0, size_.height - 1))};
}

void Sketch::begin_stroke(cv::Point point) {
  strokes_.push_back({clamped(point)});
  drawing_ = true;
}

void Sketch::extend_stroke(cv::Point point) {
  if (!drawing_ || strokes_.empty()) return;
  const cv::Point p = clamped(point);
  if (p != strokes_.back().back()) strokes_.back().push_back(p);
}

void Sketch::end_stroke() {
  drawing_ = false;
}

void Sketch::undo() {
  if (!strokes_.empty()) strokes_.pop_back();
  drawing_ = false;
}

void Sketch::clear() {
  strokes_.clear();
  drawing_ = false;
}

cv::Point Sketch::last_point() const {
  return strokes_.empty() ? cv::Point(-1, -1) : strokes_.back().back();
}

int Sketch::pen_width() const {
  // The tallest single stroke, not the whole drawing: digits side by side at different heights
  // would otherwise thicken each other's ink, and most digits have one stroke spanning them.
  int tallest = 0;
  for (const auto& stroke : strokes_) {
    const auto [low, high] = std::minmax_element(
        stroke.begin(), stroke.end(), [](cv::Point a, cv::Point b) { return a.y < b.y; });
    tallest = std::max(tallest, high->y - low->y);
  }
  const int width = static_cast<int>(std::lround(stroke_share * tallest));
  return std::clamp(width, thinnest_pen, thickest_pen);
}

cv::Mat Sketch::render() const {
  cv::Mat canvas(size_, CV_8UC1, cv::Scalar(paper));
  const int pen = pen_width();
  for (const auto& stroke : strokes_) {
    if (stroke.size() == 1) {
      cv::circle(canvas, stroke.front(), pen / 2, cv::Scalar(ink), cv::FILLED, cv::LINE_AA);
      continue;
    }
    cv::polylines(canvas, stroke, false, cv::Scalar(ink), pen, cv::LINE_AA);
  }
  return canvas;
}

}  // namespace digitcam::app
