#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/digits_sheet.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;
namespace fs = std::filesystem;

namespace {

std::string io_error_of(const fs::path& path) {
  try {
    load_digits_sheet(path);
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("digits sheet: 5000 normalised cells load, 500 per class") {
  const auto path = test::digits_sheet_path();
  if (!test::have_digits_sheet()) {
    MESSAGE("OpenCV's digits.png is absent (install opencv-doc); skipped");
    return;
  }
  const LabelledImages sheet = load_digits_sheet(path);
  REQUIRE(sheet.images.size() == 5000);
  REQUIRE(sheet.labels.size() == 5000);
  int per_class[10] = {};
  for (int label : sheet.labels) ++per_class[label];
  for (int k = 0; k < 10; ++k) CHECK_MESSAGE(per_class[k] == 500, "class " << k);
  CHECK(sheet.labels[0] == 0);
  CHECK(sheet.labels[4999] == 9);
  CHECK(sheet.blank == 0);
  CHECK(sheet.sources[101] == "digits.png row 1 column 1");
  // Every crop follows the recipe: 28x28 floats, ink present, centre of mass at (14, 14).
  for (std::size_t i = 0; i < sheet.images.size(); i += 250) {
    const cv::Mat& crop = sheet.images[i];
    REQUIRE(crop.type() == CV_32FC1);
    REQUIRE(crop.size() == cv::Size(28, 28));
    const cv::Moments m = cv::moments(crop);
    CHECK_MESSAGE(std::abs(m.m10 / m.m00 - 14.0) < 0.5, "cell " << i);
    CHECK_MESSAGE(std::abs(m.m01 / m.m00 - 14.0) < 0.5, "cell " << i);
  }
  const Dataset data = sheet.as_dataset();
  CHECK(data.count == 5000);
  CHECK(data.rows == 28);
  CHECK(data.labels[2500] == 5);
}

TEST_CASE("digits sheet: a missing file gives an error naming it") {
  const std::string message = io_error_of("/nonexistent/digits.png");
  CHECK_MESSAGE(message.find("/nonexistent/digits.png") != std::string::npos, message);
}

TEST_CASE("digits sheet: an image of the wrong size gives an error naming it and its size") {
  test::ScratchFolder scratch("sheet");
  const fs::path path = scratch / "digits.png";
  cv::imwrite(path.string(), cv::Mat(100, 200, CV_8UC1, cv::Scalar(0)));
  const std::string message = io_error_of(path);
  CHECK_MESSAGE(message.find(path.string()) != std::string::npos, message);
  CHECK_MESSAGE(message.find("200x100") != std::string::npos, message);
}

TEST_CASE("labelled folder: images in digit sub-folders load with their labels, any polarity") {
  test::ScratchFolder scratch("labelled");
  for (const int label : {3, 7}) {
    fs::create_directories(scratch / std::to_string(label));
    // Dark ink on paper, large, as a phone photo of a digit would be.
    cv::Mat paper(120, 90, CV_8UC1, cv::Scalar(210));
    cv::putText(paper, std::to_string(label), {15, 100}, cv::FONT_HERSHEY_SIMPLEX, 3.0,
                cv::Scalar(30), 8, cv::LINE_AA);
    cv::imwrite((scratch / std::to_string(label) / "a.png").string(), paper);
    cv::imwrite((scratch / std::to_string(label) / "b.jpg").string(), paper);
  }
  std::ofstream(scratch / "3" / "notes.txt") << "not an image";
  const LabelledImages set = load_labelled_folder(scratch.path());
  REQUIRE(set.images.size() == 4);
  CHECK(set.labels == std::vector<int>{3, 3, 7, 7});
  CHECK(set.blank == 0);
  // White ink on black after normalising, whatever the input's polarity.
  CHECK(set.images[0].at<float>(0, 0) == 0.0f);
  double peak = 0;
  cv::minMaxLoc(set.images[0], nullptr, &peak);
  CHECK(peak > 0.9);
  CHECK_THROWS_AS(load_labelled_folder(scratch / "3"), IoError);  // no digit sub-folders
}
