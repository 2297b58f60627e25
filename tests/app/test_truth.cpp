#include <doctest/doctest.h>

#include <fstream>

#include "digitcam/app/truth.hpp"
#include "digitcam/engine/error.hpp"
#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

using namespace digitcam;
using digitcam::test::TempFolder;

namespace {

vision::Detection detection(int label, cv::Rect box) {
  vision::Detection d;
  d.label = label;
  d.box = box;
  d.confidence = 0.9f;
  return d;
}

}  // namespace

TEST_CASE("truth: the sample video's truth file loads every frame with its digits and numbers") {
  const auto frames = app::load_truth(test::source_dir() / "samples/demo.truth.jsonl");
  REQUIRE(frames.size() == 200);
  const app::TruthFrame& first = frames.at(0);
  CHECK(first.digits.size() == 10);
  CHECK(first.numbers.size() == 3);
  for (const auto& d : first.digits) {
    CHECK(d.label >= 0);
    CHECK(d.label <= 9);
    CHECK(d.box.area() > 0);
  }
}

TEST_CASE("truth: a read digit needs the right label and IoU >= 0.3; others are false digits") {
  app::TruthFrame truth{
      0, {{4, {10, 10, 20, 30}}, {0, {40, 10, 20, 30}}, {7, {70, 10, 20, 30}}}, {"407"}};
  app::FrameResult result;
  result.digits = {detection(4, {11, 11, 20, 30}),     // read
                   detection(6, {40, 10, 20, 30}),     // wrong label: not read, not false
                   detection(7, {85, 10, 20, 30}),     // IoU 0.14: not read, and false
                   detection(1, {200, 200, 10, 30})};  // nowhere near: false
  result.numbers = {{"4", {}, {}}, {"407", {}, {}}};
  app::TruthScore score;
  score.add(result, truth);
  CHECK(score.true_digits() == 3);
  CHECK(score.digits_read() == 1);
  CHECK(score.false_digits() == 2);
  CHECK(score.numbers_rate() == doctest::Approx(1.0));
  CHECK(score.text().find("read 1/3 digits") != std::string::npos);
}

TEST_CASE("truth: a damaged truth file names the file and line") {
  TempFolder folder("truth-bad");
  {
    std::ofstream out(folder / "bad.jsonl");
    out << "{\"frame\":0,\"digits\":[]}\n{\"frame\":1,\"digits\":[{\"label\":3,\"box\":[1,2,3]}]}"
           "\n";
  }
  CHECK_THROWS_WITH_AS(app::load_truth(folder / "bad.jsonl"), doctest::Contains("bad.jsonl line 2"),
                       IoError);
  CHECK_THROWS_AS(app::load_truth(folder / "absent.jsonl"), IoError);
}
