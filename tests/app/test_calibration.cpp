#include <doctest/doctest.h>

#include <fstream>

#include "digitcam/app/calibration.hpp"
#include "digitcam/engine/error.hpp"
#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

using namespace digitcam;
using digitcam::test::TempFolder;

namespace {

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("calibration: a written file reads back the same settings") {
  TempFolder folder("calibration-roundtrip");
  app::PipelineSettings s;
  s.segmenter.polarity = vision::Polarity::light_on_dark;
  s.segmenter.min_height_fraction = 0.05;
  s.decision.temperature = 1.7f;
  s.decision.reject_threshold = 0.42f;
  s.tracker.max_missed = 9;
  s.reader.max_gap = 0.9;
  s.match_stroke_width = false;
  s.segmenter.erase_ruled_lines = false;
  app::save_calibration(s, folder / "mine.yml");
  CHECK_FALSE(std::filesystem::exists(folder / "mine.tmp.yml"));
  const app::PipelineSettings back = app::load_calibration(folder / "mine.yml");
  CHECK(back.segmenter.polarity == vision::Polarity::light_on_dark);
  CHECK(back.segmenter.min_height_fraction == doctest::Approx(0.05));
  CHECK(back.decision.temperature == doctest::Approx(1.7f));
  CHECK(back.decision.reject_threshold == doctest::Approx(0.42f));
  CHECK(back.tracker.max_missed == 9);
  CHECK(back.reader.max_gap == doctest::Approx(0.9));
  CHECK_FALSE(back.match_stroke_width);
  CHECK_FALSE(back.segmenter.erase_ruled_lines);
}

TEST_CASE("calibration: the committed default file loads and keys left out keep their defaults") {
  const auto committed = app::load_calibration(test::source_dir() / "calibration/default.yml");
  CHECK(committed.decision.reject_threshold > 0.0f);
  CHECK(committed.decision.reject_threshold < 1.0f);
  TempFolder folder("calibration-partial");
  write_file(folder / "partial.yml", "%YAML:1.0\n---\ndecision:\n   reject_threshold: 0.8\n");
  const auto partial = app::load_calibration(folder / "partial.yml");
  CHECK(partial.decision.reject_threshold == doctest::Approx(0.8f));
  CHECK(partial.decision.temperature ==
        doctest::Approx(app::PipelineSettings{}.decision.temperature));
}

TEST_CASE("calibration: bad files name the file and the key") {
  TempFolder folder("calibration-bad");
  CHECK_THROWS_WITH_AS(app::load_calibration(folder / "absent.yml"),
                       doctest::Contains("absent.yml"), IoError);
  write_file(folder / "range.yml", "%YAML:1.0\n---\ndecision:\n   reject_threshold: 1.5\n");
  CHECK_THROWS_WITH_AS(app::load_calibration(folder / "range.yml"),
                       doctest::Contains("decision.reject_threshold"), UsageError);
  write_file(folder / "garbage.yml", "%YAML:1.0\n---\n: : [ {\n");
  CHECK_THROWS_WITH_AS(app::load_calibration(folder / "garbage.yml"),
                       doctest::Contains("garbage.yml"), IoError);
  write_file(folder / "polarity.yml", "%YAML:1.0\n---\nsegmentation:\n   polarity: sideways\n");
  CHECK_THROWS_WITH_AS(app::load_calibration(folder / "polarity.yml"),
                       doctest::Contains("sideways"), UsageError);
}
