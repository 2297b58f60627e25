#pragma once
// MNIST in memory: the IDX reader and the two ways images leave it as network input.
//
// IDX files (LeCun's format) are big-endian: a magic number whose third byte is the element type
// (0x08, unsigned byte) and whose fourth byte is the number of dimensions, then one 32-bit size
// per dimension, then the elements. Images: magic 2051, sizes count, rows, cols. Labels: magic
// 2049, size count. Every way a file can be wrong is an IoError naming the file, the problem and
// "run tools/setup.sh to fetch MNIST again".

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "digitcam/engine/tensor.hpp"

namespace digitcam::train {

enum class Split { train, test };

// A labelled set of 8-bit grey images, white ink (255) on black (0), stored back to back.
struct Dataset {
  std::vector<std::uint8_t> images;  // count * rows * cols, row-major per image
  std::vector<std::uint8_t> labels;  // count, 0..9
  int count = 0;
  int rows = 0;
  int cols = 0;

  std::size_t image_size() const {
    return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  }
  const std::uint8_t* image(std::size_t index) const {
    return images.data() + index * image_size();
  }
};

// The file names of one split: {images, labels}.
struct MnistFileNames {
  std::string images;
  std::string labels;
};
MnistFileNames mnist_file_names(Split split);
// All four names: train-images, train-labels, t10k-images, t10k-labels (the checksum order).
std::vector<std::string> mnist_files();

// Reads one split from folder (the four uncompressed IDX files). limit > 0 keeps the first
// `limit` images only, and reads no more of the files than that. Images must be 28x28.
Dataset load_mnist(const std::filesystem::path& folder, Split split, std::size_t limit = 0);

// Reads any pair of IDX image and label files of unsigned bytes (any image size).
Dataset load_idx(const std::filesystem::path& images_file, const std::filesystem::path& labels_file,
                 std::size_t limit = 0);

// The images at `indices`, in that order (a validation split, a class, a sample).
Dataset subset(const Dataset& data, std::span<const std::size_t> indices);

// out = [B, 1, rows, cols], the images at `indices` scaled to 0..1, no augmentation.
// Throws ShapeError for an index outside the data.
void fill_batch(const Dataset& data, std::span<const std::size_t> indices, engine::Tensor& out);
// The same for the `count` images from `first` on, in order (a pass over the data a batch at a
// time).
void fill_batch_range(const Dataset& data, int first, int count, engine::Tensor& out);

}  // namespace digitcam::train
