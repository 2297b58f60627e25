#pragma once
// The pictures of a training report, drawn with OpenCV and written atomically (to
// "<path>.tmp.png", then renamed), so a reader never sees half a PNG:
//   training curves   loss per epoch; training and validation accuracy per epoch
//   confusion         a K x K heat map with counts, per-class recall and precision
//   misclassified     a grid of the wrong digits, enlarged, captioned "t7 p1 93%"
// Every writer throws IoError naming the file when it cannot be written.

#include <filesystem>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/train/metrics.hpp"
#include "digitcam/train/mnist.hpp"
#include "digitcam/train/trainer.hpp"

namespace digitcam::train {

// One digit of the montage: a crop (CV_8U 0..255 or CV_32F 0..1, white ink on black, any size)
// with its true label, the network's label and the network's confidence in it (0..1).
struct LabelledCrop {
  cv::Mat image;
  int truth = 0;
  int predicted = 0;
  float confidence = 0;
};

// Image `index` of data as a rows x cols CV_8U copy.
cv::Mat image_of(const Dataset& data, std::size_t index);

// Two panels side by side: training loss, and training and validation accuracy in percent.
// Epochs whose validation accuracy is NaN (no validation split) are left out of that line.
void write_training_curves(const std::filesystem::path& path,
                           const std::vector<EpochStats>& history);

// Rows are true classes, columns predicted. Diagonal cells are shaded by recall, off-diagonal
// cells by their count on a log scale; every non-zero count is printed.
void write_confusion_png(const std::filesystem::path& path, const ConfusionMatrix& confusion);

// A grid, ten digits wide, each enlarged 3x; an empty list gives a picture saying so.
void write_misclassified_montage(const std::filesystem::path& path,
                                 const std::vector<LabelledCrop>& crops);

// PNG (or any format cv::imwrite knows from the extension), atomically.
void write_image(const std::filesystem::path& path, const cv::Mat& image);
// Text, atomically (to "<path>.tmp", then renamed).
void write_text_file(const std::filesystem::path& path, std::string_view text);

}  // namespace digitcam::train
