#include <doctest/doctest.h>

#include <opencv2/core.hpp>

#include "digitcam/app/sketch.hpp"
#include "digitcam/vision/normalizer.hpp"

using digitcam::app::Sketch;

namespace {

int ink_pixels(const cv::Mat& canvas) {
  return cv::countNonZero(canvas < 128);
}

}  // namespace

TEST_CASE("sketch: an empty sketch is blank paper") {
  const Sketch sketch({400, 400});
  CHECK(sketch.empty());
  CHECK(sketch.last_point() == cv::Point(-1, -1));
  const cv::Mat canvas = sketch.render();
  CHECK(canvas.size() == cv::Size(400, 400));
  CHECK(canvas.type() == CV_8UC1);
  CHECK(ink_pixels(canvas) == 0);
}

TEST_CASE("sketch: the pen is an eighth of the tallest stroke, within its bounds") {
  Sketch sketch({400, 400});
  sketch.begin_stroke({100, 100});
  sketch.extend_stroke({200, 100});  // a flat bar: the pen stays at its thinnest
  sketch.end_stroke();
  CHECK(sketch.pen_width() == Sketch::thinnest_pen);
  sketch.begin_stroke({150, 100});
  sketch.extend_stroke({150, 340});  // 240 px tall: 240 * 2.5 / 20 = 30
  sketch.end_stroke();
  CHECK(sketch.pen_width() == 30);
  // The ink of a 240 px line is about 30 px wide across its middle.
  const cv::Mat canvas = sketch.render();
  const cv::Mat row = canvas.row(250);
  CHECK(ink_pixels(row) >= 28);
  CHECK(ink_pixels(row) <= 33);
  sketch.clear();
  sketch.begin_stroke({10, -50});  // clamped to the paper: 0 .. 399
  sketch.extend_stroke({10, 900});
  CHECK(sketch.pen_width() == Sketch::thickest_pen);
  CHECK(sketch.last_point() == cv::Point(10, 399));
}

TEST_CASE("sketch: undo removes the last stroke, clear all of them") {
  Sketch sketch({400, 400});
  sketch.begin_stroke({50, 50});
  sketch.extend_stroke({50, 200});
  sketch.end_stroke();
  const int one = ink_pixels(sketch.render());
  sketch.begin_stroke({250, 50});
  sketch.extend_stroke({250, 200});
  sketch.end_stroke();
  CHECK(sketch.stroke_count() == 2);
  CHECK(ink_pixels(sketch.render()) > one);
  sketch.undo();
  CHECK(sketch.stroke_count() == 1);
  CHECK(ink_pixels(sketch.render()) == one);
  CHECK(sketch.last_point() == cv::Point(50, 200));
  sketch.clear();
  CHECK(sketch.empty());
  CHECK(ink_pixels(sketch.render()) == 0);
  sketch.undo();  // nothing to undo: no harm
  CHECK(sketch.empty());
}

TEST_CASE("sketch: moves without a stroke in progress draw nothing") {
  Sketch sketch({400, 400});
  sketch.extend_stroke({100, 100});
  CHECK(sketch.empty());
  sketch.begin_stroke({100, 100});
  sketch.end_stroke();
  sketch.extend_stroke({300, 300});  // after the button went up
  CHECK(sketch.stroke_count() == 1);
  CHECK(ink_pixels(sketch.render()) > 0);  // a click leaves a dot
  CHECK(ink_pixels(sketch.render()(cv::Rect(200, 200, 200, 200))) == 0);
}

TEST_CASE("sketch: a drawn digit reaches the network with MNIST's stroke width, at any size") {
  // MNIST's strokes measure 1.7 .. 3.3 px at 28x28 (10th to 90th percentile, normalizer.cpp);
  // the pen scaling alone must land there, without the normaliser's stroke matching.
  for (const double size : {120.0, 240.0, 340.0}) {
    Sketch sketch({400, 400});
    const int left = 60, top = 30, right = left + static_cast<int>(0.6 * size);
    const int bottom = top + static_cast<int>(size);
    sketch.begin_stroke({left, top});  // a "7": the bar, then the diagonal
    sketch.extend_stroke({right, top});
    sketch.extend_stroke({left + static_cast<int>(0.2 * size), bottom});
    sketch.end_stroke();
    const auto crop = digitcam::vision::normalize_digit(
        sketch.render(), {digitcam::vision::Polarity::dark_on_light, false});
    REQUIRE(crop.has_value());
    const double width = digitcam::vision::estimate_stroke_width(*crop);
    CHECK_MESSAGE(width >= 1.7, "a " << size << " px digit: stroke " << width << " px at 28x28");
    CHECK_MESSAGE(width <= 3.3, "a " << size << " px digit: stroke " << width << " px at 28x28");
  }
}
