#pragma once
// Finds the handwritten digits in a frame: the first stage of the recognizer.
//   frame (BGR or grey, any size) -> Segmentation { candidates, threshold mask, polarity }
//
// 1. Illumination flattening: the paper's grey is estimated by a morphological closing (opening
//    for light ink) of the frame shrunk to at most half size, so strokes narrower than the
//    kernel vanish from it while gradients, vignetting and shadows wider than the kernel stay.
//    Where that background jumps (paper edges, hard shadow edges) no ink is looked for.
// 2. Threshold: ink is darker (lighter) than the paper by max(threshold_offset, relative_contrast
//    x paper grey), compared at full resolution so thin strokes survive.
// 3. Components of the ink (labelled on the mask pooled 2x2), so holes of 0/6/8/9 never make
//    candidates; specks, frame-edge pieces and oversized pieces dropped; broken strokes of one
//    digit merged (stacked, overlapping horizontally, close, still digit-shaped; line-like pieces
//    such as ruled lines never merge).
// 4. Filters on height (relative to the frame), aspect, ink fill, stroke width / height (blobs),
//    contrast of the ink against the ring of paper around the box, and evenness of that paper
//    (texture around clutter). Ruled lines, paper edges and long text lines fail height or
//    aspect; specks fail size; shadows are background or blobs.
// Every size is relative to the frame or the digit, so the same settings hold at 320x240 and
// 1920x1080.
//
// A Segmenter keeps its working images between frames (no allocation in the steady state apart
// from the candidates' own crops) and is not thread-safe: one per processing thread. A mask
// handed out in a Segmentation is never overwritten by later frames.

#include <array>
#include <optional>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/vision/normalizer.hpp"

namespace digitcam::vision {

struct SegmenterOptions {
  // dark_on_light: pen on paper (the default scene); light_on_dark: chalk, a screen, MNIST
  // itself; automatic: decided per frame (see segment()).
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
  // Background: side of the closing's square kernel as a fraction of the shorter side. It must
  // exceed the widest stroke (strokes wider than it lose their middle); dark regions wider than
  // it count as background.
  double block_fraction = 0.08;
  // How far (grey levels) beyond the local paper grey a pixel must be to count as ink ...
  double threshold_offset = 12.0;
  // ... and at least this share of the local paper brightness, so bright paper's texture and
  // creases (which scale with the light) do not count as ink.
  double relative_contrast = 0.12;
  // Mean stroke width / box height above which a blob is a shadow, a dot or a hole, not a digit
  // (MNIST's boldest digits measure about 0.32 by this segmenter's estimate, a filled disc 0.5).
  double max_stroke_fraction = 0.4;
  // The paper in a ring around a digit is even: the spread of its grey levels (20th to 80th
  // percentile) may be at most this share of the ink's contrast against it. Clutter in a
  // textured scene (walls, grass, leaves) fails this; pen on a card stays far below it.
  double max_paper_variation = 0.5;
  // Erase ruled lines (notebook paper) that digits are written across, so those digits stand
  // apart: the faint ink of pieces too wide for a digit, then long flat runs of ink. Reads all
  // 10 digits of samples/stills/card_ruled_shadow.png (none without it). Off by default: it
  // costs every frame (samples/demo.avi end to end: 137 against 176 frames/s), and the
  // not-a-digit examples training cuts with the default segmenter would change.
  bool erase_ruled_lines = false;
  // Drop an upright stroke (a 1's shape) when the object it belongs to carries on past its top
  // or bottom (a lamp post, a tripod's leg): as strongly just past the end, or as a fainter
  // ridge along the stroke's axis further on. Off only where every digit-like piece is wanted:
  // training cuts its not-a-digit examples with it off, so it learns those pieces too.
  bool check_stroke_ends = true;
};

// One digit-like blob: where it is and what the normaliser needs to make the network's crop.
struct Candidate {
  cv::Rect box;      // frame pixels, tight around the ink
  cv::Mat gray;      // CV_8UC1 crop of the frame's grey image at box (a copy, safe to keep)
  cv::Mat ink_mask;  // CV_8UC1, same size as gray, non-zero on this candidate's ink only
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
  // an empty Segmentation. With Polarity::automatic both polarities are segmented and the one
  // whose candidates are not merely the holes and gaps inside the other's wins (ink encloses
  // paper, not the other way round; but a blob holding more than two of the other's is a card
  // with writing on it, not a digit with holes); a tie goes to the frame's median grey level.
  Segmentation segment(const cv::Mat& frame);

 private:
  // One connected ink component or a group of them merged into one digit.
  struct Group {
    cv::Rect box;    // frame pixels, from the pooled labels (up to a pixel loose on each side)
    int first = -1;  // component labels of the group: a linked list through
    int last = -1;   //   next_label_, so merging allocates nothing
  };

  // One polarity's working state: its threshold mask, the images and lists its analysis reuses
  // across frames, and the candidates it found. The dark and light passes each own one, so they
  // can run at the same time; everything else they read (the grey frame, its reduced copy, the
  // kernels and tables) is written only before they start.
  struct InkPixel {
    int x, y, contrast;  // frame px; grey levels from the paper's estimate
  };
  struct Pass {
    cv::Mat mask;                              // ink of this polarity, frame-sized
    cv::Mat closed, flat, level_small, level;  // threshold's background estimate
    cv::Mat step_high, step_low;               // ... and where the background jumps
    cv::Mat pooled, labels;                    // the mask at half resolution, labelled
    cv::Mat flat_ink, flat_labels, flat_stats, flat_centroids;  // erase_ruled_lines' images
    cv::Mat ink_frame;  // scratch for the ink masks of candidates, frame-sized
    std::vector<Group> groups;
    std::vector<int> next_label, label_group;
    std::vector<std::array<int, 4>> bounds;
    std::vector<int> run_top;    // erase_ruled_lines: per column, the top row of the open ink run
    std::vector<double> ridges;  // faint_continuation's per-row ridge heights
    std::vector<InkPixel> faint_pixels;  // erase_faint_ink: one wide piece's ink
    std::vector<Candidate> found;
  };

  // Threshold mask of ink of one polarity: the background (closing for dark ink, opening for
  // light) estimated at reduced resolution, minus (plus) the contrast margin, brought back up.
  void threshold(bool dark_ink, Pass& pass) const;
  // The paper's median grey in a ring around the box when ink of mean grey ink_mean in the box
  // differs enough from it and that paper is even compared with the contrast (relative_contrast,
  // max_paper_variation); nothing otherwise. stands_on_paper measures ink_mean over one
  // component's pixels.
  std::optional<int> even_paper_grey(const cv::Rect& box, double ink_mean, bool dark_ink) const;
  // Whether an upright stroke (ink: its mask at box; stroke: its mean width; paper_grey: the
  // paper's median grey around it) ends on paper at both ends; true for every wider candidate.
  bool strokes_end_on_paper(Pass& pass, const cv::Rect& box, const cv::Mat& ink, double ink_mean,
                            double stroke, int paper_grey) const;
  // An upright stroke's axis: where it ends (centre x and ink width at each end, in frame
  // pixels), the rows of those ends and the lean (x per row) between them.
  struct StrokeAxis {
    struct End {
      double x = 0, width = 0;
    };
    End top, bottom;
    double top_y = 0, bottom_y = 0, lean = 0;
  };
  static StrokeAxis stroke_axis(const cv::Rect& box, const cv::Mat& ink, double stroke);
  // Median height (grey levels) of a ridge along the stroke's axis past its top (direction -1)
  // or bottom (+1) end, starting gap px out, or along a parallel line up to a stroke's width
  // beside it (the strongest): how strongly something as narrow as the stroke carries on there.
  // 0 when the frame's edge comes first.
  double faint_continuation(Pass& pass, const cv::Rect& box, const StrokeAxis& axis, int gap,
                            int direction) const;
  // Pools pass.mask 2x2 into pass.pooled, labels it into pass.labels and fills pass.bounds; returns
  // the count of labels (the background included).
  int label_ink(Pass& pass) const;
  // Erases from pass.mask the ruled lines among the labelled components; true when it erased any.
  bool erase_ruled_lines(Pass& pass, double min_height) const;
  // Erases from pass.mask the faint ink of labelled components wider than max_width; true when it
  // erased any.
  bool erase_faint_ink(Pass& pass, int labels, double max_width, bool dark_ink) const;
  bool stands_on_paper(const Pass& pass, const cv::Rect& box, int label, bool dark_ink) const;
  // Components of pass.mask (ink darker than the paper when dark_ink) -> filtered, merged, sorted
  // candidates in pass.found. short_side: the frame's.
  void analyse(Pass& pass, bool dark_ink, int short_side) const;

  SegmenterOptions options_;
  cv::Mat gray_;       // the frame in grey (a header on the caller's frame when it was grey)
  cv::Mat converted_;  // the grey frame when the frame had colour
  cv::Mat small_, kernel_, step_kernel_;      // the reduced frame and the background kernels
  cv::Mat dark_level_lut_, light_level_lut_;  // background grey -> ink threshold, per polarity
  Pass dark_, light_;
};

// The mean grey of each whole factor x factor block of an 8-bit grey image (rows and columns
// short of a whole block are left out), bit for bit what cv::resize with INTER_AREA gives for
// the whole blocks. OpenCV's vector code is for 2x2 blocks only, which it is left to; larger
// factors (3 at 1280x720) go through its per-pixel offset table, about three times slower than
// the running sums used here.
void block_means(const cv::Mat& gray, int factor, cv::Mat& out);

}  // namespace digitcam::vision
