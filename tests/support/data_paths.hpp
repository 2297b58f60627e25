#pragma once
// Where the tests find real data, and scratch folders for files they write. Tests that need
// data which is absent (MNIST not fetched, opencv-doc not installed) say so and pass, so the
// suite runs on a fresh checkout; tools/setup.sh fetches MNIST into data/mnist.

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace digitcam::test {

// The repository root (tests run there too, but this does not rely on it).
inline std::filesystem::path source_dir() {
  return DIGITCAM_SOURCE_DIR;
}

// MNIST's four IDX files (the same names as train::mnist_files(), repeated here so suites that
// do not link digitcam_train can use them).
inline constexpr std::array<const char*, 4> mnist_file_names = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte"};

// data/mnist, where tools/setup.sh puts MNIST (whether or not it is there yet).
inline std::filesystem::path mnist_folder() {
  return source_dir() / "data" / "mnist";
}

// Whether all four IDX files are in data/mnist; tests of real data skip themselves otherwise.
inline bool have_mnist() {
  std::error_code ec;
  for (const char* name : mnist_file_names) {
    if (!std::filesystem::is_regular_file(mnist_folder() / name, ec)) return false;
  }
  return true;
}

// Test image `index` of MNIST (28x28 bytes, white on black) and its label, read straight from
// data/mnist without the train module; empty when the data is absent.
struct MnistDigit {
  std::vector<std::uint8_t> pixels;  // 784, row-major
  int label = 0;
};
inline std::optional<MnistDigit> mnist_test_digit(int index) {
  constexpr int side = 28, images_header = 16, labels_header = 8;
  if (!have_mnist()) return std::nullopt;
  std::ifstream images(mnist_folder() / "t10k-images-idx3-ubyte", std::ios::binary);
  std::ifstream labels(mnist_folder() / "t10k-labels-idx1-ubyte", std::ios::binary);
  MnistDigit digit;
  digit.pixels.resize(side * side);
  images.seekg(images_header + static_cast<std::streamoff>(index) * side * side);
  images.read(reinterpret_cast<char*>(digit.pixels.data()), side * side);
  labels.seekg(labels_header + index);
  char label = 0;
  labels.read(&label, 1);
  if (!images || !labels) return std::nullopt;
  digit.label = label;
  return digit;
}

// OpenCV's sheet of 5000 handwritten digits, from the opencv-doc package.
inline std::filesystem::path digits_sheet_path() {
  return "/usr/share/doc/opencv-doc/examples/data/digits.png";
}
// A real street video with no digits in it, from the opencv-doc package.
inline std::filesystem::path vtest_video_path() {
  return "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
}
// Another real video with no digits (a film's scenes), from the same package.
inline std::filesystem::path megamind_video_path() {
  return "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
}

inline bool have_digits_sheet() {
  std::error_code ec;
  return std::filesystem::is_regular_file(digits_sheet_path(), ec);
}

// A fresh folder under the system's temporary folder, removed with everything in it when the
// object goes away. Named by process id and a counter, so parallel test runs do not collide.
class ScratchFolder {
 public:
  explicit ScratchFolder(const std::string& tag = "test") {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("digitcam-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace digitcam::test
