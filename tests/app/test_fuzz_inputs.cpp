// Inputs the fuzz targets of fuzz/ found to break a reader, committed under tests/fixtures/fuzz/
// <target>/ once fixed: each must now end in the reader's clean error, naming the file.

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "digitcam/app/calibration.hpp"
#include "digitcam/engine/error.hpp"
#include "support/data_paths.hpp"

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
    CHECK_THROWS_WITH_AS(digitcam::app::load_calibration(file), doctest::Contains(name.c_str()),
                         digitcam::IoError);
  }
}
