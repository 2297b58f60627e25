// libFuzzer target: the calibration reader (OpenCV FileStorage YAML). Every input must load or
// end in an IoError (not YAML, unreadable) or a UsageError (a value out of range).

#include <cstddef>
#include <cstdint>

#include "digitcam/app/calibration.hpp"
#include "digitcam/engine/error.hpp"
#include "fuzz_input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto path = digitcam::fuzz::scratch_path("calibration.yml");
  digitcam::fuzz::write_file(path, data, size);
  try {
    (void)digitcam::app::load_calibration(path);
  } catch (const digitcam::IoError&) {
  } catch (const digitcam::UsageError&) {
  }
  return 0;
}
