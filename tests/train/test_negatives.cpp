#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/negatives.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;

namespace {

// Small counts and no extra photo views, so one build of both sets takes about a second.
NegativeOptions small_options() {
  NegativeOptions o;
  o.scene_limit = 300;
  o.glyphs = 120;
  o.fragments = 80;
  o.pairs = 80;
  o.figures = 70;
  o.held_out_each = 60;
  o.training_views = 0;
  o.held_out_views = 0;
  o.seed = 7;
  return o;
}

bool have_opencv_data() {
  return std::filesystem::exists(small_options().opencv_data / "Megamind.avi");
}

int ink_pixels(const Dataset& d, int index) {
  const std::uint8_t* p = d.image(static_cast<std::size_t>(index));
  return static_cast<int>(
      std::count_if(p, p + d.image_size(), [](std::uint8_t v) { return v > 127; }));
}

}  // namespace

TEST_CASE("negatives: training and held-out sources are disjoint and vtest.avi is in neither") {
  const auto training = negative_training_pictures();
  const auto held_out = negative_held_out_pictures();
  std::set<std::string> all(training.begin(), training.end());
  for (const auto& name : held_out) CHECK_MESSAGE(all.insert(name).second, name << " is in both");
  CHECK(all.count("vtest.avi") == 0);
  CHECK(all.count("digits.png") == 0);
}

TEST_CASE("negatives: every crop is a labelled, inked 28x28 image, deterministic for a seed") {
  if (!have_opencv_data() || !test::have_mnist()) {
    MESSAGE("opencv-doc or MNIST missing (run tools/setup.sh); skipped");
    return;
  }
  const Dataset digits = load_mnist(test::mnist_folder(), Split::train, 2000);
  const Dataset test_digits = load_mnist(test::mnist_folder(), Split::test, 500);
  const NegativeSet a = make_negatives(digits, test_digits, small_options());
  const NegativeSet b = make_negatives(digits, test_digits, small_options());
  CHECK(a.training.images == b.training.images);
  CHECK(a.held_out.images == b.held_out.images);

  REQUIRE(a.training_counts.size() == 5);
  REQUIRE(a.held_out_counts.size() == 5);
  // The real scenes give at least a hundred crops even without extra views; the made kinds
  // reach their counts exactly.
  CHECK(a.training_counts[0] >= 100);
  CHECK(a.training_counts[0] <= 300);
  CHECK(a.training_counts[1] == 120);
  CHECK(a.training_counts[2] == 80);
  CHECK(a.training_counts[3] == 80);
  CHECK(a.training_counts[4] == 70);
  CHECK(a.held_out_counts[0] >= 10);  // six photos and 60 frames: few blobs pass the segmenter
  CHECK(a.held_out_counts[1] == 60);
  CHECK(a.held_out_counts[4] == 60);
  for (const Dataset* d : {&a.training, &a.held_out}) {
    CHECK(d->rows == 28);
    CHECK(d->cols == 28);
    CHECK(d->labels.size() == static_cast<std::size_t>(d->count));
    CHECK(std::all_of(d->labels.begin(), d->labels.end(),
                      [](std::uint8_t l) { return l == not_a_digit_label; }));
    for (int i = 0; i < d->count; ++i) REQUIRE_MESSAGE(ink_pixels(*d, i) > 0, "crop " << i);
  }

  // Figures (the last kind) are people, never the shape of a 1: none is much narrower than a
  // third of its height (0.3 when drawn; normalising keeps the aspect, give or take a pixel).
  const int figures_from = a.training.count - a.training_counts[4];
  for (int i = figures_from; i < a.training.count; ++i) {
    const cv::Mat crop(28, 28, CV_8UC1, const_cast<std::uint8_t*>(a.training.image(i)));
    const cv::Rect ink = cv::boundingRect(crop > 127);
    REQUIRE_MESSAGE(ink.width >= 0.25 * ink.height, "figure " << i - figures_from << ": " << ink);
  }

  // Another seed draws other glyphs.
  NegativeOptions other = small_options();
  other.seed = 8;
  const NegativeSet c = make_negatives(digits, test_digits, other);
  CHECK(c.training.images != a.training.images);
}

TEST_CASE("negatives: a missing opencv-doc folder is an IoError naming the file") {
  NegativeOptions o = small_options();
  o.opencv_data = std::filesystem::temp_directory_path() / "digitcam-no-opencv-doc";
  Dataset none;
  CHECK_THROWS_WITH_AS(make_negatives(none, none, o), doctest::Contains("opencv-doc"), IoError);
}

TEST_CASE("negatives: concatenate keeps both sets in order and refuses other image sizes") {
  Dataset a, b;
  a.rows = a.cols = b.rows = b.cols = 2;
  a.images = {1, 2, 3, 4};
  a.labels = {3};
  a.count = 1;
  b.images = {5, 6, 7, 8, 9, 10, 11, 12};
  b.labels = {10, 10};
  b.count = 2;
  const Dataset c = concatenate(a, b);
  CHECK(c.count == 3);
  CHECK(c.labels == std::vector<std::uint8_t>{3, 10, 10});
  CHECK(c.images.front() == 1);
  CHECK(c.images.back() == 12);
  b.cols = 4;
  b.images.resize(16);
  CHECK_THROWS_AS(concatenate(a, b), ShapeError);
}
