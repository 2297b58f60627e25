#pragma once
// Training-time augmentation: random, mild changes of each MNIST digit that stand for what the
// normaliser leaves of a camera crop (a slightly rotated, sheared, shifted digit; an uneven pen;
// a thicker or thinner stroke; focus blur; sensor noise; weak contrast).
//
// Each switch works alone. Every item draws from its own random stream derived from (seed, its
// position in the batch), and each switch from its own sub-stream, so a batch is the same for a
// seed whatever the thread count, and turning one switch off leaves the others' draws unchanged.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "digitcam/engine/tensor.hpp"
#include "digitcam/train/mnist.hpp"

namespace digitcam::train {

struct AugmentOptions {
  // Affine about the centre of mass (14, 14): rotation, scale, shear and shift, each uniform.
  bool affine = true;
  float rotation_degrees = 12.0f;  // +- degrees
  float scale_min = 0.85f;
  float scale_max = 1.15f;
  float shear = 0.2f;           // +- horizontal shear (x += shear * (y - 14))
  float translation_px = 2.0f;  // +- px on each axis

  // Elastic distortion (Simard, Steinkraus and Platt, 2003): a field of uniform random
  // displacements smoothed by a Gaussian of sigma px and scaled by alpha.
  bool elastic = true;
  float elastic_probability = 0.5f;
  float elastic_alpha = 16.0f;  // ~0.6 px RMS displacement at sigma 4
  float elastic_sigma = 4.0f;

  // Stroke thickness: a grey dilation or erosion (3x3 cross), blended in at a random strength.
  bool thickness = true;
  float thickness_probability = 0.3f;

  // Gaussian blur with sigma uniform in [blur_sigma_min, blur_sigma_max].
  bool blur = true;
  float blur_probability = 0.2f;
  float blur_sigma_min = 0.5f;
  float blur_sigma_max = 1.0f;

  // Additive Gaussian noise, standard deviation up to noise_stddev (0..1 grey scale).
  bool noise = true;
  float noise_probability = 0.5f;
  float noise_stddev = 0.04f;

  // Ink brightness scaled by a factor uniform in [contrast_min, contrast_max].
  bool contrast = true;
  float contrast_min = 0.6f;
  float contrast_max = 1.0f;

  static AugmentOptions none();  // every switch off: augment_batch equals fill_batch
  static AugmentOptions all();   // every switch on, default strengths (the default)
  // The switches that are on, "affine,elastic,..." in augment_names() order, or "none";
  // parse_augment(describe()) gives the same switches back.
  std::string describe() const;
};

// The switch names, in a fixed order: affine, elastic, thickness, blur, noise, contrast.
std::vector<std::string> augment_names();

// "none", "all", or a comma list of augment_names() (spaces allowed), with default strengths.
// Throws UsageError naming an unknown entry and listing the valid ones.
AugmentOptions parse_augment(std::string_view list);

// out = [B, 1, rows, cols] in 0..1: the images at `indices`, each augmented. Parallel over items.
// Throws ShapeError for an index outside the data.
void augment_batch(const Dataset& data, std::span<const std::size_t> indices,
                   const AugmentOptions& options, std::uint64_t seed, engine::Tensor& out);

}  // namespace digitcam::train
