// make_samples: renders digitcam's sample footage and its ground truth.
//
// Every picture shows real handwriting: digits of MNIST's TEST set (the network never trains on
// them), drawn as pen ink on a paper card (or as chalk on a board) and put into real scenes: the
// card is a plane held in front of the camera (translation, roll, tilt, scale), projected with a
// pinhole camera onto frames of OpenCV's sample videos, lit unevenly, blurred, noised and
// compressed like a webcam picture. The truth boxes are the digits' ink warped by the same
// homography, so they are exact to the pixel.
//
// Output (under --output, default <source>/samples):
//   demo.avi, demo.truth.jsonl         640x480, 25 fps, 200 frames of a hand-held card
//   stills/<name>.png, .truth.json     cards and a chalkboard in different scenes and light
//   photo/<label>_<kind>.png, truth.csv  single digits, the way a user would upload them
//   board/calibrate.avi, board/test.avi  an unusual scene for `digitcam calibrate`: large digits
//                                        in a thick light marker on a dark board, two clips
//   board/<clip>.truth.jsonl             (same scene, different digits)
// Same seed, same machine: same files, byte for byte.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/mnist.hpp"

#ifndef DIGITCAM_SOURCE_DIR
#define DIGITCAM_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using digitcam::train::Dataset;

namespace {

// ---- Constants ----------------------------------------------------------------------------------
// Inputs.
constexpr std::uint64_t kDefaultSeed = 20240607;
constexpr const char* kDefaultBackground = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
constexpr const char* kSecondBackgroundName = "Megamind.avi";  // looked for next to --background
// The demo video.
constexpr int kVideoWidth = 640;
constexpr int kVideoHeight = 480;
constexpr double kVideoFps = 25.0;
constexpr int kVideoFrames = 200;
constexpr double kVideoDigitHeight = 50;  // nominal ink height of a digit in the frame, px
// The marker-board clips (board/): what makes them unusual is the digits' size (about three
// times the demo's), the marker's stroke (about twice MNIST's share of the digit height) and the
// polarity (light ink on a dark board), the three things a scene profile is about.
constexpr int kBoardClipFrames = 60;           // 2.4 s each
constexpr double kBoardClipDigitHeight = 150;  // ink height in the frame, px (0.31 of 480)
constexpr double kMarkerThicken = 0.10;        // stroke grown by this share of the ink height
constexpr int kBoardClipDigitsPerRow = 7;      // two rows the camera pans along
constexpr double kBoardClipPanMargin = 0.35;   // pan starts and ends this many digit heights
                                               // beyond the writing's first and last ink
// Card layout, in card pixels: the card is drawn about twice as finely as it appears.
constexpr double kDigitInkHeight = 110;      // ink box height of a digit on the card
constexpr double kDigitHeightJitter = 0.08;  // relative, per digit
constexpr double kRowHeightJitter = 0.06;    // relative, per row
constexpr double kDigitGapMin = 0.15;        // gap between digits, in digit heights
constexpr double kDigitGapMax = 0.45;
constexpr double kRowGap = 0.6;        // between rows, in digit heights
constexpr double kRowIndentMax = 0.5;  // a row starts up to this far right, digit heights
constexpr double kBaselineJitter = 5;  // px
constexpr double kDigitTiltDeg = 6;    // each digit leans up to this much
constexpr double kRowSlopeDeg = 2;     // each row climbs or falls up to this much
constexpr int kCardMarginX = 60;
constexpr int kCardMarginTop = 60;
constexpr int kCardMarginBottom = 110;  // room for the holding thumb
constexpr int kBoardMargin = 150;       // chalkboard: frame and empty board around rows
constexpr int kBoardFrameWidth = 40;    // chalkboard: the wooden frame
constexpr double kThumbRadius = 38;     // the holding thumb's half width
// Ink.
constexpr int kMnistInkLevel = 40;  // MNIST grey level counted as ink when measuring a digit
constexpr float kPenLow = 0.3F;     // MNIST intensity -> pen coverage: smoothstep(low, high)
constexpr float kPenHigh = 0.62F;
constexpr double kPenSoftness = 0.8;  // px blur of the pen edge on the card
constexpr float kInkOpacity = 0.93F;
constexpr float kChalkOpacity = 0.85F;
constexpr float kTruthInkLevel = 0.35F;  // warped coverage counted as ink for the truth boxes
// Paper and board texture, grey levels.
constexpr double kPaperBlotch = 4.0;  // low-frequency unevenness
constexpr double kPaperGrain = 2.5;   // per-pixel grain
constexpr double kBoardBlotch = 4.0;
constexpr double kBoardGrain = 4.0;
constexpr int kBlotchCell = 48;  // px per random value of the low-frequency texture
// Camera.
constexpr double kFocalPerWidth = 1.0;  // focal length in frame widths (about 53 deg across)
constexpr double kAntiAlias = 0.45;     // prefilter sigma, card px, per unit of downscale
// Colours, BGR 0..255.
const cv::Scalar kPaper{222, 231, 236};
const cv::Scalar kYellowPaper{120, 225, 240};  // a sticky note
const cv::Scalar kBluePaper{230, 190, 150};
const cv::Scalar kPinkPaper{200, 180, 245};
const cv::Scalar kGreenPaper{170, 225, 175};
const cv::Scalar kBluePen{105, 48, 28};
const cv::Scalar kBlackPen{38, 32, 30};
const cv::Scalar kRedPen{40, 36, 178};
const cv::Scalar kPencil{118, 116, 112};  // graphite: grey, and far less contrast than a pen
const cv::Scalar kBoard{52, 68, 44};
const cv::Scalar kChalk{226, 232, 232};
const cv::Scalar kWood{42, 82, 128};
const cv::Scalar kWall{168, 186, 198};
const cv::Scalar kSkin{122, 152, 204};
const cv::Scalar kRuledLine{206, 178, 150};
const cv::Scalar kMarginLine{150, 150, 222};
const cv::Scalar kSlate{38, 40, 36};          // a dark slate board
const cv::Scalar kPaleMarker{170, 226, 238};  // a pale yellow paint marker

// ---- Options ------------------------------------------------------------------------------------
struct Options {
  fs::path mnist = fs::path(DIGITCAM_SOURCE_DIR) / "data" / "mnist";
  fs::path digits_sheet;  // when set: its handwriting instead of MNIST's test digits
  fs::path background = kDefaultBackground;
  fs::path output = fs::path(DIGITCAM_SOURCE_DIR) / "samples";
  fs::path preview;  // when set: demo frames 0 and 100 as PNG here
  std::uint64_t seed = kDefaultSeed;
  int frames = kVideoFrames;
  double digit_height = kVideoDigitHeight;  // the demo's
  cv::Scalar ink = kBluePen;                // the demo's
  cv::Scalar paper = kPaper;                // the demo's
  double roll_deg = 0;                      // added to the demo card's roll
  double light = 1.0;                       // multiplies the demo's light
  std::string only;                         // one product (demo, stills, photo, board); empty: all
};

constexpr const char* kUsage =
    "usage: make_samples [--mnist DIR] [--background VIDEO] [--output DIR] [--seed N]\n"
    "                    [--frames N] [--preview DIR] [--only PRODUCT] [--digits-sheet PNG]\n"
    "                    [--digit-height PX] [--ink COLOUR] [--paper COLOUR] [--roll DEG]\n"
    "                    [--light GAIN]\n"
    "Renders digitcam's samples (demo video, stills, single-digit photos, ground truth) from\n"
    "MNIST test digits and a real background video. Same seed, same files.\n"
    "  --mnist DIR         MNIST IDX files (default <source>/data/mnist)\n"
    "  --digits-sheet PNG  write with the handwriting of OpenCV's digits.png (other writers,\n"
    "                      for held-out footage) instead of MNIST's test digits; the truth's\n"
    "                      mnist_index is then the sheet's cell (row * 100 + column)\n"
    "  --background VIDEO  moving background of the demo (default OpenCV's vtest.avi);\n"
    "                      Megamind.avi next to it, if present, backs one still\n"
    "  --output DIR        where samples go (default <source>/samples)\n"
    "  --seed N            random seed (default 20240607)\n"
    "  --frames N          length of the demo video (default 200)\n"
    "  --digit-height PX   the demo's nominal ink height of a digit (default 50; 12..400)\n"
    "  --ink COLOUR        the demo's ink: blue (default), black, red or pencil\n"
    "  --paper COLOUR      the demo's card: white (default), yellow, blue, pink or green\n"
    "  --roll DEG          turn the demo's card by this much more (-60..60; default 0)\n"
    "  --light GAIN        the demo's light times this (0.05..3; default 1)\n"
    "  --preview DIR       also write demo frames 0 and 100 as PNG into DIR\n"
    "  --only PRODUCT      render only demo, stills, photo or board (the others are left as\n"
    "                      they are; each product has its own random stream)\n";

// ---- Small helpers ------------------------------------------------------------------------------
float smoothstep(float low, float high, float v) {
  const float s = std::clamp((v - low) / (high - low), 0.0F, 1.0F);
  return s * s * (3.0F - 2.0F * s);
}

double uniform(cv::RNG& rng, double low, double high) {
  return rng.uniform(low, high);
}

double radians(double degrees) {
  return degrees * std::numbers::pi / 180.0;
}

// Writes `text` to `file` atomically (write a sibling, then rename).
void write_text(const fs::path& file, const std::string& text) {
  const fs::path partial = file.string() + ".tmp";
  {
    std::ofstream out(partial, std::ios::binary);
    out << text;
    if (!out) throw digitcam::IoError("cannot write " + partial.string());
  }
  fs::rename(partial, file);
}

void write_png(const fs::path& file, const cv::Mat& image) {
  const fs::path partial = file.parent_path() / (file.stem().string() + ".partial.png");
  if (!cv::imwrite(partial.string(), image, {cv::IMWRITE_PNG_COMPRESSION, 9})) {
    throw digitcam::IoError("cannot write " + partial.string());
  }
  fs::rename(partial, file);
}

// Scales `image` to cover `size` and crops the middle.
cv::Mat fit_cover(const cv::Mat& image, cv::Size size) {
  const double scale = std::max(static_cast<double>(size.width) / image.cols,
                                static_cast<double>(size.height) / image.rows);
  cv::Mat scaled;
  cv::resize(image, scaled,
             cv::Size(std::max(size.width, static_cast<int>(std::lround(image.cols * scale))),
                      std::max(size.height, static_cast<int>(std::lround(image.rows * scale)))),
             0, 0, cv::INTER_AREA);
  const cv::Rect middle((scaled.cols - size.width) / 2, (scaled.rows - size.height) / 2, size.width,
                        size.height);
  return scaled(middle).clone();
}

cv::Mat3f to_float(const cv::Mat& bgr) {
  cv::Mat3f out;
  bgr.convertTo(out, CV_32FC3);
  return out;
}

// Frame `index` of a video, fitted to `size`, as float BGR.
cv::Mat3f video_frame(const fs::path& video, int index, cv::Size size) {
  cv::VideoCapture capture(video.string());
  if (!capture.isOpened()) {
    throw digitcam::SourceError("cannot open background video " + video.string() +
                                "; pass --background VIDEO");
  }
  cv::Mat frame;
  for (int i = 0; i <= index; ++i) {
    if (!capture.read(frame)) break;
  }
  if (frame.empty()) throw digitcam::SourceError("no frames in " + video.string());
  return to_float(fit_cover(frame, size));
}

// Low-frequency unevenness plus grain, one grey offset per pixel.
cv::Mat1f texture(cv::Size size, double blotch, double grain, cv::RNG& rng) {
  cv::Mat1f coarse(size.height / kBlotchCell + 3, size.width / kBlotchCell + 3);
  rng.fill(coarse, cv::RNG::NORMAL, 0.0, blotch);
  cv::Mat1f smooth;
  cv::resize(coarse, smooth, size, 0, 0, cv::INTER_CUBIC);
  cv::Mat1f fine(size);
  rng.fill(fine, cv::RNG::NORMAL, 0.0, grain);
  cv::Mat1f sum;
  cv::add(smooth, fine, sum);
  return sum;
}

cv::Mat3f textured(cv::Size size, const cv::Scalar& colour, double blotch, double grain,
                   cv::RNG& rng) {
  const cv::Mat1f offset = texture(size, blotch, grain, rng);
  cv::Mat3f out(size);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const float o = offset(y, x);
      out(y, x) = cv::Vec3f(static_cast<float>(colour[0]) + o, static_cast<float>(colour[1]) + o,
                            static_cast<float>(colour[2]) + o);
    }
  }
  return out;
}

// Paints `colour` over `image` with per-pixel coverage `alpha` at `at` (alpha may hang over the
// edge of image; that part is dropped).
void paint(cv::Mat3f& image, const cv::Mat1f& alpha, cv::Point at, const cv::Scalar& colour,
           float opacity, const cv::Mat1f& grain = {}) {
  const cv::Vec3f ink(static_cast<float>(colour[0]), static_cast<float>(colour[1]),
                      static_cast<float>(colour[2]));
  for (int y = 0; y < alpha.rows; ++y) {
    const int iy = at.y + y;
    if (iy < 0 || iy >= image.rows) continue;
    for (int x = 0; x < alpha.cols; ++x) {
      const int ix = at.x + x;
      if (ix < 0 || ix >= image.cols) continue;
      float a = alpha(y, x) * opacity;
      if (!grain.empty()) a *= grain(iy, ix);
      image(iy, ix) = image(iy, ix) * (1.0F - a) + ink * a;
    }
  }
}

// ---- Digits -------------------------------------------------------------------------------------
// One handwritten digit: its pen coverage (0..1, tight box) and where it sits on the card layer.
struct Glyph {
  int label = 0;
  int mnist_index = 0;
  cv::Mat1f alpha;
  cv::Point at;
};

// A MNIST test digit as pen coverage whose ink box's longest side is `ink_size` px, leaning by
// `tilt_deg`. MNIST's white-on-black grey levels become a pen stroke with a soft edge. A marker
// (thicken > 0) grows the stroke by that share of ink_size (grey dilation keeps the soft edge).
cv::Mat1f make_glyph(const Dataset& mnist, int index, double ink_size, double tilt_deg,
                     double thicken = 0.0) {
  const cv::Mat1b digit(mnist.rows, mnist.cols,
                        const_cast<std::uint8_t*>(mnist.image(static_cast<std::size_t>(index))));
  const cv::Rect ink = cv::boundingRect(cv::Mat(digit > kMnistInkLevel));
  const cv::Rect box =
      cv::Rect(ink.x - 1, ink.y - 1, ink.width + 2, ink.height + 2) & cv::Rect(0, 0, 28, 28);
  const double factor = ink_size / std::max(ink.width, ink.height);
  cv::Mat1f grey;
  digit(box).convertTo(grey, CV_32F, 1.0 / 255.0);
  cv::Mat1f big;
  cv::resize(grey, big, cv::Size(), factor, factor, cv::INTER_CUBIC);
  for (float& v : big) v = smoothstep(kPenLow, kPenHigh, v);
  if (thicken > 0) {
    const int side = static_cast<int>(std::lround(thicken * ink_size)) | 1;
    cv::copyMakeBorder(big, big, side, side, side, side, cv::BORDER_CONSTANT, 0);
    cv::dilate(big, big, cv::getStructuringElement(cv::MORPH_ELLIPSE, {side, side}));
  }

  const int pad = static_cast<int>(0.25 * std::max(big.rows, big.cols));
  cv::Mat1f padded;
  cv::copyMakeBorder(big, padded, pad, pad, pad, pad, cv::BORDER_CONSTANT, 0);
  const cv::Mat turn = cv::getRotationMatrix2D(
      cv::Point2f(static_cast<float>(padded.cols) / 2, static_cast<float>(padded.rows) / 2),
      tilt_deg, 1.0);
  cv::Mat1f turned;
  cv::warpAffine(padded, turned, turn, padded.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
  cv::GaussianBlur(turned, turned, cv::Size(), kPenSoftness);
  const cv::Rect tight = cv::boundingRect(cv::Mat(turned > 0.01F));
  return turned(tight).clone();
}

// OpenCV's digits sheet (2000x1000, 50 rows of 100 white-on-black 20x20 cells, rows 5k..5k+4
// the digit k) as a data set of 28x28 images, each cell centred with MNIST's 4 px margin, so the
// glyph maker takes other writers' digits exactly as it takes MNIST's.
Dataset load_digits_sheet_cells(const fs::path& path) {
  constexpr int cell = 20;
  constexpr int side = 28;
  // Checked first, so a wrong path gets this line and not OpenCV's warning as well.
  if (!fs::is_regular_file(path)) {
    throw digitcam::IoError("digits sheet not found: " + path.string());
  }
  const cv::Mat1b sheet = cv::imread(path.string(), cv::IMREAD_GRAYSCALE);
  if (sheet.empty()) throw digitcam::IoError("cannot read digits sheet " + path.string());
  if (sheet.cols != 100 * cell || sheet.rows != 50 * cell) {
    throw digitcam::IoError("digits sheet " + path.string() + " is " + std::to_string(sheet.cols) +
                            "x" + std::to_string(sheet.rows) + ", expected 2000x1000");
  }
  Dataset data;
  data.rows = data.cols = side;
  data.count = 5000;
  data.images.assign(static_cast<std::size_t>(data.count) * side * side, 0);
  for (int i = 0; i < data.count; ++i) {
    const int row = i / 100;
    const int column = i % 100;
    cv::Mat1b image(side, side, data.images.data() + static_cast<std::size_t>(i) * side * side);
    sheet(cv::Rect(column * cell, row * cell, cell, cell))
        .copyTo(image(cv::Rect((side - cell) / 2, (side - cell) / 2, cell, cell)));
    data.labels.push_back(static_cast<std::uint8_t>(row / 5));
  }
  return data;
}

// `count` test-set indices drawn at random; a row's first digit is never 0 (numbers like "407").
std::vector<int> pick_digits(const Dataset& mnist, int count, cv::RNG& rng) {
  std::vector<int> picked;
  while (static_cast<int>(picked.size()) < count) {
    const int index = rng.uniform(0, mnist.count);
    if (picked.empty() && count > 1 && mnist.labels[static_cast<std::size_t>(index)] == 0) {
      continue;
    }
    picked.push_back(index);
  }
  return picked;
}

// ---- Cards --------------------------------------------------------------------------------------
enum class Surface { paper, ruled_paper, chalkboard, marker_board };

struct CardStyle {
  Surface surface = Surface::paper;
  cv::Scalar ink = kBluePen;
  cv::Scalar paper = kPaper;  // the paper surfaces' colour
  bool thumb = true;
  int min_rows = 2;
  int max_rows = 3;
  int row_length = 0;    // digits per row; 0: 3-5, fewer when there are more rows
  double thicken = 0.0;  // make_glyph's marker thickening
};

// What the camera sees of the card: a layer (card plus the thumb hanging below it) with colour
// and coverage, and the digits on it.
struct Card {
  cv::Mat3f image;
  cv::Mat1f alpha;
  cv::Size card_size;  // the card proper: layer [0, w) x [0, h)
  bool thumb = false;  // a thumb holds the card at thumb_tip (layer px), hand below the card
  cv::Point2f thumb_tip;
  std::vector<Glyph> glyphs;
  std::vector<std::vector<int>> rows;  // glyph indices per row, left to right
};

// A thumb holds the card at its bottom edge: here only the soft shadow it casts on the card and
// where its tip is; the hand itself is drawn in the frame (render), reaching up from below.
void add_thumb(Card& card, cv::RNG& rng) {
  const double side = rng.uniform(0, 2) == 0 ? 0.25 : 0.75;
  card.thumb = true;
  card.thumb_tip =
      cv::Point2f(static_cast<float>(card.card_size.width * (side + uniform(rng, -0.06, 0.06))),
                  static_cast<float>(card.card_size.height - kCardMarginBottom * 0.55));
  cv::Mat1f shade(card.image.size(), 0.0F);
  const cv::Point centre(static_cast<int>(card.thumb_tip.x),
                         static_cast<int>(card.thumb_tip.y + kThumbRadius * 1.4));
  cv::ellipse(shade, centre,
              cv::Size(static_cast<int>(kThumbRadius), static_cast<int>(kThumbRadius * 1.6)), 0, 0,
              360, 1.0, cv::FILLED);
  cv::GaussianBlur(shade, shade, cv::Size(), 10);
  for (int y = 0; y < card.image.rows; ++y) {
    for (int x = 0; x < card.image.cols; ++x) {
      card.image(y, x) *= 1.0F - 0.35F * shade(std::min(card.image.rows - 1, y + 8), x);
    }
  }
}

void add_ruling(Card& card, double pitch, double first_baseline) {
  const double step = pitch / 2;
  double y = first_baseline + 6;
  while (y - step > 0) y -= step;
  for (; y < card.card_size.height; y += step) {
    const int iy = static_cast<int>(std::lround(y));
    cv::line(card.image, {0, iy}, {card.card_size.width - 1, iy}, kRuledLine, 2, cv::LINE_AA);
  }
  const int mx = kCardMarginX * 6 / 10;
  cv::line(card.image, {mx, 0}, {mx, card.card_size.height - 1}, kMarginLine, 2, cv::LINE_AA);
}

void add_board_frame(Card& card, cv::RNG& rng) {
  const cv::Size size = card.card_size;
  cv::Mat1f streaks(size.height / 40 + 2, 3);
  rng.fill(streaks, cv::RNG::NORMAL, 0.0, 10.0);
  cv::Mat1f along;
  cv::resize(streaks, along, size, 0, 0, cv::INTER_CUBIC);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const int edge = std::min({x, y, size.width - 1 - x, size.height - 1 - y});
      if (edge >= kBoardFrameWidth) continue;
      const float o = along(y, x) + along(x % size.height, y % size.width) * 0.5F;
      const float bevel = edge < 4 ? 0.8F : (edge > kBoardFrameWidth - 5 ? 0.7F : 1.0F);
      card.image(y, x) =
          cv::Vec3f(static_cast<float>(kWood[0]) + o, static_cast<float>(kWood[1]) + o,
                    static_cast<float>(kWood[2]) + o) *
          bevel;
    }
  }
}

// Chalk smudges: old writing wiped off.
void add_smudges(Card& card, cv::RNG& rng) {
  cv::Mat1f smudge(card.image.size(), 0.0F);
  for (int i = 0; i < 7; ++i) {
    const cv::Point centre(rng.uniform(0, smudge.cols), rng.uniform(0, smudge.rows));
    const cv::Size axes(rng.uniform(60, 220), rng.uniform(20, 60));
    cv::ellipse(smudge, centre, axes, uniform(rng, -30, 30), 0, 360, uniform(rng, 0.04, 0.10),
                cv::FILLED);
  }
  cv::GaussianBlur(smudge, smudge, cv::Size(), 25);
  paint(card.image, smudge, {0, 0}, kChalk, 1.0F);
}

// Lays out 2-3 rows of 3-5 digits (each row one number) and draws them on a card.
Card make_card(const Dataset& mnist, const CardStyle& style, cv::RNG& rng) {
  const bool chalk = style.surface == Surface::chalkboard;
  const bool board = chalk || style.surface == Surface::marker_board;
  const int margin_x = board ? kBoardMargin : kCardMarginX;
  const int margin_top = board ? kBoardMargin : kCardMarginTop;
  const int margin_bottom = board ? kBoardMargin : kCardMarginBottom;

  Card card;
  const int row_count = rng.uniform(style.min_rows, style.max_rows + 1);
  const int lengths_low = row_count == 2 ? 4 : 3;
  const int lengths_high = row_count == 2 ? 5 : 4;
  double cursor_y = margin_top;
  double right = 0;
  double first_baseline = 0;
  for (int r = 0; r < row_count; ++r) {
    const int length =
        style.row_length > 0 ? style.row_length : rng.uniform(lengths_low, lengths_high + 1);
    const double row_height = kDigitInkHeight * (1 + uniform(rng, -1, 1) * kRowHeightJitter);
    const double slope = std::tan(radians(uniform(rng, -kRowSlopeDeg, kRowSlopeDeg)));
    const double x0 = margin_x + uniform(rng, 0, kRowIndentMax) * row_height;
    const double baseline0 = cursor_y + row_height + 8;
    if (r == 0) first_baseline = baseline0;
    double x = x0;
    std::vector<int> row;
    for (const int index : pick_digits(mnist, length, rng)) {
      Glyph glyph;
      glyph.mnist_index = index;
      glyph.label = mnist.labels[static_cast<std::size_t>(index)];
      const double size = row_height * (1 + uniform(rng, -1, 1) * kDigitHeightJitter);
      glyph.alpha = make_glyph(mnist, index, size, uniform(rng, -kDigitTiltDeg, kDigitTiltDeg),
                               style.thicken);
      const double baseline =
          baseline0 + slope * (x - x0) + uniform(rng, -kBaselineJitter, kBaselineJitter);
      glyph.at = cv::Point(static_cast<int>(std::lround(x)),
                           static_cast<int>(std::lround(baseline)) - glyph.alpha.rows);
      x += glyph.alpha.cols + uniform(rng, kDigitGapMin, kDigitGapMax) * row_height;
      row.push_back(static_cast<int>(card.glyphs.size()));
      card.glyphs.push_back(std::move(glyph));
    }
    const Glyph& last = card.glyphs.back();
    right = std::max(right, static_cast<double>(last.at.x + last.alpha.cols));
    card.rows.push_back(std::move(row));
    cursor_y += row_height * (1 + kRowGap) + std::max(0.0, slope * (x - x0));
  }
  int bottom = 0;
  for (const Glyph& g : card.glyphs) bottom = std::max(bottom, g.at.y + g.alpha.rows);
  card.card_size = cv::Size(static_cast<int>(right) + margin_x, bottom + margin_bottom);

  const cv::Size layer = card.card_size;
  card.alpha = cv::Mat1f(layer, 0.0F);
  card.alpha.setTo(1.0F);
  card.image = board ? textured(layer, chalk ? kBoard : kSlate, kBoardBlotch, kBoardGrain, rng)
                     : textured(layer, style.paper, kPaperBlotch, kPaperGrain, rng);
  if (style.surface == Surface::ruled_paper) {
    add_ruling(card, kDigitInkHeight * (1 + kRowGap), first_baseline);
  }
  if (board) add_smudges(card, rng);

  cv::Mat1f grain;
  if (chalk) {
    grain = cv::Mat1f(layer);
    rng.fill(grain, cv::RNG::UNIFORM, 0.35, 1.0);
    cv::GaussianBlur(grain, grain, cv::Size(), 0.8);
  }
  for (const Glyph& g : card.glyphs) {
    paint(card.image, g.alpha, g.at, style.ink, chalk ? kChalkOpacity : kInkOpacity, grain);
  }
  if (board) add_board_frame(card, rng);
  if (style.thumb) add_thumb(card, rng);
  return card;
}

// ---- Camera -------------------------------------------------------------------------------------
// Where the card is: its centre in the frame, its rotation and how big it looks (frame px per
// card px at the centre).
struct Pose {
  double cx = 0;
  double cy = 0;
  double roll_deg = 0;
  double yaw_deg = 0;
  double pitch_deg = 0;
  double scale = 0.45;
};

// The card layer -> frame homography of a plane posed in front of a pinhole camera.
cv::Matx33d card_homography(const Card& card, const Pose& pose, cv::Size frame) {
  const double f = kFocalPerWidth * frame.width;
  const double depth = f / pose.scale;
  const double a = radians(pose.roll_deg);
  const double b = radians(pose.yaw_deg);
  const double c = radians(pose.pitch_deg);
  const cv::Matx33d rz(std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1);
  const cv::Matx33d ry(std::cos(b), 0, std::sin(b), 0, 1, 0, -std::sin(b), 0, std::cos(b));
  const cv::Matx33d rx(1, 0, 0, 0, std::cos(c), -std::sin(c), 0, std::sin(c), std::cos(c));
  const cv::Matx33d rotation = rz * ry * rx;
  const double w = card.image.cols;
  const double h = card.image.rows;
  const std::array<cv::Point2f, 4> from{cv::Point2f(0, 0), cv::Point2f(static_cast<float>(w), 0),
                                        cv::Point2f(static_cast<float>(w), static_cast<float>(h)),
                                        cv::Point2f(0, static_cast<float>(h))};
  std::array<cv::Point2f, 4> to;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const cv::Vec3d p = rotation * cv::Vec3d(from[i].x - card.card_size.width / 2.0,
                                             from[i].y - card.card_size.height / 2.0, 0) +
                        cv::Vec3d(0, 0, depth);
    to[i] = cv::Point2f(static_cast<float>(f * p[0] / p[2] + pose.cx),
                        static_cast<float>(f * p[1] / p[2] + pose.cy));
  }
  return cv::getPerspectiveTransform(from.data(), to.data());
}

// Uneven light on the card: overall gain, a linear gradient, a vignette, a colour tint, and
// optionally a soft shadow band (an arm, a lamp's edge) crossing the frame.
struct Lighting {
  double gain = 1.0;
  double gradient_x = 0.0;  // relative change from the left edge to the right edge
  double gradient_y = 0.0;
  double vignette = 0.1;
  cv::Vec3f tint{0.95F, 1.0F, 1.04F};  // warm indoor light
  bool shadow = false;
  cv::Point2d shadow_at;        // a point on the band's centre line
  double shadow_angle_deg = 0;  // direction of the centre line
  double shadow_width = 80;     // px
  double shadow_depth = 0.3;    // light lost in the middle
};

cv::Mat1f light_field(cv::Size size, const Lighting& light) {
  cv::Mat1f field(size);
  const double nx = -std::sin(radians(light.shadow_angle_deg));
  const double ny = std::cos(radians(light.shadow_angle_deg));
  const double soft = light.shadow_width * 0.35;
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const double u = static_cast<double>(x) / size.width - 0.5;
      const double v = static_cast<double>(y) / size.height - 0.5;
      double l = light.gain * (1 + light.gradient_x * u + light.gradient_y * v -
                               light.vignette * 2 * (u * u + v * v));
      if (light.shadow) {
        const double d = std::abs((x - light.shadow_at.x) * nx + (y - light.shadow_at.y) * ny);
        const double inside = 1.0 - smoothstep(static_cast<float>(light.shadow_width / 2 - soft),
                                               static_cast<float>(light.shadow_width / 2 + soft),
                                               static_cast<float>(d));
        l *= 1.0 - light.shadow_depth * inside;
      }
      field(y, x) = static_cast<float>(l);
    }
  }
  return field;
}

// The card layer softened so the warp's downscale does not alias its strokes and grain.
struct Prefiltered {
  cv::Mat3f image;
  cv::Mat1f alpha;
  bool thumb = false;
  cv::Point2f thumb_tip;
};

Prefiltered prefilter(const Card& card, double scale) {
  Prefiltered out;
  out.thumb = card.thumb;
  out.thumb_tip = card.thumb_tip;
  const double sigma = kAntiAlias / scale;
  if (sigma < 0.3) {
    out.image = card.image;
    out.alpha = card.alpha;
    return out;
  }
  cv::GaussianBlur(card.image, out.image, cv::Size(), sigma);
  cv::GaussianBlur(card.alpha, out.alpha, cv::Size(), sigma);
  return out;
}

// The holding hand in the frame: the thumb's rounded tip on the card, widening into the palm and
// wrist down to below the frame's bottom edge, shaded round across its width.
void draw_hand(cv::Mat3f& frame, const Prefiltered& card, const cv::Matx33d& homography,
               const cv::Mat1f& field) {
  std::vector<cv::Point2f> along{card.thumb_tip, card.thumb_tip + cv::Point2f(0, 1)};
  std::vector<cv::Point2f> seen;
  cv::perspectiveTransform(along, seen, cv::Mat(homography));
  cv::Point2f down = seen[1] - seen[0];
  const float unit = std::hypot(down.x, down.y);  // frame px per card px at the tip
  down *= 1.0F / unit;
  const float radius = static_cast<float>(kThumbRadius) * unit;
  const float reach = static_cast<float>(frame.rows) * 1.5F;
  std::vector<cv::Point> outline;
  const auto disc = [&](cv::Point2f c, float r) {
    std::vector<cv::Point> ring;
    cv::ellipse2Poly(cv::Point(cvRound(c.x * 4), cvRound(c.y * 4)),
                     cv::Size(cvRound(r * 4), cvRound(r * 4)), 0, 0, 360, 10, ring);
    outline.insert(outline.end(), ring.begin(), ring.end());
  };
  disc(seen[0], radius);
  disc(seen[0] + down * (radius * 3.0F), radius * 1.9F);
  disc(seen[0] + down * (radius * 7.0F), radius * 3.2F);
  disc(seen[0] + down * reach, radius * 3.4F);
  std::vector<cv::Point> hull;
  cv::convexHull(outline, hull);
  cv::Mat1b mask(frame.size(), 0);
  cv::fillConvexPoly(mask, hull, 255, cv::LINE_AA, 2);  // 2 fractional bits: the 4x points
  cv::Mat1f distance;
  cv::distanceTransform(mask, distance, cv::DIST_L2, 5);
  cv::Mat1f cover;
  mask.convertTo(cover, CV_32F, 1.0 / 255.0);
  cv::GaussianBlur(cover, cover, cv::Size(), 0.8);
  const cv::Vec3f skin(static_cast<float>(kSkin[0]), static_cast<float>(kSkin[1]),
                       static_cast<float>(kSkin[2]));
  const float round_over = radius * 1.2F;
  for (int y = 0; y < frame.rows; ++y) {
    for (int x = 0; x < frame.cols; ++x) {
      const float c = cover(y, x);
      if (c <= 0) continue;
      const float round = std::sqrt(std::min(1.0F, distance(y, x) / round_over));
      const cv::Vec3f colour = skin * ((0.55F + 0.45F * round) * field(y, x));
      frame(y, x) = frame(y, x) * (1.0F - c) + colour * c;
    }
  }
}

struct CameraLook {
  double blur_sigma = 0.7;
  double noise_sigma = 2.0;
};

// Puts the card into the scene and photographs it.
cv::Mat3b render(const cv::Mat3f& background, const Prefiltered& card,
                 const cv::Matx33d& homography, const Lighting& light, const CameraLook& look,
                 cv::RNG& rng) {
  const cv::Size size = background.size();
  cv::Mat3f colour;
  cv::Mat1f cover;
  cv::warpPerspective(card.image, colour, homography, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                      cv::Scalar::all(0));
  cv::warpPerspective(card.alpha, cover, homography, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                      cv::Scalar::all(0));
  const cv::Mat1f field = light_field(size, light);
  cv::Mat3f frame(size);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const float a = std::clamp(cover(y, x), 0.0F, 1.0F);
      const cv::Vec3f lit = colour(y, x).mul(light.tint) * field(y, x);
      frame(y, x) = background(y, x) * (1.0F - a) + lit * a;
    }
  }
  if (card.thumb) draw_hand(frame, card, homography, field);
  if (look.blur_sigma > 0) cv::GaussianBlur(frame, frame, cv::Size(), look.blur_sigma);
  cv::Mat3f noise(size);
  rng.fill(noise, cv::RNG::NORMAL, 0.0, look.noise_sigma);
  frame += noise;
  cv::Mat3b out;
  frame.convertTo(out, CV_8UC3);
  return out;
}

// ---- Ground truth -------------------------------------------------------------------------------
struct TruthDigit {
  int label = 0;
  int mnist_index = 0;
  cv::Rect box;
};

struct Truth {
  std::vector<TruthDigit> digits;
  std::vector<std::string> numbers;
};

// The tight box of each digit's ink in the frame (its coverage warped by the same homography,
// counted where at least kTruthInkLevel). Digits whose ink box is not wholly inside the frame,
// clear of its edge pixels, are left out, and so is a number any of whose digits is left out.
Truth truth_of(const Card& card, const cv::Matx33d& homography, cv::Size frame) {
  Truth truth;
  const cv::Rect inner(1, 1, frame.width - 2, frame.height - 2);
  for (const std::vector<int>& row : card.rows) {
    std::string number;
    bool complete = true;
    for (const int i : row) {
      const Glyph& g = card.glyphs[static_cast<std::size_t>(i)];
      const cv::Matx33d shift(1, 0, g.at.x, 0, 1, g.at.y, 0, 0, 1);
      const cv::Matx33d to_frame = homography * shift;
      std::vector<cv::Point2f> corners{
          {0, 0},
          {static_cast<float>(g.alpha.cols), 0},
          {static_cast<float>(g.alpha.cols), static_cast<float>(g.alpha.rows)},
          {0, static_cast<float>(g.alpha.rows)}};
      cv::perspectiveTransform(corners, corners, cv::Mat(to_frame));
      const cv::Rect reach = cv::boundingRect(corners) + cv::Size(2, 2) - cv::Point(1, 1);
      const cv::Matx33d to_reach = cv::Matx33d(1, 0, -reach.x, 0, 1, -reach.y, 0, 0, 1) * to_frame;
      cv::Mat1f warped;
      cv::warpPerspective(g.alpha, warped, to_reach, reach.size(), cv::INTER_LINEAR,
                          cv::BORDER_CONSTANT, cv::Scalar::all(0));
      const cv::Rect ink = cv::boundingRect(cv::Mat(warped >= kTruthInkLevel)) + reach.tl();
      if (ink.empty() || (ink & inner) != ink) {
        complete = false;
        continue;
      }
      truth.digits.push_back({g.label, g.mnist_index, ink});
      number += static_cast<char>('0' + g.label);
    }
    if (complete) truth.numbers.push_back(number);
  }
  return truth;
}

std::string json_fields(const Truth& truth) {
  std::ostringstream out;
  out << "\"digits\":[";
  for (std::size_t i = 0; i < truth.digits.size(); ++i) {
    const TruthDigit& d = truth.digits[i];
    out << (i ? "," : "") << "{\"label\":" << d.label << ",\"box\":[" << d.box.x << ',' << d.box.y
        << ',' << d.box.width << ',' << d.box.height << "],\"mnist_index\":" << d.mnist_index
        << '}';
  }
  out << "],\"numbers\":[";
  for (std::size_t i = 0; i < truth.numbers.size(); ++i) {
    out << (i ? "," : "") << '"' << truth.numbers[i] << '"';
  }
  out << ']';
  return out.str();
}

// ---- The demo video -----------------------------------------------------------------------------
// A sum of slow sines: the hand's drift, its slower sway and a faint tremor.
struct Wave {
  double amplitude = 0;
  double hertz = 0;
  double phase = 0;
};

struct Motion {
  std::vector<Wave> x, y, roll, yaw, pitch, zoom;
};

std::vector<Wave> waves(cv::RNG& rng, std::initializer_list<std::array<double, 3>> spec) {
  std::vector<Wave> out;
  for (const auto& [amplitude, low_hz, high_hz] : spec) {
    out.push_back(
        {amplitude, uniform(rng, low_hz, high_hz), uniform(rng, 0, 2 * std::numbers::pi)});
  }
  return out;
}

double at(const std::vector<Wave>& sum, double t) {
  double v = 0;
  for (const Wave& w : sum)
    v += w.amplitude * std::sin(2 * std::numbers::pi * w.hertz * t + w.phase);
  return v;
}

Motion hand_motion(cv::RNG& rng) {
  Motion m;
  m.x = waves(rng, {{42, 0.07, 0.14}, {14, 0.25, 0.4}, {1.2, 3, 5}});
  m.y = waves(rng, {{26, 0.08, 0.16}, {9, 0.3, 0.45}, {1.0, 3, 5}});
  m.roll = waves(rng, {{5.5, 0.08, 0.15}, {2.0, 0.3, 0.5}});
  m.yaw = waves(rng, {{11, 0.06, 0.12}, {3, 0.3, 0.5}});
  m.pitch = waves(rng, {{8, 0.07, 0.13}, {2.5, 0.3, 0.5}});
  m.zoom = waves(rng, {{0.06, 0.05, 0.1}, {0.015, 0.4, 0.6}});
  return m;
}

void make_demo(const Dataset& mnist, const Options& options, cv::RNG& rng) {
  const cv::Size size(kVideoWidth, kVideoHeight);
  CardStyle style;
  style.min_rows = 3;  // three numbers, about ten digits
  style.ink = options.ink;
  style.paper = options.paper;
  const Card card = make_card(mnist, style, rng);
  const double scale = options.digit_height / kDigitInkHeight;
  const Prefiltered soft = prefilter(card, scale);
  const Motion motion = hand_motion(rng);
  const double light_phase = uniform(rng, 0, 2 * std::numbers::pi);

  cv::VideoCapture background(options.background.string());
  if (!background.isOpened()) {
    throw digitcam::SourceError("cannot open background video " + options.background.string() +
                                "; pass --background VIDEO");
  }
  const fs::path video = options.output / "demo.avi";
  const fs::path partial = options.output / "demo.partial.avi";
  cv::VideoWriter writer(partial.string(), cv::CAP_FFMPEG,
                         cv::VideoWriter::fourcc('m', 'p', '4', 'v'), kVideoFps, size);
  if (!writer.isOpened()) {
    throw digitcam::IoError("cannot write video " + partial.string() +
                            " (needs OpenCV's FFmpeg backend with the MPEG-4 encoder)");
  }

  std::string lines;
  cv::Mat raw;
  for (int i = 0; i < options.frames; ++i) {
    if (!background.read(raw)) {
      background.set(cv::CAP_PROP_POS_FRAMES, 0);
      if (!background.read(raw)) {
        throw digitcam::SourceError("no frames in " + options.background.string());
      }
    }
    const double t = i / kVideoFps;
    Pose pose;
    pose.cx = size.width / 2.0 + at(motion.x, t);
    pose.cy = size.height / 2.0 - 5 + at(motion.y, t);
    pose.roll_deg = options.roll_deg + at(motion.roll, t);
    pose.yaw_deg = at(motion.yaw, t);
    pose.pitch_deg = at(motion.pitch, t);
    pose.scale = scale * (1 + at(motion.zoom, t));
    const cv::Matx33d homography = card_homography(card, pose, size);

    Lighting light;
    light.gain =
        options.light * (0.97 + 0.05 * std::sin(2 * std::numbers::pi * 0.11 * t + light_phase));
    light.gradient_x = 0.28 * std::sin(2 * std::numbers::pi * 0.05 * t + light_phase);
    light.gradient_y = -0.15 + 0.08 * std::cos(2 * std::numbers::pi * 0.07 * t);
    light.vignette = 0.15;
    // An arm's shadow sweeps across during the middle of the clip.
    light.shadow = true;
    light.shadow_angle_deg = 70;
    light.shadow_at = cv::Point2d(-150 + (size.width + 300) * (t / 8.0), size.height / 2.0);
    light.shadow_width = 90;
    light.shadow_depth = 0.28;

    const cv::Mat3f scene = to_float(fit_cover(raw, size));
    const cv::Mat3b frame = render(scene, soft, homography, light, CameraLook{}, rng);
    writer.write(frame);
    if (!options.preview.empty() && (i == 0 || i == 100)) {
      cv::imwrite((options.preview / ("demo_" + std::to_string(i) + ".png")).string(), frame);
    }
    lines += "{\"frame\":" + std::to_string(i) + "," +
             json_fields(truth_of(card, homography, size)) + "}\n";
  }
  writer.release();
  fs::rename(partial, video);
  write_text(options.output / "demo.truth.jsonl", lines);
}

// ---- The marker-board clips
// ---------------------------------------------------------------------- A camera panning along two
// rows of large digits written with a thick pale marker on a dark slate board (wooden frame, old
// writing wiped off, a glare band from a ceiling light). One clip is for `digitcam calibrate`, the
// other for scoring the profile it writes: same board, marker, light and camera, other digits and
// another pan.
void make_board_clip(const Dataset& mnist, const Options& options, const std::string& name,
                     cv::RNG& rng) {
  const cv::Size size(kVideoWidth, kVideoHeight);
  CardStyle style;
  style.surface = Surface::marker_board;
  style.ink = kPaleMarker;
  style.thumb = false;
  style.min_rows = 2;
  style.max_rows = 2;
  style.row_length = kBoardClipDigitsPerRow;
  style.thicken = kMarkerThicken;
  const Card card = make_card(mnist, style, rng);
  const double scale = kBoardClipDigitHeight / kDigitInkHeight;
  const Prefiltered soft = prefilter(card, scale);
  // The pan: the writing's first ink starts kBoardClipPanMargin digit heights from the frame's
  // left edge, its last ink ends as far from the right edge; eased in and out like a hand pan.
  int first_ink = card.card_size.width, last_ink = 0;
  for (const Glyph& g : card.glyphs) {
    first_ink = std::min(first_ink, g.at.x);
    last_ink = std::max(last_ink, g.at.x + g.alpha.cols);
  }
  const double margin = kBoardClipPanMargin * kBoardClipDigitHeight;
  const double half_card = card.card_size.width / 2.0;
  const double pan_from = margin - (first_ink - half_card) * scale;
  const double pan_to = size.width - margin - (last_ink - half_card) * scale;
  Motion sway;
  sway.x = waves(rng, {{5, 0.2, 0.4}, {0.8, 3, 5}});
  sway.y = waves(rng, {{7, 0.15, 0.3}, {0.8, 3, 5}});
  sway.roll = waves(rng, {{1.5, 0.1, 0.3}});
  sway.yaw = waves(rng, {{4, 0.1, 0.2}});
  sway.pitch = waves(rng, {{3, 0.1, 0.2}});
  sway.zoom = waves(rng, {{0.02, 0.1, 0.3}});
  const cv::Mat3f wall = textured(size, kWall, 5.0, 2.0, rng);

  fs::create_directories(options.output / "board");
  const fs::path video = options.output / "board" / (name + ".avi");
  const fs::path partial = options.output / "board" / (name + ".partial.avi");
  cv::VideoWriter writer(partial.string(), cv::CAP_FFMPEG,
                         cv::VideoWriter::fourcc('m', 'p', '4', 'v'), kVideoFps, size);
  if (!writer.isOpened()) {
    throw digitcam::IoError("cannot write video " + partial.string() +
                            " (needs OpenCV's FFmpeg backend with the MPEG-4 encoder)");
  }
  std::string lines;
  for (int i = 0; i < kBoardClipFrames; ++i) {
    const double t = i / kVideoFps;
    const float progress =
        smoothstep(0.0F, 1.0F, static_cast<float>(i) / static_cast<float>(kBoardClipFrames - 1));
    Pose pose;
    pose.cx = pan_from + (pan_to - pan_from) * progress + at(sway.x, t);
    pose.cy = size.height / 2.0 + at(sway.y, t);
    pose.roll_deg = at(sway.roll, t);
    pose.yaw_deg = at(sway.yaw, t);
    pose.pitch_deg = at(sway.pitch, t);
    pose.scale = scale * (1 + at(sway.zoom, t));
    const cv::Matx33d homography = card_homography(card, pose, size);
    Lighting light;
    light.gradient_x = 0.2;
    light.gradient_y = -0.1;
    light.vignette = 0.2;
    light.tint = {1.0F, 1.0F, 1.0F};
    // A ceiling light's glare: a soft bright band (negative depth) that stays put on the board,
    // so it moves across the frame with the pan.
    light.shadow = true;
    light.shadow_angle_deg = 75;
    light.shadow_at = cv::Point2d(pose.cx - 0.15 * card.card_size.width * scale, 0);
    light.shadow_width = 150;
    light.shadow_depth = -0.45;
    const cv::Mat3b frame = render(wall, soft, homography, light, CameraLook{}, rng);
    writer.write(frame);
    if (!options.preview.empty() && (i == 0 || i == kBoardClipFrames / 2)) {
      cv::imwrite((options.preview / ("board_" + name + "_" + std::to_string(i) + ".png")).string(),
                  frame);
    }
    lines += "{\"frame\":" + std::to_string(i) + "," +
             json_fields(truth_of(card, homography, size)) + "}\n";
  }
  writer.release();
  fs::rename(partial, video);
  write_text(options.output / "board" / (name + ".truth.jsonl"), lines);
}

// ---- Stills -------------------------------------------------------------------------------------
struct Still {
  std::string name;
  cv::Size size;
  int background_frame = 0;  // -1: a plain wall
  bool second_background = false;
  CardStyle style;
  Pose pose;
  Lighting light;
  CameraLook look;
};

std::vector<Still> stills() {
  std::vector<Still> s(5);
  s[0].name = "card_street";
  s[0].size = {800, 600};
  s[0].background_frame = 300;
  s[0].pose = {360, 310, -5, 10, -6, 0.5};
  s[0].light.gradient_x = 0.15;

  s[1].name = "card_tilted_megamind";
  s[1].size = {1280, 720};
  s[1].second_background = true;
  s[1].background_frame = 120;
  s[1].style.ink = kBlackPen;
  s[1].pose = {700, 370, 8, -18, 16, 0.72};
  s[1].light.gradient_x = -0.35;
  s[1].light.gradient_y = 0.2;
  s[1].light.tint = {0.88F, 0.98F, 1.08F};

  s[2].name = "card_in_shade";
  s[2].size = {800, 600};
  s[2].background_frame = 600;
  s[2].pose = {420, 290, 3, -6, 8, 0.48};
  s[2].light.gain = 0.55;
  s[2].light.vignette = 0.45;
  s[2].light.gradient_y = -0.3;
  s[2].look = {1.1, 5.0};

  s[3].name = "card_ruled_shadow";
  s[3].size = {1280, 720};
  s[3].background_frame = 450;
  s[3].style.surface = Surface::ruled_paper;
  s[3].style.ink = kBlackPen;
  s[3].pose = {610, 350, -7, 5, -10, 0.68};
  s[3].light.shadow = true;
  s[3].light.shadow_at = {560, 360};
  s[3].light.shadow_angle_deg = 60;
  s[3].light.shadow_width = 140;
  s[3].light.shadow_depth = 0.35;

  s[4].name = "board_chalk";
  s[4].size = {1280, 720};
  s[4].background_frame = -1;
  s[4].style.surface = Surface::chalkboard;
  s[4].style.ink = kChalk;
  s[4].style.thumb = false;
  s[4].style.min_rows = 3;
  s[4].pose = {640, 370, 1.5, 12, -5, 0.0};  // scale: fit the board to the frame below
  s[4].light.gradient_x = 0.3;
  s[4].light.vignette = 0.3;
  s[4].light.tint = {1.0F, 1.0F, 1.0F};
  return s;
}

void make_stills(const Dataset& mnist, const Options& options, cv::RNG& rng) {
  const fs::path folder = options.output / "stills";
  fs::create_directories(folder);
  fs::path second = options.background.parent_path() / kSecondBackgroundName;
  if (!fs::exists(second)) second = options.background;
  for (Still still : stills()) {
    const Card card = make_card(mnist, still.style, rng);
    if (still.pose.scale <= 0) {
      still.pose.scale =
          0.9 * std::min(static_cast<double>(still.size.width) / card.card_size.width,
                         static_cast<double>(still.size.height) / card.card_size.height);
    }
    cv::Mat3f background;
    if (still.background_frame < 0) {
      background = textured(still.size, kWall, 5.0, 2.0, rng);
    } else {
      background = video_frame(still.second_background ? second : options.background,
                               still.background_frame, still.size);
    }
    const cv::Matx33d homography = card_homography(card, still.pose, still.size);
    const cv::Mat3b image = render(background, prefilter(card, still.pose.scale), homography,
                                   still.light, still.look, rng);
    write_png(folder / (still.name + ".png"), image);
    std::string json = "{";
    json += json_fields(truth_of(card, homography, still.size));
    json += "}\n";
    write_text(folder / (still.name + ".truth.json"), json);
  }
}

// ---- Single-digit photos ------------------------------------------------------------------------
struct Photo {
  std::string kind;
  cv::Size size;
  cv::Scalar ground;
  double blotch = 0;
  cv::Scalar ink;
  double ink_size = 0;  // longest side of the ink box, px
  bool centred = true;
};

void make_photos(const Dataset& mnist, const Options& options, cv::RNG& rng) {
  const fs::path folder = options.output / "photo";
  fs::create_directories(folder);
  const std::array<Photo, 3> photos{
      Photo{"big", {300, 300}, {238, 240, 242}, 3.0, kBlackPen, 235, true},
      Photo{"small_grey", {640, 480}, {128, 131, 134}, 9.0, {30, 28, 26}, 46, false},
      Photo{"white_on_black", {400, 400}, {14, 14, 14}, 1.5, {246, 246, 246}, 270, true}};
  std::string csv = "file,label\n";
  std::vector<int> labels_used;
  for (const Photo& p : photos) {
    int index = 0;
    do {
      index = rng.uniform(0, mnist.count);
    } while (std::find(labels_used.begin(), labels_used.end(),
                       mnist.labels[static_cast<std::size_t>(index)]) != labels_used.end());
    const int label = mnist.labels[static_cast<std::size_t>(index)];
    labels_used.push_back(label);
    const cv::Mat1f glyph = make_glyph(mnist, index, p.ink_size, uniform(rng, -3, 3));
    cv::Mat3f image = textured(p.size, p.ground, p.blotch, 2.0, rng);
    cv::Point at((p.size.width - glyph.cols) / 2, (p.size.height - glyph.rows) / 2);
    if (!p.centred) {
      at += cv::Point(rng.uniform(-110, 110), rng.uniform(-70, 70));
    }
    paint(image, glyph, at, p.ink, kInkOpacity);
    cv::GaussianBlur(image, image, cv::Size(), 0.6);
    cv::Mat3b out;
    image.convertTo(out, CV_8UC3);
    const std::string file = std::to_string(label) + "_" + p.kind + ".png";
    write_png(folder / file, out);
    csv += file + "," + std::to_string(label) + "\n";
  }
  write_text(folder / "truth.csv", csv);
}

// ---- main ---------------------------------------------------------------------------------------
struct NamedColour {
  const char* name;
  cv::Scalar colour;
};
const std::array<NamedColour, 4> kInks{
    {{"blue", kBluePen}, {"black", kBlackPen}, {"red", kRedPen}, {"pencil", kPencil}}};
const std::array<NamedColour, 5> kPapers{{{"white", kPaper},
                                          {"yellow", kYellowPaper},
                                          {"blue", kBluePaper},
                                          {"pink", kPinkPaper},
                                          {"green", kGreenPaper}}};

// The colour `value` names among `colours`; a UsageError listing them when it names none.
template <std::size_t N>
cv::Scalar colour_named(const std::string& option, const std::string& value,
                        const std::array<NamedColour, N>& colours) {
  std::string names;
  for (const NamedColour& c : colours) {
    if (value == c.name) return c.colour;
    names += names.empty() ? c.name : std::string(", ") + c.name;
  }
  throw digitcam::UsageError(option + " takes " + names + ", not " + value);
}

// All of `value` read as a number by parse (std::stod, std::stoull: value, characters used); a
// UsageError naming the option when it is not one.
template <class Parse>
auto number_in(const std::string& option, const std::string& value, Parse parse) {
  std::size_t used = 0;
  decltype(parse(value, &used)) n{};
  try {
    n = parse(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size()) throw digitcam::UsageError(option + " needs a number, not " + value);
  return n;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc) throw digitcam::UsageError("option " + arg + " needs a value (or unknown)");
    const std::string value = argv[++i];
    if (arg == "--mnist") {
      options.mnist = value;
    } else if (arg == "--digits-sheet") {
      options.digits_sheet = value;
    } else if (arg == "--background") {
      options.background = value;
    } else if (arg == "--output") {
      options.output = value;
    } else if (arg == "--preview") {
      options.preview = value;
    } else if (arg == "--only") {
      if (value != "demo" && value != "stills" && value != "photo" && value != "board") {
        throw digitcam::UsageError("--only takes demo, stills, photo or board, not " + value);
      }
      options.only = value;
    } else if (arg == "--ink") {
      options.ink = colour_named(arg, value, kInks);
    } else if (arg == "--paper") {
      options.paper = colour_named(arg, value, kPapers);
    } else if (arg == "--roll" || arg == "--light") {
      const double x = number_in(
          arg, value, [](const std::string& v, std::size_t* used) { return std::stod(v, used); });
      if (arg == "--roll") {
        if (!(x >= -60 && x <= 60)) throw digitcam::UsageError("--roll must be -60..60");
        options.roll_deg = x;
      } else {
        if (!(x >= 0.05 && x <= 3)) throw digitcam::UsageError("--light must be 0.05..3");
        options.light = x;
      }
    } else if (arg == "--seed" || arg == "--frames" || arg == "--digit-height") {
      const unsigned long long n = number_in(
          arg, value, [](const std::string& v, std::size_t* used) { return std::stoull(v, used); });
      if (arg == "--seed") {
        options.seed = n;
      } else if (arg == "--digit-height") {
        if (n < 12 || n > 400) throw digitcam::UsageError("--digit-height must be 12..400");
        options.digit_height = static_cast<double>(n);
      } else {
        if (n < 1 || n > 100000) throw digitcam::UsageError("--frames must be 1..100000");
        options.frames = static_cast<int>(n);
      }
    } else {
      throw digitcam::UsageError("unknown option " + arg);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    const fs::path test_images =
        options.mnist / digitcam::train::mnist_file_names(digitcam::train::Split::test).images;
    if (options.digits_sheet.empty() && !fs::exists(test_images)) {
      throw digitcam::IoError("MNIST test set not found: " + test_images.string() +
                              "; run tools/setup.sh to fetch MNIST, or pass --mnist DIR");
    }
    if (!fs::exists(options.background)) {
      throw digitcam::SourceError("background video not found: " + options.background.string() +
                                  " (OpenCV's sample vtest.avi, Debian package opencv-doc); pass "
                                  "--background VIDEO");
    }
    const Dataset mnist =
        options.digits_sheet.empty()
            ? digitcam::train::load_mnist(options.mnist, digitcam::train::Split::test)
            : load_digits_sheet_cells(options.digits_sheet);
    fs::create_directories(options.output);
    if (!options.preview.empty()) fs::create_directories(options.preview);

    // One random stream per product, so changing one leaves the others as they were.
    cv::RNG demo_rng(options.seed);
    cv::RNG stills_rng(options.seed + 1);
    cv::RNG photo_rng(options.seed + 2);
    cv::RNG board_rng(options.seed + 3);
    const auto wanted = [&](const char* product) {
      return options.only.empty() || options.only == product;
    };
    if (wanted("demo")) make_demo(mnist, options, demo_rng);
    if (wanted("stills")) make_stills(mnist, options, stills_rng);
    if (wanted("photo")) make_photos(mnist, options, photo_rng);
    if (wanted("board")) {
      make_board_clip(mnist, options, "calibrate", board_rng);
      make_board_clip(mnist, options, "test", board_rng);
    }
    std::cerr << "make_samples: wrote " << options.output.string() << "\n";
    return 0;
  } catch (const digitcam::UsageError& e) {
    std::cerr << "make_samples: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "make_samples: " << e.what() << "\n";
    return 1;
  }
}
