// End to end: `digitcam eval --report DIR` on a labelled folder of real MNIST digits, one of them
// filed under the wrong label, writes every picture at its size, the page, and shows the
// known-wrong prediction in red in the gallery.

#include <doctest/doctest.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

namespace {

namespace fs = std::filesystem;
using digitcam::test::run_digitcam;
using digitcam::test::slurp;
using digitcam::test::TempFolder;

constexpr int digits = 30;      // MNIST test digits 0..29, each under its own label
constexpr int known_one = 2;    // MNIST test digit 2 is a clear "1" ...
constexpr int filed_under = 7;  // ... filed under 7: the model must read 1, a wrong prediction
// Grid pictures: ten 84 px digits a row, 116 px a row with caption and padding, 52 px header.
constexpr int grid_width = 950;
constexpr int grid_height(int count) {
  return 52 + ((count + 9) / 10) * 116 + 10;
}
// The gallery's red (frames and captions of wrong predictions), with antialiasing; a 3 px frame
// around one 84 px digit is about a thousand pixels.
const cv::Scalar red_low(0, 0, 170), red_high(90, 90, 255);
constexpr int min_red_pixels = 900;

std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

int red_pixels(const fs::path& png) {
  const cv::Mat image = cv::imread(png.string(), cv::IMREAD_COLOR);
  if (image.empty()) return -1;
  cv::Mat mask;
  cv::inRange(image, red_low, red_high, mask);
  return cv::countNonZero(mask);
}

cv::Size size_of(const fs::path& png) {
  return cv::imread(png.string(), cv::IMREAD_UNCHANGED).size();
}

// Writes MNIST test digit `index` as a PNG into folder/<label>/.
void write_digit(const fs::path& folder, int index, int label, const std::string& name) {
  const auto digit = digitcam::test::mnist_test_digit(index);
  REQUIRE(digit.has_value());
  const cv::Mat image(28, 28, CV_8UC1, const_cast<std::uint8_t*>(digit->pixels.data()));
  fs::create_directories(folder / std::to_string(label));
  REQUIRE(cv::imwrite((folder / std::to_string(label) / name).string(), image));
}

double json_number(const std::string& json, const std::string& key) {
  std::smatch m;
  const std::regex pattern("\"" + key + "\": ([0-9.eE+-]+)");
  REQUIRE_MESSAGE(std::regex_search(json, m, pattern), key << " missing from " << json);
  return std::stod(m[1].str());
}

// confusion[truth][predicted] from eval's JSON ("confusion": [[a, b, ...], [...], ...]).
long confusion_cell(const std::string& json, int truth, int predicted) {
  const std::size_t start = json.find("\"confusion\": [[");
  REQUIRE(start != std::string::npos);
  std::size_t row_start = start + std::string("\"confusion\": [[").size();
  for (int t = 0; t < truth; ++t) row_start = json.find("[", row_start) + 1;
  const std::string row = json.substr(row_start, json.find(']', row_start) - row_start);
  std::stringstream cells(row);
  std::string cell;
  for (int p = 0; p <= predicted; ++p) std::getline(cells, cell, ',');
  return std::stol(cell);
}

}  // namespace

TEST_CASE("eval --report: every picture at its size, the page, and a known-wrong digit in red") {
  REQUIRE_MESSAGE(digitcam::test::have_mnist(), "MNIST is missing; run tools/setup.sh");
  TempFolder folder("eval-report");
  const fs::path images = folder / "images";
  for (int i = 0; i < digits; ++i) {
    write_digit(images, i, digitcam::test::mnist_test_digit(i)->label,
                "mnist-" + std::to_string(i) + ".png");
  }

  // Every digit filed under its own label: nothing in red.
  const fs::path right_report = folder / "right";
  auto r =
      run_digitcam("eval --images " + quoted(images) + " --json --report " + quoted(right_report));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(json_number(r.out, "count") == digits);
  if (json_number(r.out, "accuracy") == 1.0) {
    CHECK(red_pixels(right_report / "gallery.png") == 0);
  }

  // One "1" filed under 7.
  write_digit(images, known_one, filed_under, "wrong.png");
  const fs::path report = folder / "report";
  r = run_digitcam("eval --images " + quoted(images) + " --json --report " + quoted(report));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(json_number(r.out, "count") == digits + 1);
  CHECK(json_number(r.out, "accuracy") < 1.0);
  const double ece = json_number(r.out, "ece");
  CHECK(ece >= 0.0);
  CHECK(ece <= 1.0);

  CHECK(size_of(report / "samples.png") == cv::Size(grid_width, grid_height(digits + 1)));
  CHECK(size_of(report / "gallery.png") == cv::Size(grid_width, grid_height(digits + 1)));
  CHECK(size_of(report / "confusion.png") == cv::Size(740, 730));
  CHECK(size_of(report / "reliability.png") == cv::Size(760, 620));
  CHECK(size_of(report / "misclassified.png").width == grid_width);
  CHECK_FALSE(fs::exists(report / "training_curves.png"));  // eval trains nothing
  const int red = red_pixels(report / "gallery.png");
  CHECK_MESSAGE(red >= min_red_pixels, red << " red pixels in the gallery");
  CHECK_MESSAGE(red > red_pixels(right_report / "gallery.png"), "no more red than without it");
  // The wrong prediction is the known one: true 7, read as 1.
  CHECK_MESSAGE(confusion_cell(r.out, filed_under, 1) >= 1, r.out);
  const std::string metrics = slurp(report / "metrics.txt");
  CHECK(metrics.find("expected calibration error") != std::string::npos);
  const std::string html = slurp(report / "report.html");
  for (const char* picture : {"samples.png", "gallery.png", "confusion.png", "reliability.png"}) {
    CHECK_MESSAGE(html.find("<img src=\"" + std::string(picture) + "\"") != std::string::npos,
                  picture << " is not on the page");
  }
  CHECK(html.find("<td>digits evaluated</td><td>31</td>") != std::string::npos);

  // A report folder that cannot be made is an I/O error naming it.
  r = run_digitcam("eval --images " + quoted(images) + " --report /proc/none/report");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("/proc/none/report") != std::string::npos);
}
