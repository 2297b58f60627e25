#pragma once
// What the window (and an annotated video or picture) shows: each digit boxed with its label and
// confidence, each number read above its row, a HUD line, and the debug view of what the network
// saw (the threshold mask and a strip of 28x28 crops with their labels); and the reading panel
// of `digitcam draw` (what was read, its top three digits and a probability bar per class).

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/engine/tensor.hpp"
#include "digitcam/vision/decision.hpp"
#include "digitcam/vision/reader.hpp"

namespace digitcam::vision {

// Draws onto image (CV_8UC3, the frame the boxes are in).
void draw_detections(cv::Mat& image, const std::vector<Detection>& digits,
                     const std::vector<Number>& numbers);

// One line of text on a dark band at the top-left.
void draw_hud(cv::Mat& image, const std::string& text);

// The threshold mask (frame-sized CV_8UC1) shown in a corner of image, and below it a strip of
// the crops ([N,1,28,28], 0..1) magnified, each captioned with its label ('-' when rejected).
void draw_debug_view(cv::Mat& image, const cv::Mat& mask, const engine::Tensor& crops,
                     const std::vector<int>& labels);

// Fills `panel` (CV_8UC3, reading_panel_width x reading_panel_height or larger) with `headline`
// ("7", "407" or "no digit") in large type and, for `digit`, its three most probable classes and
// one bar per class: the winner's in reading_winner_colour (the confident boxes' green), the others
// in reading_bar_colour. Without a digit the bars stay empty: an empty canvas shows no guess.
inline constexpr int reading_panel_width = 300;
inline constexpr int reading_panel_height = 400;
extern const cv::Scalar reading_bar_colour;
extern const cv::Scalar reading_winner_colour;
void draw_reading_panel(cv::Mat& panel, const std::string& headline, const Detection* digit);

}  // namespace digitcam::vision
