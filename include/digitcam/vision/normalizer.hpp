#pragma once
// The one function that turns a digit image into the network's input, used alike by training-side
// evaluation (OpenCV's digits sheet, labelled folders) and by the camera path, so the network
// sees every crop prepared the way MNIST was (DESIGN.md, "Facts measured on MNIST"):
//
//   1. polarity: ink made bright on a dark background (given, or detected);
//   2. ink mask (Otsu, or the segmenter's mask), specks far smaller than the digit dropped;
//      grey levels mapped so background -> 0 and solid ink -> 1, anti-aliased edges kept;
//   3. tight ink box, scaled so its longest side is 20 px keeping the aspect ratio
//      (INTER_AREA when shrinking, so thin strokes are averaged, not dropped);
//   4. optionally, strokes thinner or heavier than MNIST's usual range brought into it;
//   5. a sub-pixel shift puts the intensity centre of mass at (14.0, 14.0), 0-based, in 28x28.
//
// Output: 28x28 CV_32F, white ink on black, 0..1. No ink (blank or flat crop) is an empty
// optional, not an error.

#include <optional>

#include <opencv2/core.hpp>

namespace digitcam::vision {

enum class Polarity {
  automatic,      // decided per crop by detect_polarity
  dark_on_light,  // pen on paper
  light_on_dark,  // chalk on a board, MNIST itself, OpenCV's digits sheet
};

struct NormalizeOptions {
  Polarity polarity = Polarity::automatic;
  // Thickens thin strokes (fine pens far from the camera) and thins heavy ones (markers) into
  // the range of stroke widths MNIST's training digits have (1.7 .. 3.3 px at 28x28).
  bool match_stroke_width = false;
};

// Side of the network input and where the recipe puts things in it.
inline constexpr int normalized_side = 28;
inline constexpr double normalized_box = 20.0;     // longest side of the ink box, px
inline constexpr double normalized_centre = 14.0;  // centre of mass, 0-based pixel coordinates

// light_on_dark or dark_on_light. With an ink mask (CV_8U, non-zero = ink, same size): whichever
// side the ink is brighter on. Without: the background is taken as the median of the crop's
// border and the ink as whichever tail of the grey levels (2nd or 98th percentile) lies farther
// from it.
Polarity detect_polarity(const cv::Mat& gray, const cv::Mat& ink_mask = cv::Mat());

// gray: CV_8UC1 (CV_8UC3/4 BGR(A) are converted). ink_mask: optional CV_8UC1 of the same size,
// non-zero where the segmenter found ink; without it the ink is found by Otsu's threshold.
// Throws ShapeError for other image types or a mask of another size.
std::optional<cv::Mat> normalize_digit(const cv::Mat& gray, const NormalizeOptions& options = {},
                                       const cv::Mat& ink_mask = cv::Mat());

// The same, written straight into 28*28 floats (one tensor item). Returns false, leaving dst
// zero-filled, when there is no ink.
bool normalize_into(const cv::Mat& gray, const NormalizeOptions& options, float* dst,
                    const cv::Mat& ink_mask = cv::Mat());

// The mask (CV_8UC1, non-zero = ink) without its specks: the 8-connected components smaller
// than 5% of the largest are cleared, the rest set to 255.
cv::Mat drop_specks(const cv::Mat& mask);

// Grey-level dilation (radius > 0) or erosion (radius < 0) of a CV_32FC1 image with OpenCV's
// elliptical disc of the given radius; equal, bit for bit, to cv::dilate / cv::erode with that
// structuring element, but O(radius) per pixel instead of O(radius^2).
cv::Mat morph_disc(const cv::Mat& ink, int radius);

// Mean stroke width in pixels of a white-on-black image in 0..1 (CV_32F): ink mass divided by
// half the length of the outline of its > 0.5 part. 0 when there is no such part.
double estimate_stroke_width(const cv::Mat& ink);

}  // namespace digitcam::vision
