#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/checksum.hpp"
#include "digitcam/train/mnist.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;

// Test vectors from FIPS 180-2 appendix B and NIST's example values.
TEST_CASE("sha256: the empty message has the standard digest") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sha256: \"abc\" has the standard digest") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256: the 448-bit two-block message has the standard digest") {
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256: one million 'a' fed in uneven pieces has the standard digest") {
  const std::string piece(997, 'a');
  Sha256 hasher;
  std::size_t left = 1'000'000;
  while (left > 0) {
    const std::size_t n = std::min(left, piece.size());
    hasher.update(piece.data(), n);
    left -= n;
  }
  CHECK(hasher.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: messages around the 55/56/64-byte padding edges match one-shot hashing") {
  // Byte-at-a-time updates must agree with one update, whatever the length.
  for (std::size_t length : {55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 128u}) {
    const std::string message(length, 'x');
    Sha256 hasher;
    for (char c : message) hasher.update(&c, 1);
    CHECK_MESSAGE(hasher.hex_digest() == sha256_hex(message), "length " << length);
  }
  CHECK(sha256_hex(std::string(56, 'a')) ==
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
}

TEST_CASE("sha256: a file's digest equals the digest of its bytes; a missing file is an IoError") {
  test::ScratchFolder folder("sha");
  const std::string text = "digitcam\n";
  std::ofstream(folder / "a.txt", std::ios::binary) << text;
  CHECK(sha256_file(folder / "a.txt") == sha256_hex(text));
  CHECK_THROWS_AS(sha256_file(folder / "missing.txt"), IoError);
}

TEST_CASE("sha256: MNIST's expected digests are known by file name") {
  CHECK(expected_mnist_sha256("train-images-idx3-ubyte") == mnist_sha256::train_images);
  CHECK(expected_mnist_sha256("t10k-labels-idx1-ubyte") == mnist_sha256::test_labels);
  CHECK(expected_mnist_sha256("notes.txt").empty());
}

TEST_CASE("sha256: the real MNIST label files have their published digests") {
  if (!test::have_mnist()) {
    MESSAGE("data/mnist is absent (run tools/setup.sh); skipped");
    return;
  }
  // The label files are small; verify_mnist_checksums covers all four (about 0.3 s).
  CHECK(sha256_file(test::mnist_folder() / "train-labels-idx1-ubyte") ==
        mnist_sha256::train_labels);
  CHECK(sha256_file(test::mnist_folder() / "t10k-labels-idx1-ubyte") == mnist_sha256::test_labels);
  CHECK_NOTHROW(verify_mnist_checksums(test::mnist_folder()));
}
