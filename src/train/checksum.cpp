#include "digitcam/train/checksum.hpp"

#include <cstring>
#include <fstream>
#include <vector>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/mnist.hpp"

namespace digitcam::train {

namespace {

// FIPS 180-4, section 4.2.2 and 5.3.3: round constants (cube roots of the first 64 primes) and
// the initial hash value (square roots of the first 8 primes).
constexpr std::array<std::uint32_t, 64> round_constants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
constexpr std::array<std::uint32_t, 8> initial_state = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
constexpr std::size_t block_bytes = 64;
constexpr std::size_t length_bytes = 8;  // the message length in bits closes the last block
// Files are read in chunks of this size, so hashing 47 MB needs no 47 MB buffer.
constexpr std::size_t file_chunk_bytes = 1 << 20;
constexpr char hex_digits[] = "0123456789abcdef";

constexpr std::uint32_t rotr(std::uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

}  // namespace

Sha256::Sha256() : state_(initial_state) {}

void Sha256::compress(const std::uint8_t* block) {
  std::array<std::uint32_t, 64> w;
  for (int t = 0; t < 16; ++t) {
    w[t] = (std::uint32_t{block[4 * t]} << 24) | (std::uint32_t{block[4 * t + 1]} << 16) |
           (std::uint32_t{block[4 * t + 2]} << 8) | std::uint32_t{block[4 * t + 3]};
  }
  for (int t = 16; t < 64; ++t) {
    const std::uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    const std::uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (int t = 0; t < 64; ++t) {
    const std::uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    const std::uint32_t choose = (e & f) ^ (~e & g);
    const std::uint32_t t1 = h + big_s1 + choose + round_constants[t] + w[t];
    const std::uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    const std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    const std::uint32_t t2 = big_s0 + majority;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
  state_[5] += f;
  state_[6] += g;
  state_[7] += h;
}

void Sha256::update(const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  length_ += size;
  if (buffered_ > 0) {
    const std::size_t take = std::min(size, block_bytes - buffered_);
    std::memcpy(buffer_.data() + buffered_, p, take);
    buffered_ += take;
    p += take;
    size -= take;
    if (buffered_ < block_bytes) return;
    compress(buffer_.data());
    buffered_ = 0;
  }
  for (; size >= block_bytes; size -= block_bytes, p += block_bytes) compress(p);
  if (size > 0) std::memcpy(buffer_.data(), p, size);
  buffered_ = size;
}

std::array<std::uint8_t, 32> Sha256::digest() {
  // Padding: one 1 bit, zeros up to 56 bytes mod 64, then the length in bits, big-endian.
  const std::uint64_t bits = length_ * 8;
  buffer_[buffered_++] = 0x80;
  if (buffered_ > block_bytes - length_bytes) {
    std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_), buffer_.end(), 0);
    compress(buffer_.data());
    buffered_ = 0;
  }
  std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_),
            buffer_.end() - static_cast<std::ptrdiff_t>(length_bytes), 0);
  for (std::size_t i = 0; i < length_bytes; ++i) {
    buffer_[block_bytes - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
  }
  compress(buffer_.data());
  std::array<std::uint8_t, 32> out{};
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t j = 0; j < 4; ++j) {
      out[4 * i + j] = static_cast<std::uint8_t>(state_[i] >> (24 - 8 * j));
    }
  }
  return out;
}

std::string Sha256::hex_digest() {
  std::string hex;
  for (const std::uint8_t byte : digest()) {
    hex += hex_digits[byte >> 4];
    hex += hex_digits[byte & 0xF];
  }
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.hex_digest();
}

std::string sha256_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot open " + file.string() + " to compute its SHA-256");
  Sha256 hasher;
  std::vector<char> chunk(file_chunk_bytes);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    hasher.update(chunk.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw IoError("reading " + file.string() + " failed while computing its SHA-256");
  return hasher.hex_digest();
}

std::string_view expected_mnist_sha256(std::string_view file_name) {
  const std::vector<std::string> names = mnist_files();
  const std::string_view digests[] = {mnist_sha256::train_images, mnist_sha256::train_labels,
                                      mnist_sha256::test_images, mnist_sha256::test_labels};
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == file_name) return digests[i];
  }
  return {};
}

void verify_mnist_checksums(const std::filesystem::path& folder) {
  for (const std::string& name : mnist_files()) {
    const std::filesystem::path file = folder / name;
    const std::string actual = sha256_file(file);
    const std::string_view expected = expected_mnist_sha256(name);
    if (actual != expected) {
      throw IoError("MNIST file " + file.string() + " has SHA-256 " + actual + ", expected " +
                    std::string(expected) + "; run tools/setup.sh to fetch MNIST again");
    }
  }
}

}  // namespace digitcam::train
