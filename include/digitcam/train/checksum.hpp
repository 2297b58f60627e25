#pragma once
// SHA-256 (FIPS 180-4), written here so the model card can record which data a model learned
// from without a crypto library. Files are hashed in chunks; MNIST's digests are named below.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace digitcam::train {

// The published SHA-256 digests of MNIST's four uncompressed IDX files.
namespace mnist_sha256 {
constexpr std::string_view train_images =
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db";
constexpr std::string_view train_labels =
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5";
constexpr std::string_view test_images =
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7";
constexpr std::string_view test_labels =
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2";
}  // namespace mnist_sha256

// Incremental hasher: update() any number of times, then digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  std::array<std::uint8_t, 32> digest();  // finishes; the hasher must not be updated afterwards
  std::string hex_digest();               // 64 lowercase hex digits

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes hashed so far
};

std::string sha256_hex(std::string_view data);
// Lowercase hex digest of a file's bytes; IoError when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

// The expected digest of one of MNIST's file names (mnist_files()); empty when the name is unknown.
std::string_view expected_mnist_sha256(std::string_view file_name);

// Hashes the four files in folder and throws IoError naming the first whose digest differs
// ("run tools/setup.sh to fetch MNIST again").
void verify_mnist_checksums(const std::filesystem::path& folder);

}  // namespace digitcam::train
