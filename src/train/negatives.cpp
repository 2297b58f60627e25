#include "digitcam/train/negatives.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>
#include <string_view>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/vision/normalizer.hpp"
#include "digitcam/vision/segmenter.hpp"

namespace digitcam::train {

namespace {

namespace fs = std::filesystem;

constexpr int side = vision::normalized_side;

// Scene views: a random view of a photo keeps this share of each side of it, is turned by up to
// this many degrees and mirrored half the time.
constexpr float view_min_share = 0.4f;
constexpr float view_max_degrees = 8.0f;
// Megamind.avi (720 frames): the first half trains, the second half is held out; every n-th
// frame is read (neighbouring frames give near-identical crops).
constexpr const char* megamind = "Megamind.avi";
constexpr const char* tree = "tree.avi";
constexpr int megamind_training_stride = 3;
constexpr int megamind_held_out_stride = 6;
constexpr int tree_stride = 2;

// Glyphs: characters and Hershey faces. Characters a reader could take for a digit (O o D Q
// for 0; I l i j J L T t | / \ ( ) [ ] ! for 1 and 7; Z z for 2; S s $ for 5; b G for 6; B & for
// 8; a g q for 9) are left out: they would teach the network that digits are not digits.
constexpr std::string_view glyph_characters = "ACEFHKMNPRUVWXYcdefhkmnpruvwxy+*#@%?=<>{}^~-";
constexpr std::array training_fonts = {cv::FONT_HERSHEY_SIMPLEX, cv::FONT_HERSHEY_PLAIN,
                                       cv::FONT_HERSHEY_DUPLEX, cv::FONT_HERSHEY_COMPLEX,
                                       cv::FONT_HERSHEY_SCRIPT_SIMPLEX};
constexpr std::array held_out_fonts = {cv::FONT_HERSHEY_TRIPLEX, cv::FONT_HERSHEY_SCRIPT_COMPLEX};
constexpr int glyph_canvas_w = 160;
constexpr int glyph_canvas_h = 112;
constexpr float glyph_string_share = 0.3f;  // two or three characters in one crop
constexpr float glyph_max_degrees = 15.0f;
constexpr float glyph_max_shear = 0.3f;
constexpr int glyph_max_thickness = 6;

// Fragments keep this share of the ink box on one side; a fragment narrower than this share of
// its height is a stroke a reader would call "1" and is skipped, as are nearly inkless ones.
constexpr float fragment_min_keep = 0.35f;
constexpr float fragment_max_keep = 0.65f;
constexpr double fragment_min_aspect = 0.6;
constexpr int fragment_min_ink = 20;  // pixels above half brightness
constexpr int ink_level = 128;
// Pairs: the second digit starts this many pixels right of the first (MNIST's ink box is 20 px
// wide at most), so the two touch or overlap as one segmenter candidate would.
constexpr int pair_min_offset = 14;
constexpr int pair_max_offset = 22;

// Figures: a person seen by a camera at a distance is an upright blob (head, torso, legs) that a
// network which never saw one calls "1" with full confidence. Proportions in shares of the
// figure's height; drawn on a canvas this tall, then shrunk to a camera's size and blurred.
constexpr int figure_canvas_h = 160;
constexpr int figure_canvas_w = 128;
constexpr float figure_min_camera_h = 24.0f;  // pixels tall in the simulated camera frame
constexpr float figure_max_camera_h = 140.0f;
constexpr float figure_max_degrees = 6.0f;
// A figure narrower than this share of its height (legs together, arms down, seen small) is the
// shape of a "1": skipped, as thin fragments are.
constexpr double figure_min_aspect = 0.3;

// Random streams, one per part, so changing one count leaves the others' draws alone.
enum Stream : std::uint64_t {
  scene_stream = 1,
  glyph_stream,
  fragment_stream,
  pair_stream,
  figure_stream
};

// SplitMix64: portable, so the negatives are the same with any standard library.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(uniform()); }
  // 0 .. n-1
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(float p) { return uniform() < p; }

 private:
  std::uint64_t state_;
};

Random stream(std::uint64_t seed, Stream s, bool held_out) {
  return Random(seed * 0x2545F4914F6CDD1Dull + static_cast<std::uint64_t>(s) * 2 +
                (held_out ? 1 : 0));
}

// Collects 28x28 crops as bytes.
class Crops {
 public:
  void add(const cv::Mat& crop32) {
    cv::Mat bytes;
    crop32.convertTo(bytes, CV_8U, 255.0);
    images_.insert(images_.end(), bytes.datastart, bytes.dataend);
  }
  std::size_t size() const { return images_.size() / (side * side); }
  // A seeded sample of at most `limit` crops, in their original order.
  void keep_at_most(std::size_t limit, Random& random) {
    if (size() <= limit) return;
    std::vector<std::size_t> order(size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (std::size_t i = order.size() - 1; i > 0; --i)
      std::swap(order[i], order[random.below(i + 1)]);
    order.resize(limit);
    std::sort(order.begin(), order.end());
    std::vector<std::uint8_t> kept;
    kept.reserve(limit * side * side);
    for (std::size_t i : order) {
      const auto* from = images_.data() + i * side * side;
      kept.insert(kept.end(), from, from + side * side);
    }
    images_ = std::move(kept);
  }
  const std::vector<std::uint8_t>& images() const { return images_; }

 private:
  std::vector<std::uint8_t> images_;
};

fs::path existing(const fs::path& folder, const std::string& name) {
  const fs::path path = folder / name;
  if (!fs::exists(path)) {
    throw IoError("not-a-digit examples need " + path.string() +
                  " (Debian package opencv-doc); run tools/setup.sh, or train with --no-negatives");
  }
  return path;
}

// Every candidate the segmenter finds in frame, normalised as the camera path does.
// Every digit-like piece of a scene is an example, also the upright pieces of longer objects that
// the app's segmenter drops (check_stroke_ends): the network learns them as not a digit too.
vision::SegmenterOptions scene_segmentation() {
  vision::SegmenterOptions options;
  options.check_stroke_ends = false;
  return options;
}

void cut_candidates(vision::Segmenter& segmenter, const cv::Mat& frame, Crops& out) {
  const vision::Segmentation found = segmenter.segment(frame);
  const vision::NormalizeOptions normalize{found.polarity, true};
  for (const vision::Candidate& c : found.candidates) {
    if (auto crop = vision::normalize_digit(c.gray, normalize, c.ink_mask)) out.add(*crop);
  }
}

// A random view of a photo: a crop of it, turned a little, mirrored half the time.
cv::Mat random_view(const cv::Mat& picture, Random& random) {
  const float share_w = random.uniform(view_min_share, 1.0f);
  const float share_h = random.uniform(view_min_share, 1.0f);
  const int w = std::max(32, static_cast<int>(static_cast<float>(picture.cols) * share_w));
  const int h = std::max(32, static_cast<int>(static_cast<float>(picture.rows) * share_h));
  const int x = static_cast<int>(random.below(static_cast<std::size_t>(picture.cols - w + 1)));
  const int y = static_cast<int>(random.below(static_cast<std::size_t>(picture.rows - h + 1)));
  cv::Mat view = picture(cv::Rect(x, y, std::min(w, picture.cols), std::min(h, picture.rows)));
  const double degrees = random.uniform(-view_max_degrees, view_max_degrees);
  const cv::Mat turn = cv::getRotationMatrix2D(
      cv::Point2f(static_cast<float>(view.cols) / 2.0f, static_cast<float>(view.rows) / 2.0f),
      degrees, 1.0);
  cv::Mat turned;
  cv::warpAffine(view, turned, turn, view.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  if (random.chance(0.5f)) cv::flip(turned, turned, 1);
  return turned;
}

void scene_from_pictures(const fs::path& folder, const std::vector<std::string>& names, int views,
                         Random& random, Crops& out) {
  vision::Segmenter segmenter(scene_segmentation());
  for (const std::string& name : names) {
    const fs::path path = existing(folder, name);
    const cv::Mat picture = cv::imread(path.string(), cv::IMREAD_COLOR);
    if (picture.empty()) throw IoError("cannot read picture " + path.string());
    cut_candidates(segmenter, picture, out);
    for (int v = 0; v < views; ++v) cut_candidates(segmenter, random_view(picture, random), out);
  }
}

// Frames [first, last) of a video, every stride-th one.
void scene_from_video(const fs::path& folder, const std::string& name, int first, int last,
                      int stride, Crops& out) {
  const fs::path path = existing(folder, name);
  cv::VideoCapture video(path.string());
  if (!video.isOpened()) throw IoError("cannot open video " + path.string());
  vision::Segmenter segmenter(scene_segmentation());
  cv::Mat frame;
  for (int index = 0; index < last && video.read(frame); ++index) {
    if (index >= first && (index - first) % stride == 0) cut_candidates(segmenter, frame, out);
  }
}

void render_glyphs(int count, bool held_out, Random& random, Crops& out) {
  const vision::NormalizeOptions normalize{vision::Polarity::light_on_dark, true};
  cv::Mat canvas(glyph_canvas_h, glyph_canvas_w, CV_8UC1), warped;
  while (static_cast<int>(out.size()) < count) {
    const int font = held_out ? held_out_fonts[random.below(held_out_fonts.size())]
                              : training_fonts[random.below(training_fonts.size())];
    const int length =
        random.chance(glyph_string_share) ? 2 + static_cast<int>(random.below(2)) : 1;
    std::string text;
    for (int i = 0; i < length; ++i)
      text += glyph_characters[random.below(glyph_characters.size())];
    const int italic = random.chance(0.3f) ? cv::FONT_ITALIC : 0;
    const int thickness = 1 + static_cast<int>(random.below(glyph_max_thickness));
    const double scale = length == 1 ? random.uniform(1.6f, 2.4f) : random.uniform(0.9f, 1.3f);
    canvas.setTo(0);
    cv::putText(canvas, text, cv::Point(16, glyph_canvas_h * 3 / 4), font | italic, scale,
                cv::Scalar(255), thickness, cv::LINE_AA);
    const double degrees = random.uniform(-glyph_max_degrees, glyph_max_degrees);
    cv::Mat affine = cv::getRotationMatrix2D(
        cv::Point2f(glyph_canvas_w / 2.0f, glyph_canvas_h / 2.0f), degrees, 1.0);
    affine.at<double>(0, 1) += random.uniform(-glyph_max_shear, glyph_max_shear);
    cv::warpAffine(canvas, warped, affine, canvas.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT);
    if (auto crop = vision::normalize_digit(warped, normalize)) out.add(*crop);
  }
}

cv::Point point(float x, float y) {
  return {static_cast<int>(std::lround(x)), static_cast<int>(std::lround(y))};
}

// One standing or walking person, white on black: head, torso (sometimes a coat's flare), two
// legs with a stride, two swinging arms, sometimes a bag; sometimes the lower part hidden or one
// part missing (pale clothes the segmenter does not see as ink).
void draw_figure(cv::Mat& canvas, Random& random) {
  canvas.setTo(0);
  const float h = static_cast<float>(figure_canvas_h) * 0.9f;
  const float cx = static_cast<float>(figure_canvas_w) / 2.0f;
  const float top = static_cast<float>(figure_canvas_h) * 0.05f;
  const float head_r = h * random.uniform(0.055f, 0.085f);
  const float neck_y = top + 2.0f * head_r;
  const float hip_y = neck_y + h * random.uniform(0.28f, 0.38f);
  const float foot_y = top + h;
  const float shoulder_w = h * random.uniform(0.09f, 0.15f);  // half widths
  const float hip_w = h * random.uniform(0.06f, 0.1f);
  const float lean = random.uniform(-0.08f, 0.08f) * h;  // head ahead of the feet when walking
  const bool pale_top = random.chance(0.1f), pale_legs = !pale_top && random.chance(0.1f);

  const auto white = cv::Scalar(255);
  cv::circle(canvas, point(cx + lean, top + head_r), static_cast<int>(head_r), white, cv::FILLED,
             cv::LINE_AA);
  if (!pale_top) {
    const float flare = random.chance(0.25f) ? h * random.uniform(0.02f, 0.08f) : 0.0f;
    const float coat_y = flare > 0 ? hip_y + h * random.uniform(0.1f, 0.25f) : hip_y;
    const std::array<cv::Point, 4> torso = {point(cx + lean - shoulder_w, neck_y),
                                            point(cx + lean + shoulder_w, neck_y),
                                            point(cx + lean * 0.3f + hip_w + flare, coat_y),
                                            point(cx + lean * 0.3f - hip_w - flare, coat_y)};
    cv::fillConvexPoly(canvas, torso.data(), static_cast<int>(torso.size()), white, cv::LINE_AA);
    const int arm = std::max(2, static_cast<int>(h * random.uniform(0.035f, 0.06f)));
    for (const float way : {-1.0f, 1.0f}) {
      const float swing = random.uniform(-0.35f, 0.35f);
      const float length = h * random.uniform(0.3f, 0.4f);
      const float sx = cx + lean + way * (shoulder_w - static_cast<float>(arm) / 2.0f);
      const float sy = neck_y + static_cast<float>(arm);
      const float hx = sx + way * length * 0.1f + length * std::sin(swing);
      const float hy = sy + length * std::cos(swing);
      cv::line(canvas, point(sx, sy), point(hx, hy), white, arm, cv::LINE_AA);
      if (random.chance(0.12f)) {  // a bag in this hand
        const float bw = h * random.uniform(0.05f, 0.12f), bh = h * random.uniform(0.06f, 0.14f);
        cv::rectangle(canvas, point(hx - bw / 2, hy), point(hx + bw / 2, hy + bh), white,
                      cv::FILLED, cv::LINE_AA);
      }
    }
  }
  if (!pale_legs) {
    const int leg = std::max(2, static_cast<int>(h * random.uniform(0.05f, 0.09f)));
    const float stride = h * random.uniform(0.0f, 0.22f);
    for (const float way : {-1.0f, 1.0f}) {
      const float start = cx + lean * 0.3f + way * (hip_w - static_cast<float>(leg) / 2.0f);
      cv::line(canvas, point(start, hip_y),
               point(cx + way * stride, foot_y - static_cast<float>(leg) / 2.0f), white, leg,
               cv::LINE_AA);
    }
  }
  if (random.chance(0.15f)) {  // the lower part hidden behind something
    const int hidden = static_cast<int>(h * random.uniform(0.1f, 0.35f));
    canvas(cv::Rect(0, canvas.rows - hidden, canvas.cols, hidden)).setTo(0);
  }
}

// Figures as a camera sees them: shrunk to 24-140 px tall (blurred as a lens and the shrinking
// blur them), turned a little, mirrored half the time, then normalised like every crop.
void draw_figures(int count, Random& random, Crops& out) {
  const vision::NormalizeOptions normalize{vision::Polarity::light_on_dark, true};
  cv::Mat canvas(figure_canvas_h, figure_canvas_w, CV_8UC1), turned, small;
  for (long tries = 0; static_cast<int>(out.size()) < count && tries < 10L * count + 1000;
       ++tries) {
    draw_figure(canvas, random);
    const double degrees = random.uniform(-figure_max_degrees, figure_max_degrees);
    const cv::Mat turn = cv::getRotationMatrix2D(
        cv::Point2f(figure_canvas_w / 2.0f, figure_canvas_h / 2.0f), degrees, 1.0);
    cv::warpAffine(canvas, turned, turn, canvas.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT);
    if (random.chance(0.5f)) cv::flip(turned, turned, 1);
    const double scale = random.uniform(figure_min_camera_h, figure_max_camera_h) /
                         static_cast<float>(figure_canvas_h);
    cv::resize(turned, small, cv::Size(), scale, scale, cv::INTER_AREA);
    cv::GaussianBlur(small, small, cv::Size(), random.uniform(0.3f, 1.2f));
    // The segmenter's ink mask is a threshold of the blurred blob.
    cv::threshold(small, small, 255.0 * random.uniform(0.3f, 0.6f), 255, cv::THRESH_TOZERO);
    const cv::Rect ink = cv::boundingRect(small);
    if (ink.width < figure_min_aspect * ink.height) continue;
    if (auto crop = vision::normalize_digit(small, normalize)) out.add(*crop);
  }
}

cv::Mat digit_image(const Dataset& digits, std::size_t index) {
  return cv::Mat(digits.rows, digits.cols, CV_8UC1, const_cast<std::uint8_t*>(digits.image(index)))
      .clone();
}

void cut_fragments(const Dataset& digits, int count, Random& random, Crops& out) {
  const vision::NormalizeOptions normalize{vision::Polarity::light_on_dark, true};
  // Bounded so data without usable digits cannot loop for ever.
  for (long tries = 0; static_cast<int>(out.size()) < count && tries < 100L * count + 1000;
       ++tries) {
    const std::size_t index = random.below(static_cast<std::size_t>(digits.count));
    if (digits.labels[index] == 1) continue;  // every part of a "1" is a "1"
    cv::Mat image = digit_image(digits, index);
    const cv::Rect ink = cv::boundingRect(image > ink_level);
    if (ink.empty()) continue;
    const float keep = random.uniform(fragment_min_keep, fragment_max_keep);
    cv::Rect cut = ink;  // the part that is erased
    switch (random.below(4)) {
      case 0:
        cut.y += static_cast<int>(static_cast<float>(ink.height) * keep);
        break;  // keep the top
      case 1:
        cut.height = static_cast<int>(static_cast<float>(ink.height) * (1 - keep));
        break;  // keep the bottom
      case 2:
        cut.x += static_cast<int>(static_cast<float>(ink.width) * keep);
        break;  // keep the left
      default:
        cut.width = static_cast<int>(static_cast<float>(ink.width) * (1 - keep));
        break;  // keep the right
    }
    cut.width = std::min(cut.width, image.cols - cut.x);
    cut.height = std::min(cut.height, image.rows - cut.y);
    if (cut.width <= 0 || cut.height <= 0) continue;
    image(cut).setTo(0);
    const cv::Mat rest = image > ink_level;
    const cv::Rect left = cv::boundingRect(rest);
    if (cv::countNonZero(rest) < fragment_min_ink || left.height == 0 ||
        left.width < fragment_min_aspect * left.height) {
      continue;
    }
    if (auto crop = vision::normalize_digit(image, normalize)) out.add(*crop);
  }
}

void squeeze_pairs(const Dataset& digits, int count, Random& random, Crops& out) {
  const vision::NormalizeOptions normalize{vision::Polarity::light_on_dark, true};
  cv::Mat canvas;
  for (long tries = 0; static_cast<int>(out.size()) < count && tries < 10L * count + 1000;
       ++tries) {
    const cv::Mat first = digit_image(digits, random.below(static_cast<std::size_t>(digits.count)));
    const cv::Mat second =
        digit_image(digits, random.below(static_cast<std::size_t>(digits.count)));
    const int offset =
        pair_min_offset + static_cast<int>(random.below(pair_max_offset - pair_min_offset + 1));
    canvas = cv::Mat::zeros(digits.rows, offset + digits.cols, CV_8UC1);
    first.copyTo(canvas(cv::Rect(0, 0, digits.cols, digits.rows)));
    cv::Mat right = canvas(cv::Rect(offset, 0, digits.cols, digits.rows));
    cv::max(right, second, right);
    if (auto crop = vision::normalize_digit(canvas, normalize)) out.add(*crop);
  }
}

Dataset as_dataset(const std::vector<const Crops*>& parts, std::vector<int>& counts) {
  Dataset d;
  d.rows = d.cols = side;
  for (const Crops* part : parts) {
    d.images.insert(d.images.end(), part->images().begin(), part->images().end());
    counts.push_back(static_cast<int>(part->size()));
  }
  d.count = static_cast<int>(d.images.size() / (side * side));
  d.labels.assign(static_cast<std::size_t>(d.count), not_a_digit_label);
  return d;
}

}  // namespace

std::string NegativeOptions::describe() const {
  std::ostringstream s;
  s << "scene:" << scene_limit << ",glyph:" << glyphs << ",fragment:" << fragments
    << ",pair:" << pairs << ",figure:" << figures;
  return s.str();
}

std::vector<std::string> negative_training_pictures() {
  // Every one viewed and found free of digits. Left out for showing digits: board.jpg (chip and
  // part markings), box.png, cards.png, messi5.jpg, sudoku.png, the left/right calibration
  // shots, licenseplate_motion.jpg; graf1.png's lettering could pass for digits. Left out for
  // drawing rings a reader would call 0: HappyFish.jpg (bubbles), pic3.png (a drawn circle).
  return {"Blender_Suzanne1.jpg",
          "aero1.jpg",
          "aloeL.jpg",
          "apple.jpg",
          "baboon.jpg",
          "basketball1.png",
          "blox.jpg",
          "building.jpg",
          "chessboard.png",
          "chicky_512.png",
          "detect_blob.png",
          "ellipses.jpg",
          "fruits.jpg",
          "leuvenA.jpg",
          "ml.png",
          "notes.png",
          "orange.jpg",
          "pca_test1.jpg",
          "pic1.png",
          "pic4.png",
          "pic6.png",
          "rubberwhale1.png",
          "smarties.png",
          "squirrel_cls.jpg",
          "stuff.jpg"};
}

std::vector<std::string> negative_held_out_pictures() {
  return {"aero3.jpg", "butterfly.jpg", "ela_original.jpg",
          "home.jpg",  "pic5.png",      "starry_night.jpg"};
}

NegativeSet make_negatives(const Dataset& digits_train, const Dataset& digits_test,
                           const NegativeOptions& options) {
  NegativeSet set;
  for (const bool held_out : {false, true}) {
    const int limit_scene = held_out ? options.held_out_each : options.scene_limit;
    Crops scene, glyphs, fragments, pairs, figures;
    Random scene_random = stream(options.seed, scene_stream, held_out);
    if (!held_out) {
      scene_from_pictures(options.opencv_data, negative_training_pictures(), options.training_views,
                          scene_random, scene);
      scene_from_video(options.opencv_data, megamind, 0, 360, megamind_training_stride, scene);
      scene_from_video(options.opencv_data, tree, 0, 1 << 30, tree_stride, scene);
    } else {
      scene_from_pictures(options.opencv_data, negative_held_out_pictures(), options.held_out_views,
                          scene_random, scene);
      scene_from_video(options.opencv_data, megamind, 360, 1 << 30, megamind_held_out_stride,
                       scene);
    }
    scene.keep_at_most(static_cast<std::size_t>(limit_scene), scene_random);
    Random glyph_random = stream(options.seed, glyph_stream, held_out);
    render_glyphs(held_out ? options.held_out_each : options.glyphs, held_out, glyph_random,
                  glyphs);
    const Dataset& digits = held_out ? digits_test : digits_train;
    if (digits.count > 0) {
      Random fragment_random = stream(options.seed, fragment_stream, held_out);
      cut_fragments(digits, held_out ? options.held_out_each : options.fragments, fragment_random,
                    fragments);
      Random pair_random = stream(options.seed, pair_stream, held_out);
      squeeze_pairs(digits, held_out ? options.held_out_each : options.pairs, pair_random, pairs);
    }
    Random figure_random = stream(options.seed, figure_stream, held_out);
    draw_figures(held_out ? options.held_out_each : options.figures, figure_random, figures);
    (held_out ? set.held_out : set.training) =
        as_dataset({&scene, &glyphs, &fragments, &pairs, &figures},
                   held_out ? set.held_out_counts : set.training_counts);
  }
  return set;
}

Dataset concatenate(const Dataset& a, const Dataset& b) {
  if (a.count == 0) return b;
  if (b.count == 0) return a;
  if (a.rows != b.rows || a.cols != b.cols) {
    throw ShapeError("concatenate: images of " + std::to_string(a.rows) + "x" +
                     std::to_string(a.cols) + " and " + std::to_string(b.rows) + "x" +
                     std::to_string(b.cols) + " cannot share one data set");
  }
  Dataset d = a;
  d.images.insert(d.images.end(), b.images.begin(), b.images.end());
  d.labels.insert(d.labels.end(), b.labels.begin(), b.labels.end());
  d.count = a.count + b.count;
  return d;
}

}  // namespace digitcam::train
