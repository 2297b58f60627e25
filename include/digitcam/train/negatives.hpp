#pragma once
// "Not a digit" examples for the network's eleventh class, made deterministically for a seed
// from files that are on every machine that ran tools/setup.sh, so `cmake --build --target
// train` regenerates the same model bit for bit without downloading anything:
//
//   scene     what the project's own Segmenter cuts from digit-free real pictures (the photos and
//             videos of Debian's opencv-doc package), normalised by the same Normalizer as the
//             camera path. Each photo is seen in several random views (crop, rotation, mirror),
//             so the segmenter's size limits pick different objects each time.
//   glyph     letters and symbols that do not look like digits, drawn with OpenCV's Hershey
//             fonts (the script faces included) at random thickness, rotation and shear.
//   fragment  part of an MNIST digit (one side of its ink cut away); thin parts that would be a
//             "1" are skipped.
//   pair      two MNIST digits side by side squeezed into one crop.
//   figure    people as a camera sees them from a distance: drawn silhouettes (head, torso,
//             legs with a stride, arms, sometimes a coat or a bag) at random proportions,
//             shrunk and blurred. Real footage of people in Debian is vtest.avi alone, which is
//             kept for testing.
//
// Sources are split, not samples: the held-out set uses other photos, the second half of
// Megamind.avi, other fonts and MNIST's test digits (and its own draws of figures). vtest.avi (the
// product's false-digit test video) is never read.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "digitcam/train/mnist.hpp"

namespace digitcam::train {

// The label of the "not a digit" class: the eleventh output of an 11-class model.
inline constexpr std::uint8_t not_a_digit_label = 10;

struct NegativeOptions {
  std::filesystem::path opencv_data = "/usr/share/doc/opencv-doc/examples/data";
  int scene_limit = 5000;   // scene crops kept for training (a seeded sample when more)
  int glyphs = 1500;        // rendered letters and symbols for training
  int fragments = 300;      // MNIST fragments for training
  int pairs = 900;          // squeezed MNIST pairs for training
  int figures = 800;        // drawn people for training
  int held_out_each = 400;  // held-out crops of each kind (at most)
  int training_views = 60;  // random views of each training photo, besides the photo itself
  int held_out_views = 10;  // ... of each held-out photo
  std::uint64_t seed = 1;

  // One line naming every count, for the training recipe.
  std::string describe() const;
};

struct NegativeSet {
  Dataset training;  // 28x28, label not_a_digit_label, white ink on black
  Dataset held_out;
  // How many of each kind (scene, glyph, fragment, pair, figure), in that order.
  std::vector<int> training_counts;
  std::vector<int> held_out_counts;
};

// The opencv-doc files each part reads (names relative to NegativeOptions::opencv_data).
std::vector<std::string> negative_training_pictures();
std::vector<std::string> negative_held_out_pictures();

// Builds both sets. digits_train feeds the training fragments and pairs, digits_test the
// held-out ones. IoError naming the file when an opencv-doc picture or video is missing.
NegativeSet make_negatives(const Dataset& digits_train, const Dataset& digits_test,
                           const NegativeOptions& options);

// a's images followed by b's (same image size; ShapeError otherwise).
Dataset concatenate(const Dataset& a, const Dataset& b);

}  // namespace digitcam::train
