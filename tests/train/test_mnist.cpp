#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/mnist.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;

namespace {

void put_u32(std::vector<char>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// A small IDX pair in folder with MNIST's names: image i is filled with the value i * 10 + 1,
// label i is i % 10. `cut` bytes are removed from the end of the image file.
struct SyntheticMnist {
  std::uint32_t image_magic = 2051;
  std::uint32_t label_magic = 2049;
  std::uint32_t images = 5;
  std::uint32_t labels = 5;
  std::uint32_t side = 28;
  std::size_t cut = 0;

  void write(const std::filesystem::path& folder) const {
    std::vector<char> image_bytes, label_bytes;
    put_u32(image_bytes, image_magic);
    put_u32(image_bytes, images);
    put_u32(image_bytes, side);
    put_u32(image_bytes, side);
    for (std::uint32_t i = 0; i < images; ++i) {
      image_bytes.insert(image_bytes.end(), side * side, static_cast<char>(i * 10 + 1));
    }
    image_bytes.resize(image_bytes.size() - cut);
    put_u32(label_bytes, label_magic);
    put_u32(label_bytes, labels);
    for (std::uint32_t i = 0; i < labels; ++i) label_bytes.push_back(static_cast<char>(i % 10));
    const MnistFileNames names = mnist_file_names(Split::test);
    std::ofstream(folder / names.images, std::ios::binary)
        .write(image_bytes.data(), static_cast<std::streamsize>(image_bytes.size()));
    std::ofstream(folder / names.labels, std::ios::binary)
        .write(label_bytes.data(), static_cast<std::streamsize>(label_bytes.size()));
  }
};

// The message of the IoError that loading folder's test split throws ("" when none is thrown).
std::string load_error(const std::filesystem::path& folder) {
  try {
    load_mnist(folder, Split::test);
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("mnist: a well-formed synthetic pair loads with its pixels and labels") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist{}.write(folder.path());
  const Dataset data = load_mnist(folder.path(), Split::test);
  REQUIRE(data.count == 5);
  CHECK(data.rows == 28);
  CHECK(data.cols == 28);
  CHECK(data.images.size() == 5u * 28 * 28);
  CHECK(data.labels == std::vector<std::uint8_t>{0, 1, 2, 3, 4});
  CHECK(data.image(3)[0] == 31);
  CHECK(data.image(3)[783] == 31);
}

TEST_CASE("mnist: a limit keeps only the first images") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist{}.write(folder.path());
  const Dataset data = load_mnist(folder.path(), Split::test, 2);
  CHECK(data.count == 2);
  CHECK(data.labels.size() == 2);
  CHECK(data.images.size() == 2u * 784);
}

TEST_CASE("mnist: a missing file gives an error naming it and the set-up script") {
  test::ScratchFolder folder("mnist");
  const std::string message = load_error(folder.path());
  CHECK(contains(message, "t10k-images-idx3-ubyte"));
  CHECK(contains(message, "tools/setup.sh"));
}

TEST_CASE("mnist: a bad magic number gives an error naming the file and the number") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist bad;
  bad.image_magic = 2049;
  bad.write(folder.path());
  const std::string message = load_error(folder.path());
  CHECK_MESSAGE(contains(message, "t10k-images-idx3-ubyte"), message);
  CHECK_MESSAGE(contains(message, "magic number 2049"), message);
  CHECK_MESSAGE(contains(message, "tools/setup.sh"), message);
}

TEST_CASE("mnist: a label file with an image magic number is refused") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist bad;
  bad.label_magic = 2051;
  bad.write(folder.path());
  const std::string message = load_error(folder.path());
  CHECK_MESSAGE(contains(message, "t10k-labels-idx1-ubyte"), message);
  CHECK_MESSAGE(contains(message, "magic number 2051"), message);
}

TEST_CASE("mnist: a truncated image file gives an error naming it") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist bad;
  bad.cut = 100;
  bad.write(folder.path());
  const std::string message = load_error(folder.path());
  CHECK_MESSAGE(contains(message, "t10k-images-idx3-ubyte"), message);
  CHECK_MESSAGE(contains(message, "truncated"), message);
  CHECK_MESSAGE(contains(message, "tools/setup.sh"), message);
}

TEST_CASE("mnist: a file shorter than its header is reported as truncated") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist bad;
  bad.images = 0;
  bad.cut = 10;  // leaves 6 of the 16 header bytes
  bad.write(folder.path());
  const std::string message = load_error(folder.path());
  CHECK_MESSAGE(contains(message, "truncated"), message);
  CHECK_MESSAGE(contains(message, "header"), message);
}

TEST_CASE("mnist: image and label counts that differ give an error naming both files") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist bad;
  bad.labels = 4;
  bad.write(folder.path());
  const std::string message = load_error(folder.path());
  CHECK_MESSAGE(contains(message, "t10k-images-idx3-ubyte"), message);
  CHECK_MESSAGE(contains(message, "t10k-labels-idx1-ubyte"), message);
  CHECK_MESSAGE(contains(message, "5 images"), message);
  CHECK_MESSAGE(contains(message, "4 labels"), message);
}

TEST_CASE("mnist: images that are not 28x28 are refused by load_mnist but read by load_idx") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist small;
  small.side = 8;
  small.write(folder.path());
  CHECK(contains(load_error(folder.path()), "8x8"));
  const MnistFileNames names = mnist_file_names(Split::test);
  const Dataset data = load_idx(folder / names.images, folder / names.labels);
  CHECK(data.count == 5);
  CHECK(data.rows == 8);
}

TEST_CASE("mnist: fill_batch scales the chosen images to 0..1 in order") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist{}.write(folder.path());
  const Dataset data = load_mnist(folder.path(), Split::test);
  const std::vector<std::size_t> indices = {4, 0};
  engine::Tensor batch;
  fill_batch(data, indices, batch);
  CHECK(batch.shape() == engine::Shape{2, 1, 28, 28});
  CHECK(batch.at(0, 0, 5, 5) == doctest::Approx(41.0f / 255.0f));
  CHECK(batch.at(1, 0, 27, 27) == doctest::Approx(1.0f / 255.0f));
  const std::vector<std::size_t> outside = {5};
  CHECK_THROWS_AS(fill_batch(data, outside, batch), ShapeError);
}

TEST_CASE("mnist: fill_batch_range fills the images from first on, as fill_batch does") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist{}.write(folder.path());
  const Dataset data = load_mnist(folder.path(), Split::test);
  engine::Tensor range, chosen;
  fill_batch_range(data, 3, 2, range);
  const std::vector<std::size_t> indices = {3, 4};
  fill_batch(data, indices, chosen);
  CHECK(range.shape() == engine::Shape{2, 1, 28, 28});
  CHECK(std::equal(range.data(), range.data() + range.size(), chosen.data()));
  CHECK_THROWS_AS(fill_batch_range(data, 4, 2, range), ShapeError);
  CHECK_THROWS_AS(fill_batch_range(data, -1, 2, range), ShapeError);
}

TEST_CASE("mnist: subset keeps the chosen images and labels in order") {
  test::ScratchFolder folder("mnist");
  SyntheticMnist{}.write(folder.path());
  const Dataset data = load_mnist(folder.path(), Split::test);
  const std::vector<std::size_t> indices = {3, 1};
  const Dataset part = subset(data, indices);
  CHECK(part.count == 2);
  CHECK(part.labels == std::vector<std::uint8_t>{3, 1});
  CHECK(part.image(0)[0] == 31);
  CHECK(part.image(1)[0] == 11);
}

TEST_CASE("mnist: the real data has 60000 training and 10000 test images, the first a 5") {
  if (!test::have_mnist()) {
    MESSAGE("data/mnist is absent (run tools/setup.sh); skipped");
    return;
  }
  const Dataset train = load_mnist(test::mnist_folder(), Split::train);
  const Dataset testing = load_mnist(test::mnist_folder(), Split::test);
  CHECK(train.count == 60000);
  CHECK(testing.count == 10000);
  CHECK(train.labels[0] == 5);
  CHECK(testing.labels[0] == 7);
  std::vector<int> per_class(10, 0);
  for (const auto label : testing.labels) ++per_class[label];
  CHECK(std::accumulate(per_class.begin(), per_class.end(), 0) == 10000);
  CHECK(per_class[1] == 1135);
}
