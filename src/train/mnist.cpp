#include "digitcam/train/mnist.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <system_error>

#include "digitcam/engine/error.hpp"

namespace digitcam::train {

namespace {

namespace fs = std::filesystem;

// IDX format and MNIST facts.
constexpr std::uint32_t idx_images_magic = 2051;  // 0x00000803: unsigned bytes, 3 dimensions
constexpr std::uint32_t idx_labels_magic = 2049;  // 0x00000801: unsigned bytes, 1 dimension
constexpr std::size_t idx_images_header = 16;     // magic, count, rows, cols
constexpr std::size_t idx_labels_header = 8;      // magic, count
// Bounds that no sane IDX image file exceeds; larger headers mean a corrupt file.
constexpr std::uint32_t idx_largest_side = 4096;
constexpr int mnist_side = 28;
constexpr std::uint8_t mnist_classes = 10;
constexpr float byte_to_unit = 1.0f / 255.0f;  // 8-bit grey to the network's 0..1
// What every data error tells the user to do.
constexpr const char* fetch_again = "; run tools/setup.sh to fetch MNIST again";

[[noreturn]] void fail(const fs::path& file, const std::string& problem) {
  throw IoError("MNIST file " + file.string() + " " + problem + fetch_again);
}

std::uint32_t big_endian(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::string describe_magic(std::uint32_t magic) {
  char text[64];
  std::snprintf(text, sizeof text, "%u (0x%08x)", magic, magic);
  return text;
}

// An opened IDX file: its header words, length on disk and the stream at the first element.
struct IdxFile {
  std::ifstream stream;
  std::array<std::uint32_t, 4> header{};
  std::uintmax_t length = 0;
};

IdxFile open_idx(const fs::path& file, std::uint32_t magic, std::size_t header_bytes,
                 const char* what) {
  IdxFile idx;
  std::error_code ec;
  idx.length = fs::file_size(file, ec);
  if (ec) fail(file, "cannot be read (" + ec.message() + ")");
  idx.stream.open(file, std::ios::binary);
  if (!idx.stream) fail(file, "cannot be opened");
  std::array<unsigned char, idx_images_header> raw{};
  if (idx.length < header_bytes || !idx.stream.read(reinterpret_cast<char*>(raw.data()),
                                                    static_cast<std::streamsize>(header_bytes))) {
    fail(file, "is truncated: " + std::to_string(idx.length) + " bytes, shorter than the " +
                   std::to_string(header_bytes) + "-byte IDX header");
  }
  for (std::size_t i = 0; i < header_bytes / 4; ++i) idx.header[i] = big_endian(&raw[4 * i]);
  if (idx.header[0] != magic) {
    fail(file, "is not an IDX " + std::string(what) + " file: magic number " +
                   describe_magic(idx.header[0]) + ", expected " + describe_magic(magic));
  }
  return idx;
}

// Checks the length on disk against what the header promises; too short is truncation, too long
// is a different or corrupt file.
void check_length(const fs::path& file, const IdxFile& idx, std::uintmax_t expected,
                  const std::string& promise) {
  if (idx.length < expected) {
    fail(file, "is truncated: its header promises " + promise + " (" + std::to_string(expected) +
                   " bytes) but the file has " + std::to_string(idx.length) + " bytes");
  }
  if (idx.length > expected) {
    fail(file, "has " + std::to_string(idx.length - expected) +
                   " bytes more than its header promises (" + promise + ")");
  }
}

void read_elements(const fs::path& file, std::ifstream& stream, std::vector<std::uint8_t>& out) {
  if (out.empty()) return;
  if (!stream.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()))) {
    fail(file, "is truncated: reading stopped after " + std::to_string(stream.gcount()) + " of " +
                   std::to_string(out.size()) + " bytes");
  }
}

}  // namespace

MnistFileNames mnist_file_names(Split split) {
  if (split == Split::train) return {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"};
  return {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
}

std::vector<std::string> mnist_files() {
  const MnistFileNames train = mnist_file_names(Split::train);
  const MnistFileNames test = mnist_file_names(Split::test);
  return {train.images, train.labels, test.images, test.labels};
}

Dataset load_idx(const fs::path& images_file, const fs::path& labels_file, std::size_t limit) {
  IdxFile images = open_idx(images_file, idx_images_magic, idx_images_header, "images");
  const std::uint32_t count = images.header[1], rows = images.header[2], cols = images.header[3];
  if (rows == 0 || cols == 0 || rows > idx_largest_side || cols > idx_largest_side) {
    fail(images_file, "has an impossible image size " + std::to_string(rows) + "x" +
                          std::to_string(cols) + " in its header");
  }
  const std::uintmax_t image_bytes = std::uintmax_t{rows} * cols;
  check_length(
      images_file, images, idx_images_header + image_bytes * count,
      std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols));

  IdxFile labels = open_idx(labels_file, idx_labels_magic, idx_labels_header, "labels");
  const std::uint32_t label_count = labels.header[1];
  check_length(labels_file, labels, idx_labels_header + std::uintmax_t{label_count},
               std::to_string(label_count) + " labels");
  if (label_count != count) {
    throw IoError("MNIST files " + images_file.string() + " (" + std::to_string(count) +
                  " images) and " + labels_file.string() + " (" + std::to_string(label_count) +
                  " labels) do not belong together" + fetch_again);
  }

  const std::size_t kept = limit > 0 ? std::min<std::size_t>(limit, count) : count;
  Dataset data;
  data.count = static_cast<int>(kept);
  data.rows = static_cast<int>(rows);
  data.cols = static_cast<int>(cols);
  data.images.resize(kept * data.image_size());
  data.labels.resize(kept);
  read_elements(images_file, images.stream, data.images);
  read_elements(labels_file, labels.stream, data.labels);
  const auto bad = std::find_if(data.labels.begin(), data.labels.end(),
                                [](std::uint8_t l) { return l >= mnist_classes; });
  if (bad != data.labels.end()) {
    fail(labels_file, "holds label " + std::to_string(*bad) + " at index " +
                          std::to_string(bad - data.labels.begin()) + ", outside 0..9");
  }
  return data;
}

Dataset load_mnist(const fs::path& folder, Split split, std::size_t limit) {
  const MnistFileNames names = mnist_file_names(split);
  const fs::path images_file = folder / names.images, labels_file = folder / names.labels;
  for (const fs::path& file : {images_file, labels_file}) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw IoError("MNIST file " + file.string() +
                    " is missing; run tools/setup.sh to fetch MNIST, or pass --mnist FOLDER");
    }
  }
  Dataset data = load_idx(images_file, labels_file, limit);
  if (data.rows != mnist_side || data.cols != mnist_side) {
    fail(images_file, "holds " + std::to_string(data.rows) + "x" + std::to_string(data.cols) +
                          " images, not MNIST's 28x28");
  }
  return data;
}

Dataset subset(const Dataset& data, std::span<const std::size_t> indices) {
  Dataset out;
  out.rows = data.rows;
  out.cols = data.cols;
  out.count = static_cast<int>(indices.size());
  out.images.resize(indices.size() * data.image_size());
  out.labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= static_cast<std::size_t>(data.count)) {
      throw ShapeError("subset: index " + std::to_string(indices[i]) + " outside the " +
                       std::to_string(data.count) + " images");
    }
    std::copy_n(data.image(indices[i]), data.image_size(),
                out.images.begin() + static_cast<std::ptrdiff_t>(i * data.image_size()));
    out.labels[i] = data.labels[indices[i]];
  }
  return out;
}

void fill_batch(const Dataset& data, std::span<const std::size_t> indices, engine::Tensor& out) {
  out.resize({static_cast<int>(indices.size()), 1, data.rows, data.cols});
  const std::size_t size = data.image_size();
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= static_cast<std::size_t>(data.count)) {
      throw ShapeError("fill_batch: index " + std::to_string(indices[i]) + " outside the " +
                       std::to_string(data.count) + " images");
    }
    const std::uint8_t* src = data.image(indices[i]);
    float* dst = out.item(static_cast<int>(i));
    for (std::size_t p = 0; p < size; ++p) dst[p] = static_cast<float>(src[p]) * byte_to_unit;
  }
}

void fill_batch_range(const Dataset& data, int first, int count, engine::Tensor& out) {
  if (first < 0 || count < 0) {
    throw ShapeError("fill_batch_range: images " + std::to_string(first) + " .. +" +
                     std::to_string(count) + " are not a range of the data");
  }
  std::vector<std::size_t> indices(static_cast<std::size_t>(count));
  std::iota(indices.begin(), indices.end(), static_cast<std::size_t>(first));
  fill_batch(data, indices, out);
}

}  // namespace digitcam::train
