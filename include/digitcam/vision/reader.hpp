#pragma once
// Reads rows of digits as numbers: digits of similar height whose vertical extents overlap and
// whose horizontal gaps are small (relative to their height) form one number, read left to
// right. Several rows give several numbers; a lone digit is a one-digit number. Rows are read
// level: the boxes are first turned back by the rows' tilt (from each digit's nearest neighbour
// on the right), so a sheet held turned reads as one held straight.

#include <string>
#include <vector>

#include "digitcam/vision/decision.hpp"

namespace digitcam::vision {

struct ReaderOptions {
  double max_gap = 1.2;               // horizontal gap between neighbours, in digit heights
  double min_height_ratio = 0.5;      // shorter / taller of two neighbours
  double min_vertical_overlap = 0.5;  // overlap of their vertical extents / the shorter height
};

struct Number {
  std::string value;        // the digits left to right, e.g. "407"
  cv::Rect box;             // union of the digits' boxes
  std::vector<int> digits;  // indices into the detections given, left to right
};

// Rejected detections (label -1) are ignored. Numbers sorted top-to-bottom, then left-to-right.
std::vector<Number> read_numbers(const std::vector<Detection>& detections,
                                 const ReaderOptions& options = {});

}  // namespace digitcam::vision
