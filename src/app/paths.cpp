#include "digitcam/app/paths.hpp"

#include <system_error>

namespace digitcam::app {

namespace {

std::filesystem::path executable_folder() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path{} : exe.parent_path();
}

bool inside(const std::filesystem::path& path, const std::filesystem::path& folder) {
  const auto p = path.lexically_normal().string();
  const auto f = folder.lexically_normal().string();
  return !f.empty() && p.compare(0, f.size(), f) == 0;
}

}  // namespace

ResourcePaths resource_paths() {
  const std::filesystem::path source = DIGITCAM_SOURCE_DIR;
  const std::filesystem::path exe = executable_folder();
  const ResourcePaths from_source{source / "models", source / "calibration", source / "data/mnist",
                                  source / "samples"};
  if (inside(exe, DIGITCAM_BINARY_DIR)) return from_source;
  for (const std::filesystem::path& share :
       {exe / ".." / "share" / "digitcam", std::filesystem::path(DIGITCAM_INSTALL_DATADIR)}) {
    if (std::filesystem::exists(share / "models")) {
      return {share / "models", share / "calibration", share / "data" / "mnist", share / "samples"};
    }
  }
  return from_source;
}

std::filesystem::path default_model_path() {
  return resource_paths().models / "digits.onnx";
}

std::filesystem::path default_calibration_path() {
  return resource_paths().calibration / "default.yml";
}

}  // namespace digitcam::app
