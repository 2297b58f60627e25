#include <doctest/doctest.h>

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
  for (auto& e : no_validation) e.validation_accuracy = std::numeric_limits<double>::quiet_NaN();
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
