#pragma once
// What the window (and an annotated video or picture) shows: each digit boxed with its label and
// confidence, each number read above its row, a HUD line, and the debug view of what the network
// saw (the threshold mask and a strip of 28x28 crops with their labels).

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

}  // namespace digitcam::vision
