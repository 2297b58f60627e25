// Inputs the fuzz targets of fuzz/ found to break a reader, committed under tests/fixtures/fuzz/
// <target>/ once fixed: each must now end in the reader's clean error, naming the file.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "digitcam/app/calibration.hpp"
#include "digitcam/engine/error.hpp"
#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

namespace {

std::vector<std::filesystem::path> findings(const std::string& target) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(digitcam::test::source_dir() /
                                                               "tests/fixtures/fuzz" / target)) {
    files.push_back(entry.path());
  }
  return files;
}

}  // namespace

TEST_CASE("fuzz findings: calibration files that broke the reader are clean IoErrors") {
  const auto files = findings("calibration");
  REQUIRE(!files.empty());
  for (const auto& file : files) {
    CAPTURE(file);
    const std::string name = file.filename().string();
    // length_error_key.yml: a mangled key made OpenCV's parser throw std::length_error, which
    // escaped as an internal error (exit 1) instead of a bad-file error (exit 3).
    // nul_bytes_hang.yml: NUL bytes inside made OpenCV's parser loop for ever; a calibration file
    // must be text, so it is refused before parsing.
    // indented_without_section_hang.yml: keys indented under no section, then a line of another
    // indentation, made OpenCV's parser loop for ever (no control byte in it); lines outside
    // the layout digitcam writes are refused before parsing.
    CHECK_THROWS_WITH_AS(digitcam::app::load_calibration(file), doctest::Contains(name.c_str()),
                         digitcam::IoError);
  }
}

TEST_CASE(
    "fuzz findings: calibration lines outside digitcam's layout are refused naming the line") {
  const digitcam::test::TempFolder folder("fuzz-layout");
  const auto refused = [&](const std::string& body, const std::string& says) {
    CAPTURE(body);
    const auto file = folder / "layout.yml";
    std::ofstream(file, std::ios::binary) << "%YAML:1.0\n---\n# a comment\n" << body;
    CHECK_THROWS_WITH_AS(digitcam::app::load_calibration(file),
                         doctest::Contains(("layout.yml line " + says).c_str()), digitcam::IoError);
  };
  refused("   temperature: 1.\n", "4 is indented, but no section comes before it");
  refused("decision:\n   temperature: 1.\n  reject_threshold: 0.5\n",
          "6 is indented unlike the lines before it");
  refused("decision:\n\ttemperature: 1.\n", "5 is indented with a tab");
  refused("decision:\n   a b: 1\n", "5 is not 'key: value'");
  refused("decision:\n   temperature:\n", "5 holds a key with no value");
  refused("decision:\n   temperature: [1, [2]]\n", "5 has a value that is not");
  refused("decision:\n   temperature: [1, 2\n", "5 has a value that is not");
  refused("decision: {temperature: 1}\n", "4 has a value that is not");
  refused("decision:\n   temperature: &a 1\n", "5 has a value that is not");

  // What the layout allows still loads: comments anywhere, CRLF line ends, sections whose keys
  // share an indentation, a key at the start, trailing comments.
  const auto file = folder / "good.yml";
  std::ofstream(file, std::ios::binary)
      << "%YAML:1.0\r\n---\r\n# top\r\ndecision:\r\n  # why\r\n  temperature: 1.5 # fitted\r\n"
         "\r\n  reject_threshold: 0.25\r\ntracker:\r\n     max_missed: 7\r\n";
  const auto settings = digitcam::app::load_calibration(file);
  CHECK(settings.decision.temperature == doctest::Approx(1.5f));
  CHECK(settings.decision.reject_threshold == doctest::Approx(0.25f));
  CHECK(settings.tracker.max_missed == 7);
}
