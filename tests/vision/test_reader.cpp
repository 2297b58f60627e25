#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "digitcam/vision/reader.hpp"

using namespace digitcam::vision;

namespace {

Detection digit(int label, cv::Rect box) {
  Detection d;
  d.box = box;
  d.label = label;
  d.confidence = 0.95f;
  d.probabilities[static_cast<std::size_t>(label)] = 0.95f;
  return d;
}

std::vector<std::string> values(const std::vector<Number>& numbers) {
  std::vector<std::string> out;
  for (const Number& n : numbers) out.push_back(n.value);
  return out;
}

}  // namespace

TEST_CASE("reader: three digits given out of order read as 407") {
  const std::vector<Detection> detections{digit(7, {90, 50, 26, 40}), digit(4, {10, 52, 28, 40}),
                                          digit(0, {50, 49, 27, 41})};
  const std::vector<Number> numbers = read_numbers(detections);
  REQUIRE(numbers.size() == 1);
  CHECK(numbers[0].value == "407");
  CHECK(numbers[0].digits == std::vector<int>{1, 2, 0});
  CHECK(numbers[0].box == cv::Rect(10, 49, 106, 43));
}

TEST_CASE("reader: two rows read as two numbers, top row first") {
  const std::vector<Detection> detections{
      digit(5, {10, 120, 26, 40}), digit(6, {45, 120, 26, 40}),  // lower row: 56
      digit(1, {10, 20, 26, 40}), digit(2, {45, 20, 26, 40}),    // upper row: 12
      digit(3, {80, 21, 26, 40})};
  CHECK(values(read_numbers(detections)) == std::vector<std::string>{"123", "56"});
}

TEST_CASE("reader: a thin 1 inside a number joins it") {
  // The 1 is 6 px wide; centre to centre its neighbours are far, edge to edge they are close.
  const std::vector<Detection> detections{digit(2, {10, 30, 28, 40}), digit(1, {48, 30, 6, 40}),
                                          digit(9, {64, 30, 28, 40})};
  CHECK(values(read_numbers(detections)) == std::vector<std::string>{"219"});
}

TEST_CASE("reader: a wide gap on one row separates two numbers") {
  // 40 px tall digits; 100 px between 8 and 3 is 2.5 heights, well past max_gap.
  const std::vector<Detection> detections{digit(3, {166, 30, 26, 40}), digit(1, {10, 30, 26, 40}),
                                          digit(8, {40, 30, 26, 40}), digit(4, {200, 31, 26, 40})};
  CHECK(values(read_numbers(detections)) == std::vector<std::string>{"18", "34"});
}

TEST_CASE("reader: a tilted row stays one number") {
  // Each digit 8 px lower than the last: the first and the last do not overlap vertically at
  // all, but every neighbour overlaps the next.
  std::vector<Detection> detections;
  const std::string text = "314159";
  for (int i = 0; i < static_cast<int>(text.size()); ++i) {
    detections.push_back(
        digit(text[static_cast<std::size_t>(i)] - '0', {10 + 34 * i, 50 + 8 * i, 26, 40}));
  }
  // And a second tilted row below it, which must stay separate.
  for (int i = 0; i < 3; ++i) {
    detections.push_back(digit(7 - i, {10 + 34 * i, 130 + 8 * i, 26, 40}));
  }
  CHECK(values(read_numbers(detections)) == std::vector<std::string>{"314159", "765"});
}

TEST_CASE("reader: rows of a sheet turned by up to 35 degrees are read whole and apart") {
  // Two rows on a card, digits 26x40 with 8 px gaps and rows 64 px apart, turned about the card's
  // centre: each digit's box is the upright box around its turned one. Beyond about 15 degrees
  // neighbours' level boxes overlap too little for one number.
  for (const double degrees : {-35.0, -20.0, 0.0, 15.0, 25.0, 35.0}) {
    CAPTURE(degrees);
    const double turn = degrees * 3.14159265358979 / 180.0;
    std::vector<Detection> detections;
    const std::vector<std::string> rows{"5380", "7456"};
    for (std::size_t row = 0; row < rows.size(); ++row) {
      for (std::size_t i = 0; i < rows[row].size(); ++i) {
        const double x = -60.0 + 34.0 * static_cast<double>(i);
        const double y = -32.0 + 64.0 * static_cast<double>(row);
        const cv::RotatedRect turned(
            cv::Point2f(static_cast<float>(300 + x * std::cos(turn) - y * std::sin(turn)),
                        static_cast<float>(200 + x * std::sin(turn) + y * std::cos(turn))),
            cv::Size2f(26, 40), static_cast<float>(degrees));
        detections.push_back(digit(rows[row][i] - '0', turned.boundingRect()));
      }
    }
    const std::vector<std::string> read = values(read_numbers(detections));
    std::string text;
    for (const std::string& v : read) text += v + " ";
    CHECK_MESSAGE(read == rows, text);
  }
}

TEST_CASE("reader: a card held turned by 15 degrees, its boxes as found in a clip, reads whole") {
  // Frame 0 of make_samples --only demo --frames 100 --digits-sheet .../digits.png --roll 15
  // --seed 5: the 6 and the 2 of 562 overlap by 19 of the 2's 40 px when read as they stand.
  const std::vector<Detection> detections{
      digit(9, {311, 141, 29, 50}), digit(5, {351, 148, 41, 55}), digit(8, {404, 165, 47, 49}),
      digit(4, {296, 229, 41, 38}), digit(8, {345, 234, 34, 45}), digit(0, {378, 250, 55, 39}),
      digit(5, {274, 288, 39, 50}), digit(6, {327, 307, 31, 45}), digit(2, {369, 333, 42, 40})};
  CHECK(values(read_numbers(detections)) == std::vector<std::string>{"958", "480", "562"});
}

TEST_CASE("reader: digits of very different height are not joined") {
  // A small 2 next to a large 5, like an exponent or a note in the margin.
  const std::vector<Detection> detections{digit(5, {10, 30, 40, 60}), digit(2, {55, 30, 12, 18})};
  CHECK(values(read_numbers(detections)) == std::vector<std::string>{"5", "2"});
}

TEST_CASE("reader: rejected candidates are ignored and do not bridge a gap") {
  Detection smudge;
  smudge.box = {45, 30, 26, 40};
  smudge.label = -1;
  const std::vector<Detection> detections{digit(4, {10, 30, 26, 40}), smudge,
                                          digit(2, {90, 30, 26, 40})};
  // 4 and 2 are 54 px apart (1.35 heights): only the smudge between them could join them.
  const std::vector<Number> numbers = read_numbers(detections);
  CHECK(values(numbers) == std::vector<std::string>{"4", "2"});
  for (const Number& n : numbers) CHECK(n.digits.size() == 1);
}

TEST_CASE("reader: a lone digit is a one-digit number and nothing reads as nothing") {
  CHECK(read_numbers({}).empty());
  const std::vector<Number> numbers = read_numbers({digit(0, {5, 5, 20, 30})});
  REQUIRE(numbers.size() == 1);
  CHECK(numbers[0].value == "0");
  CHECK(numbers[0].digits == std::vector<int>{0});
  CHECK(numbers[0].box == cv::Rect(5, 5, 20, 30));
}
