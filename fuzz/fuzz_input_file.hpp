#pragma once
// The loaders under fuzzing read files by path (as the program does), so each input is written
// to one scratch file per process, in /dev/shm when it exists: memory-backed, no disk wear over
// millions of runs.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace digitcam::fuzz {

inline std::filesystem::path scratch_path(const std::string& name) {
  std::error_code ec;
  const std::filesystem::path shm = "/dev/shm";
  const std::filesystem::path folder =
      std::filesystem::is_directory(shm, ec) ? shm : std::filesystem::temp_directory_path();
  return folder / ("digitcam-fuzz-" + std::to_string(::getpid()) + "-" + name);
}

inline void write_file(const std::filesystem::path& path, const std::uint8_t* data,
                       std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace digitcam::fuzz
