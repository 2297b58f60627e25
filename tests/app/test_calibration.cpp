#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/paths.hpp"
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
  s.tracker.confirm_frames = 3;
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
  CHECK(back.tracker.confirm_frames == 3);
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

TEST_CASE("calibration: a value of the wrong type, or contradicting its pair, names its key") {
  TempFolder folder("calibration-types");
  const auto fails_naming = [&](const std::string& body, const std::string& key) {
    const auto file = folder / (key + ".yml");
    write_file(file, "%YAML:1.0\n---\n" + body);
    CHECK_THROWS_WITH_AS(app::load_calibration(file), doctest::Contains(key.c_str()), UsageError);
  };
  fails_naming("segmentation:\n   block_fraction: wide\n", "segmentation.block_fraction");
  fails_naming("segmentation:\n   polarity: 3\n", "segmentation.polarity");
  fails_naming("segmentation:\n   polarity: sideways\n", "segmentation.polarity");
  fails_naming("tracker:\n   max_missed: 2.5\n", "tracker.max_missed");
  fails_naming("tracker:\n   confirm_frames: 0\n", "tracker.confirm_frames");
  fails_naming("normalization:\n   match_stroke_width: 2\n", "normalization.match_stroke_width");
  fails_naming("decision:\n   temperature: [1, 2]\n", "decision.temperature");
  fails_naming("segmentation:\n   min_fill: 0.9\n", "segmentation.min_fill");
  fails_naming("segmentation:\n   min_aspect: 2\n", "segmentation.min_aspect");
  fails_naming("segmentation:\n   block_fraction: 0\n", "segmentation.block_fraction");
  fails_naming("segmentation: 5\n", "segmentation");
}

TEST_CASE(
    "calibration: keys left out and unknown keys are listed, and the committed file has all") {
  const auto committed = app::read_calibration(test::source_dir() / "calibration/default.yml");
  const auto joined = [](const std::vector<std::string>& keys) {
    std::string text;
    for (const auto& k : keys) text += k + " ";
    return text;
  };
  CHECK_MESSAGE(committed.missing.empty(), "default.yml leaves out " << joined(committed.missing));
  CHECK_MESSAGE(committed.unknown.empty(), "default.yml has unknown " << joined(committed.unknown));

  TempFolder folder("calibration-missing");
  write_file(folder / "partial.yml",
             "%YAML:1.0\n---\nsegmentation:\n   polarity: light\n   min_heigth_fraction: 0.1\n"
             "decision:\n   reject_threshold: 0.8\nlighting:\n   gain: 2\n");
  const auto partial = app::read_calibration(folder / "partial.yml");
  const auto has = [](const std::vector<std::string>& keys, const std::string& key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  CHECK(partial.settings.segmenter.polarity == vision::Polarity::light_on_dark);
  CHECK(has(partial.missing, "segmentation.block_fraction"));
  CHECK(has(partial.missing, "decision.temperature"));
  CHECK(has(partial.missing, "tracker.max_missed"));  // a whole section left out
  CHECK_FALSE(has(partial.missing, "segmentation.polarity"));
  CHECK_FALSE(has(partial.missing, "decision.reject_threshold"));
  CHECK(has(partial.unknown, "segmentation.min_heigth_fraction"));
  CHECK(has(partial.unknown, "lighting"));
  CHECK(partial.settings.segmenter.block_fraction ==
        doctest::Approx(app::PipelineSettings{}.segmenter.block_fraction));

  std::ostringstream warnings;
  const auto settings = app::settings_from_calibration((folder / "partial.yml").string(), warnings);
  CHECK(settings.decision.reject_threshold == doctest::Approx(0.8f));
  CHECK(warnings.str().find("warning") != std::string::npos);
  CHECK(warnings.str().find("decision.temperature") != std::string::npos);
  CHECK(warnings.str().find("min_heigth_fraction") != std::string::npos);
  std::ostringstream none;
  app::settings_from_calibration((test::source_dir() / "calibration/default.yml").string(), none);
  CHECK(none.str().empty());
}

TEST_CASE("calibration: --calibration takes a file or a name in calibration/") {
  TempFolder folder("calibration-resolve");
  write_file(folder / "mine.yml", "%YAML:1.0\n---\ndecision:\n   reject_threshold: 0.3\n");
  CHECK(app::resolve_calibration((folder / "mine.yml").string()) == folder / "mine.yml");
  CHECK(app::resolve_calibration("default") == app::resource_paths().calibration / "default.yml");
  CHECK_THROWS_WITH_AS(app::resolve_calibration("no-such-scene"),
                       doctest::Contains("digitcam calibrate"), IoError);
  // A path-like name that is not there is taken as a file, and reading it names it.
  CHECK_THROWS_WITH_AS(app::settings_from_calibration((folder / "absent.yml").string(), std::cerr),
                       doctest::Contains("absent.yml"), IoError);
  CHECK(app::named_calibration_path("board") == app::resource_paths().calibration / "board.yml");
  CHECK_THROWS_AS(app::named_calibration_path("../escape"), UsageError);
  CHECK_THROWS_AS(app::named_calibration_path(""), UsageError);
}

TEST_CASE("calibration: a saved file keeps its comments, short numbers and every key") {
  TempFolder folder("calibration-save");
  app::PipelineSettings s;
  s.segmenter.block_fraction = 0.259;
  s.decision.temperature = 1.3f;
  app::save_calibration(s, folder / "fitted.yml", {"fitted on a board", "  because"});
  const std::string text = test::slurp(folder / "fitted.yml");
  CHECK(text.rfind("%YAML:1.0\n---\n# fitted on a board\n#   because\n", 0) == 0);
  CHECK(text.find("   block_fraction: 0.259\n") != std::string::npos);
  CHECK(text.find("   temperature: 1.3\n") != std::string::npos);
  const auto back = app::read_calibration(folder / "fitted.yml");
  CHECK(back.missing.empty());
  CHECK(back.unknown.empty());
  CHECK(back.settings.segmenter.block_fraction == doctest::Approx(0.259));
  CHECK(back.settings.decision.temperature == 1.3f);
}

TEST_CASE("calibration: run names a bad key and exits 2, and warns of keys left out") {
  TempFolder folder("calibration-run");
  const std::string image = "'" + (test::source_dir() / "samples/photo/2_big.png").string() + "'";
  write_file(folder / "bad.yml", "%YAML:1.0\n---\nsegmentation:\n   max_fill: lots\n");
  const auto bad = test::run_digitcam("run " + image + " --headless --quiet --calibration '" +
                                      (folder / "bad.yml").string() + "'");
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("segmentation.max_fill") != std::string::npos);
  write_file(folder / "partial.yml", "%YAML:1.0\n---\ndecision:\n   reject_threshold: 0.5\n");
  const auto partial = test::run_digitcam("run " + image + " --headless --quiet --calibration '" +
                                          (folder / "partial.yml").string() + "'");
  CHECK(partial.exit_code == 0);
  CHECK(partial.err.find("warning") != std::string::npos);
  CHECK(partial.err.find("segmentation.block_fraction") != std::string::npos);
  CHECK(partial.out.find("2_big.png: 2") != std::string::npos);
}
