// libFuzzer target: the ONNX loader. Any bytes must load into a network that runs, or end in a
// ModelError; anything else (another exception, a crash, a sanitizer report, an allocation
// beyond libFuzzer's -rss_limit_mb) is a finding.

#include <cstddef>
#include <cstdint>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/onnx_io.hpp"
#include "fuzz_input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto path = digitcam::fuzz::scratch_path("model.onnx");
  digitcam::fuzz::write_file(path, data, size);
  try {
    digitcam::engine::Network network = digitcam::engine::load_onnx(path);
    // A loaded network must also run on the input it accepted: one 28x28 crop.
    digitcam::engine::Tensor crop({1, 1, 28, 28});
    crop.fill(0.5f);
    (void)network.forward(crop);
  } catch (const digitcam::ModelError&) {
  }
  return 0;
}
