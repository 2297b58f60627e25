#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/report.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;
namespace fs = std::filesystem;

namespace {

// Where the pictures go: a scratch folder, or DIGITCAM_TEST_OUTPUT when set, so a person can
// look at them (DIGITCAM_TEST_OUTPUT=/tmp/report ./test_train -tc="report*").
struct Output {
  test::ScratchFolder scratch{"report"};
  fs::path folder = std::getenv("DIGITCAM_TEST_OUTPUT")
                        ? fs::path(std::getenv("DIGITCAM_TEST_OUTPUT"))
                        : scratch.path();
  Output() { fs::create_directories(folder); }
};

std::vector<EpochStats> fifteen_epochs() {
  std::vector<EpochStats> history;
  for (int e = 1; e <= 15; ++e) {
    EpochStats s;
    s.epoch = e;
    s.train_loss = 0.03 + 0.25 * std::exp(-0.45 * (e - 1));
    s.train_accuracy = 0.999 - 0.06 * std::exp(-0.5 * (e - 1));
    s.validation_accuracy = 0.9965 - 0.02 * std::exp(-0.6 * (e - 1));
    s.validation_loss = 0.02 + 0.1 * std::exp(-0.5 * (e - 1));
    s.seconds = 30;
    history.push_back(s);
  }
  return history;
}

// A confusion matrix like a good MNIST test run: ~99.5% right, a few typical mistakes.
ConfusionMatrix typical_confusion() {
  const int support[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  const int mistakes[][3] = {{4, 9, 6}, {9, 4, 5}, {7, 2, 4}, {2, 7, 3}, {5, 3, 4}, {3, 5, 2},
                             {6, 0, 3}, {8, 3, 2}, {9, 7, 3}, {1, 7, 2}, {0, 6, 1}, {8, 9, 2}};
  ConfusionMatrix c(10);
  int wrong[10] = {};
  for (const auto& m : mistakes) {
    for (int n = 0; n < m[2]; ++n) c.add(m[0], m[1]);
    wrong[m[0]] += m[2];
  }
  for (int k = 0; k < 10; ++k) {
    for (int n = 0; n < support[k] - wrong[k]; ++n) c.add(k, k);
  }
  return c;
}

cv::Size size_of(const fs::path& png) {
  const cv::Mat image = cv::imread(png.string(), cv::IMREAD_UNCHANGED);
  return image.size();
}

bool leftovers(const fs::path& folder) {
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().string().find(".tmp") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("report: training curves are a 1100x470 PNG, validation gaps allowed") {
  Output out;
  write_training_curves(out.folder / "curves.png", fifteen_epochs());
  CHECK(size_of(out.folder / "curves.png") == cv::Size(1100, 470));
  auto no_validation = fifteen_epochs();
  no_validation.resize(3);
  for (auto& e : no_validation) {
    e.validation_accuracy = std::numeric_limits<double>::quiet_NaN();
    e.validation_loss = std::numeric_limits<double>::quiet_NaN();
  }
  write_training_curves(out.folder / "curves_short.png", no_validation);
  CHECK(size_of(out.folder / "curves_short.png") == cv::Size(1100, 470));
  write_training_curves(out.folder / "curves_empty.png", {});
  CHECK(fs::exists(out.folder / "curves_empty.png"));
  CHECK_FALSE(leftovers(out.folder));
}

TEST_CASE("report: the confusion heat map is 740x730 for ten classes") {
  Output out;
  write_confusion_png(out.folder / "confusion.png", typical_confusion());
  CHECK(size_of(out.folder / "confusion.png") == cv::Size(740, 730));
  CHECK_FALSE(leftovers(out.folder));
}

TEST_CASE("report: the misclassified montage is ten digits wide with a row per ten") {
  Output out;
  std::vector<LabelledCrop> crops;
  const bool mnist = test::have_mnist();
  const Dataset data = mnist ? load_mnist(test::mnist_folder(), Split::test, 23) : Dataset{};
  for (int i = 0; i < 23; ++i) {
    cv::Mat image = mnist ? image_of(data, static_cast<std::size_t>(i))
                          : cv::Mat(28, 28, CV_8UC1, cv::Scalar(0));
    if (!mnist) cv::circle(image, {14, 14}, 8, cv::Scalar(255), 2);
    const int truth = mnist ? data.labels[static_cast<std::size_t>(i)] : 0;
    crops.push_back({image, truth, (truth + 1 + i % 3) % 10, 0.5f + 0.02f * static_cast<float>(i)});
  }
  crops[1].image.convertTo(crops[1].image, CV_32F, 1.0 / 255.0);  // float crops are drawn too
  write_misclassified_montage(out.folder / "misclassified.png", crops);
  CHECK(size_of(out.folder / "misclassified.png") == cv::Size(950, 410));
  write_misclassified_montage(out.folder / "misclassified_none.png", {});
  CHECK(fs::exists(out.folder / "misclassified_none.png"));
  CHECK_FALSE(leftovers(out.folder));
}

TEST_CASE("report: writing into a folder that does not exist is an IoError naming the file") {
  test::ScratchFolder scratch("report");
  const fs::path path = scratch / "missing" / "confusion.png";
  try {
    write_confusion_png(path, typical_confusion());
    FAIL("no error");
  } catch (const IoError& e) {
    CHECK_MESSAGE(std::string(e.what()).find(path.string()) != std::string::npos, e.what());
  }
  CHECK_THROWS_AS(write_text_file(scratch / "missing" / "metrics.txt", "x"), IoError);
}

TEST_CASE("report: text files are written whole") {
  test::ScratchFolder scratch("report");
  write_text_file(scratch / "metrics.txt", "line one\nline two\n");
  std::ifstream in(scratch / "metrics.txt");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "line one\nline two\n");
  CHECK_FALSE(leftovers(scratch.path()));
}

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Pixels of the gallery's red (frames and captions of wrong predictions), with antialiasing.
int red_pixels(const cv::Mat& image) {
  cv::Mat mask;
  cv::inRange(image, cv::Scalar(0, 0, 170), cv::Scalar(90, 90, 255), mask);
  return cv::countNonZero(mask);
}

// n digits from MNIST's test set (rings when MNIST is absent), every prediction right with
// confidence 0.9 + i/1000, except those listed in `wrong`, predicted as (truth + 1) % 10.
std::vector<LabelledCrop> predictions(int n, const std::vector<int>& wrong) {
  const bool mnist = test::have_mnist();
  const Dataset data = mnist ? load_mnist(test::mnist_folder(), Split::test, n) : Dataset{};
  std::vector<LabelledCrop> crops;
  for (int i = 0; i < n; ++i) {
    cv::Mat image = mnist ? image_of(data, static_cast<std::size_t>(i))
                          : cv::Mat(28, 28, CV_8UC1, cv::Scalar(0));
    if (!mnist) cv::circle(image, {14, 14}, 8, cv::Scalar(255), 2);
    const int truth = mnist ? data.labels[static_cast<std::size_t>(i)] : i % 10;
    const bool is_wrong = std::find(wrong.begin(), wrong.end(), i) != wrong.end();
    crops.push_back(
        {image, truth, is_wrong ? (truth + 1) % 10 : truth, 0.9f + 0.001f * static_cast<float>(i)});
  }
  return crops;
}

}  // namespace

TEST_CASE("report: the gallery takes every wrong prediction, then the least sure right ones") {
  const cv::Mat blank(28, 28, CV_8UC1, cv::Scalar(0));
  // index:                 0 right .99   1 right .6   2 wrong .9   3 right .7   4 wrong .55
  //                        5 right .999
  const std::vector<LabelledCrop> crops = {{blank, 1, 1, 0.99f}, {blank, 2, 2, 0.6f},
                                           {blank, 3, 5, 0.9f},  {blank, 4, 4, 0.7f},
                                           {blank, 5, 6, 0.55f}, {blank, 6, 6, 0.999f}};
  CHECK(gallery_selection(crops, 4) == std::vector<std::size_t>{2, 3, 1, 4});
  CHECK(gallery_selection(crops, 100) == std::vector<std::size_t>{5, 0, 2, 3, 1, 4});
  // At most half the gallery is wrong ones (the most confident of them) while right ones exist.
  CHECK(gallery_selection(crops, 2) == std::vector<std::size_t>{2, 1});
  CHECK(gallery_selection({}, 10).empty());
}

TEST_CASE("report: a wrong prediction is framed in red in the gallery, right ones are not") {
  Output out;
  write_prediction_gallery(out.folder / "gallery_right.png", predictions(12, {}));
  const cv::Mat right = cv::imread((out.folder / "gallery_right.png").string());
  REQUIRE(!right.empty());
  CHECK(right.size() == cv::Size(950, 52 + 2 * 116 + 10));
  CHECK(red_pixels(right) == 0);

  write_prediction_gallery(out.folder / "gallery_one.png", predictions(12, {7}));
  const int one = red_pixels(cv::imread((out.folder / "gallery_one.png").string()));
  // A 3 px frame around an 84 px tile is about a thousand pixels, the caption some more.
  CHECK_MESSAGE(one >= 900, one << " red pixels for one wrong digit");
  write_prediction_gallery(out.folder / "gallery_two.png", predictions(12, {3, 7}));
  const int two = red_pixels(cv::imread((out.folder / "gallery_two.png").string()));
  CHECK_MESSAGE(two >= 2 * 900, two << " red pixels for two wrong digits");
  CHECK_FALSE(leftovers(out.folder));
}

TEST_CASE("report: the reliability diagram is 760x620") {
  Output out;
  std::vector<ReliabilityBin> bins = reliability_bins({0.3f, 0.55f, 0.8f, 0.99f, 0.999f, 1.0f},
                                                      {false, true, true, true, true, true});
  write_reliability_diagram(out.folder / "reliability.png", bins);
  CHECK(size_of(out.folder / "reliability.png") == cv::Size(760, 620));
  write_reliability_diagram(out.folder / "reliability_empty.png", reliability_bins({}, {}));
  CHECK(size_of(out.folder / "reliability_empty.png") == cv::Size(760, 620));
}

TEST_CASE("report: an evaluation report writes every picture, the metrics and report.html") {
  Output out;
  EvaluationReport report;
  report.title = "test <model> & data";
  report.samples = predictions(30, {4});
  ConfusionMatrix confusion(10);
  for (const auto& s : report.samples) confusion.add(s.truth, s.predicted);
  report.metrics = compute_metrics(confusion);
  const fs::path eval_folder = out.folder / "eval";
  write_evaluation_report(eval_folder, report);
  CHECK(size_of(eval_folder / report_samples_file) == cv::Size(950, 52 + 3 * 116 + 10));
  CHECK(size_of(eval_folder / report_gallery_file) == cv::Size(950, 52 + 3 * 116 + 10));
  CHECK(size_of(eval_folder / report_confusion_file) == cv::Size(740, 730));
  CHECK(size_of(eval_folder / report_reliability_file) == cv::Size(760, 620));
  CHECK(size_of(eval_folder / report_misclassified_file) == cv::Size(950, 52 + 116 + 10));
  CHECK_FALSE(fs::exists(eval_folder / report_curves_file));  // no training, no curves
  const std::string html = read_text(eval_folder / report_index_file);
  CHECK(html.find("test &lt;model&gt; &amp; data") != std::string::npos);
  CHECK(html.find("<td>accuracy</td><td>96.67%</td>") != std::string::npos);
  for (const char* file :
       {report_samples_file, report_gallery_file, report_confusion_file, report_reliability_file}) {
    CHECK_MESSAGE(html.find("src=\"" + std::string(file) + "\"") != std::string::npos, file);
  }
  CHECK(read_text(eval_folder / report_metrics_file).find("expected calibration error") !=
        std::string::npos);
  CHECK_FALSE(leftovers(eval_folder));

  report.history = fifteen_epochs();
  write_evaluation_report(out.folder / "train", report);
  CHECK(size_of(out.folder / "train" / report_curves_file) == cv::Size(1100, 470));
  CHECK(read_text(out.folder / "train" / report_index_file).find("training_curves.png") !=
        std::string::npos);
}
