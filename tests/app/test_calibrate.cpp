// End to end: `digitcam calibrate` on one clip of an unusual scene, `digitcam run --truth` on
// another clip of it, with the default calibration and with the fitted one.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <string>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/paths.hpp"
#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

using namespace digitcam;
using digitcam::test::TempFolder;

namespace {

// Read rate printed by run --truth ("truth: read 229/229 digits (100.00%), ..."), or -1.
double read_rate(const std::string& err) {
  const auto at = err.find("truth: read ");
  if (at == std::string::npos) return -1.0;
  long read = 0, total = 0;
  if (std::sscanf(err.c_str() + at, "truth: read %ld/%ld", &read, &total) != 2 || total == 0) {
    return -1.0;
  }
  return static_cast<double>(read) / static_cast<double>(total);
}

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

}  // namespace

TEST_CASE("calibrate: a profile fitted on one board clip reads another far better than defaults") {
  const auto board = test::source_dir() / "samples" / "board";
  TempFolder folder("calibrate-board");
  const auto profile = folder / "board.yml";
  const auto fit = test::run_digitcam("calibrate " + quoted(board / "calibrate.avi") +
                                      " --output " + quoted(profile) + " --quiet");
  REQUIRE_MESSAGE(fit.exit_code == 0, fit.err);
  // Every fitted key is printed with its reason; light ink on the dark board is recognised.
  for (const char* key : {"segmentation.polarity: light", "segmentation.min_height_fraction",
                          "segmentation.block_fraction", "segmentation.threshold_offset"}) {
    CHECK_MESSAGE(fit.out.find(key) != std::string::npos, key << " missing from:\n" << fit.out);
  }
  CHECK(fit.out.find("fitted settings kept") != std::string::npos);
  const auto written = app::read_calibration(profile);
  CHECK(written.missing.empty());
  CHECK(written.settings.segmenter.polarity == vision::Polarity::light_on_dark);
  // The thick marker needs a wider background kernel than the default.
  CHECK(written.settings.segmenter.block_fraction >
        app::load_calibration(app::default_calibration_path()).segmenter.block_fraction);

  const std::string score = "run " + quoted(board / "test.avi") + " --headless --truth " +
                            quoted(board / "test.truth.jsonl") + " --json /dev/null";
  const auto plain = test::run_digitcam(score);
  const auto fitted = test::run_digitcam(score + " --calibration " + quoted(profile));
  REQUIRE(plain.exit_code == 0);
  REQUIRE(fitted.exit_code == 0);
  const double before = read_rate(plain.err), after = read_rate(fitted.err);
  INFO("defaults: " << before << ", calibrated: " << after);
  // Measured (model of 92600e2): defaults 18.2% (49/269), calibrated 97.4% (262/269); the
  // 10-class model before it: 20.5% and 97.4%. The bound leaves room for another model or OpenCV
  // build; the margin says calibration, not noise, made the difference.
  CHECK(before >= 0.0);
  CHECK(after >= 0.9);
  CHECK(after >= before + 0.4);
}

TEST_CASE("calibrate: --name writes calibration/NAME.yml, which run finds by its name") {
  const std::string name = "test-calibrate-" + std::to_string(::getpid());
  const auto path = app::resource_paths().calibration / (name + ".yml");
  struct Remove {
    std::filesystem::path path;
    ~Remove() { std::filesystem::remove(path); }
  } remove{path};
  const auto board = test::source_dir() / "samples" / "board";
  const auto fit = test::run_digitcam("calibrate " + quoted(board / "calibrate.avi") + " --name " +
                                      name + " --seconds 1 --quiet");
  REQUIRE_MESSAGE(fit.exit_code == 0, fit.err);
  CHECK(std::filesystem::exists(path));
  CHECK(fit.out.find("--calibration " + name) != std::string::npos);
  const auto run = test::run_digitcam("run " + quoted(board / "test.avi") +
                                      " --headless --max-frames 5 --calibration " + name);
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.err.find("warning") == std::string::npos);
}

TEST_CASE("calibrate: no output named, or a scene without digits, fails with a clear line") {
  const auto board = test::source_dir() / "samples" / "board";
  const auto unnamed = test::run_digitcam("calibrate " + quoted(board / "calibrate.avi"));
  CHECK(unnamed.exit_code == 2);
  CHECK(unnamed.err.find("--name") != std::string::npos);
  const auto nothing = test::run_digitcam("calibrate");
  CHECK(nothing.exit_code == 2);
  const auto listed = test::run_digitcam("--help");
  CHECK(listed.out.find("  calibrate  fit the segmentation settings") != std::string::npos);
  const auto help = test::run_digitcam("calibrate --help");
  CHECK(help.exit_code == 0);
  for (const char* option : {"--name", "--output", "--seconds", "--calibration", "--model"}) {
    CHECK_MESSAGE(help.out.find(option) != std::string::npos, option);
  }

  TempFolder folder("calibrate-blank");
  // One picture of one digit is too little evidence to fit a scene to.
  const auto photo = test::source_dir() / "samples" / "photo" / "2_big.png";
  const auto one = test::run_digitcam("calibrate " + quoted(photo) + " --output " +
                                      quoted(folder / "one.yml") + " --quiet");
  CHECK(one.exit_code == 5);
  CHECK(one.err.find("confidence") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(folder / "one.yml"));
}
