#pragma once
// The pictures of a training report, drawn with OpenCV and written atomically (to
// "<path>.tmp.png", then renamed), so a reader never sees half a PNG:
//   training curves   loss per epoch; training and validation accuracy per epoch
//   confusion         a K x K heat map with counts, per-class recall and precision
//   misclassified     a grid of the wrong digits, enlarged, captioned "t7 p1 93%"
//   samples           a grid of the first digits evaluated, with their true labels
//   gallery           true against predicted, most confident first, wrong ones framed in red
//   reliability       confidence against accuracy in 15 bins, with the ECE printed on it
//   report.html       an index page showing them with the metrics in tables
// write_evaluation_report writes the whole set, for `digitcam eval --report` and `digitcam train`
// alike. Every writer throws IoError naming the file when it cannot be written.

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/train/confidence.hpp"
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

// The first digits (up to a 10 x 10 grid), captioned with their true labels.
void write_sample_grid(const std::filesystem::path& path, const std::vector<LabelledCrop>& crops);

// Which digits the gallery shows (indices into crops, most confident first): every wrong one
// (the most confident first, at most half the gallery) and then the least sure right ones, up to
// `size` in all.
std::vector<std::size_t> gallery_selection(const std::vector<LabelledCrop>& crops,
                                           std::size_t size);
// The gallery of those digits, captioned "t7 p1 93%"; a wrong prediction gets a red frame and a
// red caption.
void write_prediction_gallery(const std::filesystem::path& path,
                              const std::vector<LabelledCrop>& crops);
inline constexpr std::size_t gallery_size = 100;

// Accuracy per confidence bin as bars beside the diagonal of perfect calibration, the gap to
// each bin's mean confidence shaded, the samples per bin below, and the ECE in the title.
void write_reliability_diagram(const std::filesystem::path& path,
                               const std::vector<ReliabilityBin>& bins);

// What one evaluation found, for the report's pictures and page.
struct EvaluationReport {
  std::string title;                  // e.g. "models/digits.onnx on MNIST's test set"
  Metrics metrics;                    // of the predictions below
  std::vector<LabelledCrop> samples;  // every evaluated digit, in the data's order
  std::vector<EpochStats> history;    // training curves; empty when not a training run
  // More rows for the page's summary table ("OpenCV digits sheet", "99.74%").
  std::vector<std::pair<std::string, std::string>> figures;
};

// File names inside a report folder.
inline constexpr const char* report_curves_file = "training_curves.png";
inline constexpr const char* report_samples_file = "samples.png";
inline constexpr const char* report_gallery_file = "gallery.png";
inline constexpr const char* report_confusion_file = "confusion.png";
inline constexpr const char* report_reliability_file = "reliability.png";
inline constexpr const char* report_misclassified_file = "misclassified.png";
inline constexpr const char* report_metrics_file = "metrics.txt";
inline constexpr const char* report_index_file = "report.html";

// Writes every picture above (training_curves.png only with a history), metrics.txt and
// report.html into folder, creating it. IoError naming what could not be written.
void write_evaluation_report(const std::filesystem::path& folder, const EvaluationReport& report);

// PNG (or any format cv::imwrite knows from the extension), atomically.
void write_image(const std::filesystem::path& path, const cv::Mat& image);
// Text, atomically (to "<path>.tmp", then renamed).
void write_text_file(const std::filesystem::path& path, std::string_view text);

}  // namespace digitcam::train
