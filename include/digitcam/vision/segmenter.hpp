#pragma once
// Finds the handwritten digits in a frame: the first stage of the recognizer.
//   frame (BGR or grey, any size) -> Segmentation { candidates, threshold mask, polarity }
// Illumination flattening, adaptive threshold, morphology, external contours; filters on size
// relative to the frame, aspect ratio, ink fill and solidity; broken strokes of one digit merged;
// holes of 0/6/8/9 never separate candidates; paper edges, ruled lines, long text lines, specks
// and shadows rejected. Every size is relative to the frame, so the same settings hold at 320x240
// and 1920x1080.
//
// A Segmenter keeps its working images between frames (no allocation in the steady state) and
// is not thread-safe: one per processing thread.

#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/vision/normalizer.hpp"

namespace digitcam::vision {

struct SegmenterOptions {
  // dark_on_light: pen on paper (the default scene); light_on_dark: chalk, a screen, MNIST
  // itself; automatic: decided per frame from the grey levels (see segment()).
  Polarity polarity = Polarity::automatic;
  // A digit's box height, as a fraction of the frame's shorter side.
  double min_height_fraction = 0.03;
  double max_height_fraction = 0.6;
  // Box width / height: a "1" is thin, but a ruled line or a paper edge is thinner still.
  double min_aspect = 0.08;
  double max_aspect = 1.5;
  // Share of the box covered by ink (in the threshold mask).
  double min_fill = 0.06;
  double max_fill = 0.85;
  // Adaptive threshold: neighbourhood as a fraction of the shorter side (made odd, >= 3 px),
  // and how far below the local mean (in grey levels) a pixel must be to count as ink.
  double block_fraction = 0.08;
  double threshold_offset = 12.0;
};

// One digit-like blob: where it is and what the normaliser needs to make the network's crop.
struct Candidate {
  cv::Rect box;       // frame pixels, tight around the ink
  cv::Mat gray;       // CV_8UC1 crop of the frame's grey image at box (a copy, safe to keep)
  cv::Mat ink_mask;   // CV_8UC1, same size as gray, non-zero on this candidate's ink only
};

struct Segmentation {
  std::vector<Candidate> candidates;  // sorted top-to-bottom, then left-to-right
  cv::Mat mask;                       // CV_8UC1 frame-sized threshold mask (the debug view)
  Polarity polarity = Polarity::dark_on_light;  // of the ink in this frame, never automatic
};

class Segmenter {
 public:
  explicit Segmenter(SegmenterOptions options = {});
  const SegmenterOptions& options() const { return options_; }

  // frame: CV_8UC1, CV_8UC3 (BGR) or CV_8UC4. ShapeError for other types; an empty frame gives
  // an empty Segmentation.
  Segmentation segment(const cv::Mat& frame);

 private:
  SegmenterOptions options_;
  cv::Mat gray_, flat_, mask_, labels_;  // working images reused across frames
};

}  // namespace digitcam::vision
