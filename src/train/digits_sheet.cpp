#include "digitcam/train/digits_sheet.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <system_error>

#include <opencv2/imgcodecs.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/picture_size.hpp"

namespace digitcam::train {

namespace {

namespace fs = std::filesystem;

// The layout of OpenCV's samples/data/digits.png.
constexpr int sheet_width = 2000;
constexpr int sheet_height = 1000;
constexpr int sheet_cell = 20;
constexpr int sheet_rows_per_class = 5;
constexpr int classes = 10;
// Image files a labelled folder may hold (lower case; matched case-insensitively).
constexpr const char* image_extensions[] = {".png", ".jpg", ".jpeg", ".bmp",
                                            ".pgm", ".ppm", ".tif",  ".tiff"};

void add(LabelledImages& set, const cv::Mat& gray, int label, std::string source,
         const vision::NormalizeOptions& options) {
  std::optional<cv::Mat> crop = vision::normalize_digit(gray, options);
  if (!crop) {
    ++set.blank;
    crop = cv::Mat::zeros(vision::normalized_side, vision::normalized_side, CV_32FC1);
  }
  set.images.push_back(*crop);
  set.labels.push_back(label);
  set.sources.push_back(std::move(source));
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(std::begin(image_extensions), std::end(image_extensions), ext) !=
         std::end(image_extensions);
}

// cv::imread in gray through the shared size check; empty when it does not decode.
cv::Mat read_gray(const fs::path& path) {
  CheckedPicture picture = read_picture(path, cv::IMREAD_GRAYSCALE);
  if (picture.too_large) throw IoError(too_large_message(path, *picture.too_large));
  return picture.image;
}

}  // namespace

Dataset LabelledImages::as_dataset() const {
  Dataset data;
  data.rows = data.cols = vision::normalized_side;
  data.count = static_cast<int>(images.size());
  data.images.reserve(images.size() * data.image_size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    cv::Mat bytes;
    images[i].convertTo(bytes, CV_8U, 255.0);  // rounds and saturates
    data.images.insert(data.images.end(), bytes.datastart, bytes.dataend);
    data.labels.push_back(static_cast<std::uint8_t>(labels[i]));
  }
  return data;
}

LabelledImages load_digits_sheet(const fs::path& path, const vision::NormalizeOptions& options) {
  const auto wrong_size = [&](std::uint64_t width, std::uint64_t height) {
    return IoError("digits sheet " + path.string() + " is " + std::to_string(width) + "x" +
                   std::to_string(height) + ", expected " + std::to_string(sheet_width) + "x" +
                   std::to_string(sheet_height) + " (OpenCV's samples/data/digits.png)");
  };
  // A sheet of the wrong size is refused from its header, without decoding it (read_gray checks
  // the limit every picture reader has, from the same header).
  if (const auto header = picture_size_from_header(path);
      header && !is_too_large(*header) &&
      (header->width != sheet_width || header->height != sheet_height)) {
    throw wrong_size(header->width, header->height);
  }
  const cv::Mat sheet = read_gray(path);
  if (sheet.empty()) {
    throw IoError("cannot read OpenCV's digits sheet " + path.string() +
                  "; install the opencv-doc package or name the file's real location");
  }
  if (sheet.cols != sheet_width || sheet.rows != sheet_height) {
    throw wrong_size(static_cast<std::uint64_t>(sheet.cols),
                     static_cast<std::uint64_t>(sheet.rows));
  }
  LabelledImages set;
  const std::string name = path.filename().string();
  for (int row = 0; row < sheet_height / sheet_cell; ++row) {
    for (int column = 0; column < sheet_width / sheet_cell; ++column) {
      const cv::Mat cell =
          sheet(cv::Rect(column * sheet_cell, row * sheet_cell, sheet_cell, sheet_cell));
      add(set, cell, row / sheet_rows_per_class,
          name + " row " + std::to_string(row) + " column " + std::to_string(column), options);
    }
  }
  return set;
}

LabelledImages load_labelled_folder(const fs::path& folder,
                                    const vision::NormalizeOptions& options) {
  LabelledImages set;
  bool any_class = false;
  for (int label = 0; label < classes; ++label) {
    const fs::path class_folder = folder / std::to_string(label);
    std::error_code ec;
    if (!fs::is_directory(class_folder, ec)) continue;
    any_class = true;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(class_folder, ec)) {
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
    }
    if (ec) throw IoError("cannot list " + class_folder.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      const cv::Mat gray = read_gray(file);
      if (gray.empty()) throw IoError("cannot read image " + file.string());
      add(set, gray, label, file.string(), options);
    }
  }
  if (!any_class) {
    throw IoError("labelled folder " + folder.string() +
                  " has no sub-folders 0 .. 9; put each digit's images in FOLDER/<digit>/");
  }
  return set;
}

}  // namespace digitcam::train
