#pragma once
// Where digitcam finds its default model, calibration and MNIST data. A binary inside the build
// tree uses the source tree's models/, calibration/ and data/; an installed binary uses
// <prefix>/share/digitcam (found next to the executable first, so a moved prefix still works).

#include <filesystem>

namespace digitcam::app {

struct ResourcePaths {
  std::filesystem::path models;       // folder holding digits.onnx and digits.json
  std::filesystem::path calibration;  // folder holding default.yml
  std::filesystem::path mnist;        // folder holding the four IDX files
  std::filesystem::path samples;      // the bundled sample footage (demo.avi, stills/)
};

ResourcePaths resource_paths();
std::filesystem::path default_model_path();
std::filesystem::path default_calibration_path();

}  // namespace digitcam::app
