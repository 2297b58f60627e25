#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/train/augment.hpp"
#include "digitcam/train/mnist.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;

namespace {

// Digits 0..9 drawn with a Hershey font, MNIST-like: white on black, about 20 px tall, centred;
// `count` images cycling through the classes.
Dataset drawn_digits(int count) {
  Dataset data;
  data.count = count;
  data.rows = data.cols = 28;
  for (int i = 0; i < count; ++i) {
    cv::Mat image(28, 28, CV_8UC1, cv::Scalar(0));
    cv::putText(image, std::to_string(i % 10), {7, 23}, cv::FONT_HERSHEY_SIMPLEX, 0.8,
                cv::Scalar(255), 2, cv::LINE_AA);
    data.images.insert(data.images.end(), image.datastart, image.dataend);
    data.labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  return data;
}

std::vector<std::size_t> first(std::size_t n) {
  std::vector<std::size_t> indices(n);
  std::iota(indices.begin(), indices.end(), 0);
  return indices;
}

float largest_difference(const engine::Tensor& a, const engine::Tensor& b, int item) {
  const std::size_t size = a.shape().item_count();
  float worst = 0;
  for (std::size_t p = 0; p < size; ++p) {
    worst = std::max(worst, std::abs(a.item(item)[p] - b.item(item)[p]));
  }
  return worst;
}

bool identical(const engine::Tensor& a, const engine::Tensor& b) {
  return a.shape() == b.shape() &&
         std::equal(a.values().begin(), a.values().end(), b.values().begin());
}

}  // namespace

TEST_CASE("augment: the same seed gives the same batch, another seed another batch") {
  const Dataset data = drawn_digits(40);
  const auto indices = first(40);
  engine::Tensor a, b, c;
  augment_batch(data, indices, AugmentOptions{}, 7, a);
  augment_batch(data, indices, AugmentOptions{}, 7, b);
  augment_batch(data, indices, AugmentOptions{}, 8, c);
  CHECK(a.shape() == engine::Shape{40, 1, 28, 28});
  CHECK(identical(a, b));
  int differing = 0;
  for (int i = 0; i < 40; ++i) differing += largest_difference(a, c, i) > 1e-3f;
  CHECK_MESSAGE(differing >= 38, "seeds 7 and 8 differ in " << differing << " of 40 items");
}

TEST_CASE("augment: a batch does not depend on the number of threads") {
  const Dataset data = drawn_digits(64);
  const auto indices = first(64);
  engine::Tensor one, two;
  {
    engine::ThreadBudget budget(1);
    augment_batch(data, indices, AugmentOptions{}, 11, one);
  }
  {
    engine::ThreadBudget budget(2);
    augment_batch(data, indices, AugmentOptions{}, 11, two);
  }
  CHECK(identical(one, two));
}

TEST_CASE("augment: with every switch off it equals fill_batch") {
  const Dataset data = drawn_digits(10);
  const auto indices = first(10);
  engine::Tensor plain, augmented;
  fill_batch(data, indices, plain);
  augment_batch(data, indices, AugmentOptions::none(), 3, augmented);
  CHECK(identical(plain, augmented));
}

TEST_CASE("augment: each switch alone changes the image, and only within 0..1") {
  const Dataset data = drawn_digits(32);
  const auto indices = first(32);
  engine::Tensor plain;
  fill_batch(data, indices, plain);
  for (const std::string& name : augment_names()) {
    engine::Tensor augmented;
    augment_batch(data, indices, parse_augment(name), 5, augmented);
    int changed = 0;
    for (int i = 0; i < 32; ++i) changed += largest_difference(plain, augmented, i) > 0.05f;
    CHECK_MESSAGE(changed >= 3, name << " alone changed " << changed << " of 32 items (seed 5)");
    const auto [lo, hi] = std::minmax_element(augmented.values().begin(), augmented.values().end());
    CHECK_MESSAGE(*lo >= 0.0f, name);
    CHECK_MESSAGE(*hi <= 1.0f, name);
  }
}

TEST_CASE("augment: turning one switch off leaves the others' random draws alone") {
  const Dataset data = drawn_digits(16);
  const auto indices = first(16);
  engine::Tensor affine_only, affine_and_blur_off;
  AugmentOptions a = parse_augment("affine");
  AugmentOptions b = parse_augment("affine,blur");
  b.blur_probability = 0.0f;  // blur drawn but never applied: the affine draws must not move
  augment_batch(data, indices, a, 9, affine_only);
  augment_batch(data, indices, b, 9, affine_and_blur_off);
  CHECK(identical(affine_only, affine_and_blur_off));
}

TEST_CASE("augment: the default set keeps the ink inside the frame, mostly") {
  const bool mnist = test::have_mnist();
  const Dataset data =
      mnist ? load_mnist(test::mnist_folder(), Split::test, 500) : drawn_digits(500);
  const auto indices = first(500);
  // Ink on the outermost two pixels of the 28x28 frame, as a share of all ink. Noise is left
  // out: it puts a little grey everywhere, which is not ink leaving the frame.
  const auto border_share = [](const engine::Tensor& t) {
    double border = 0, total = 0;
    for (int i = 0; i < t.shape().n; ++i) {
      for (int y = 0; y < 28; ++y) {
        for (int x = 0; x < 28; ++x) {
          const double v = t.at(i, 0, y, x);
          total += v;
          if (x < 2 || y < 2 || x >= 26 || y >= 26) border += v;
        }
      }
    }
    return border / total;
  };
  AugmentOptions options;
  options.noise = false;
  engine::Tensor plain, augmented;
  fill_batch(data, indices, plain);
  augment_batch(data, indices, options, 21, augmented);
  const double before = border_share(plain), after = border_share(augmented);
  CHECK_MESSAGE(after < 0.02,
                "border share " << before << " -> " << after << (mnist ? " (MNIST)" : " (drawn)"));
}

TEST_CASE("augment: parse accepts none, all and comma lists, and lists the valid names") {
  CHECK(parse_augment("none").describe() == "none");
  CHECK(parse_augment("all").describe() == "affine,elastic,thickness,blur,noise,contrast");
  CHECK(AugmentOptions{}.describe() == parse_augment("all").describe());
  const AugmentOptions some = parse_augment(" blur , affine ");
  CHECK(some.affine);
  CHECK(some.blur);
  CHECK_FALSE(some.elastic);
  CHECK(some.describe() == "affine,blur");
  CHECK(parse_augment(some.describe()).describe() == some.describe());
  try {
    parse_augment("affine,sparkle");
    FAIL("an unknown name was accepted");
  } catch (const UsageError& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find("sparkle") != std::string::npos, message);
    CHECK_MESSAGE(message.find("thickness") != std::string::npos, message);
  }
  CHECK_THROWS_AS(parse_augment(""), UsageError);
}

TEST_CASE("augment: an index outside the data is refused") {
  const Dataset data = drawn_digits(4);
  const std::vector<std::size_t> indices = {0, 4};
  engine::Tensor out;
  CHECK_THROWS_AS(augment_batch(data, indices, AugmentOptions{}, 1, out), ShapeError);
}
