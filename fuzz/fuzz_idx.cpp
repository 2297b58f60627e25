// libFuzzer target: the IDX reader (MNIST's file format). The input is an image file and a
// label file back to back: its first two bytes (big-endian) say how many of the remaining bytes
// belong to the image file. Every input must load or end in an IoError naming the file.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/mnist.hpp"
#include "fuzz_input_file.hpp"

namespace {

constexpr std::size_t split_prefix_bytes = 2;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < split_prefix_bytes) return 0;
  static const auto images = digitcam::fuzz::scratch_path("images-idx3-ubyte");
  static const auto labels = digitcam::fuzz::scratch_path("labels-idx1-ubyte");
  const std::size_t rest = size - split_prefix_bytes;
  const std::size_t image_bytes =
      std::min<std::size_t>(rest, (std::size_t{data[0]} << 8) | std::size_t{data[1]});
  const std::uint8_t* body = data + split_prefix_bytes;
  digitcam::fuzz::write_file(images, body, image_bytes);
  digitcam::fuzz::write_file(labels, body + image_bytes, rest - image_bytes);
  try {
    const auto set = digitcam::train::load_idx(images, labels, 0);
    // What the trainer does next with a loaded set: every image into a batch.
    if (set.count > 0 && set.rows == 28 && set.cols == 28) {
      std::vector<std::size_t> all(static_cast<std::size_t>(set.count));
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
      digitcam::engine::Tensor batch({set.count, 1, 28, 28});
      digitcam::train::fill_batch(set, all, batch);
    }
  } catch (const digitcam::IoError&) {
  }
  return 0;
}
