#include "digitcam/train/augment.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::train {

namespace {

// Work and randomness layout.
constexpr std::size_t items_per_chunk = 16;  // items per parallel_for chunk (~0.3 ms of work)
constexpr int blur_kernel_levels = 4;        // blur sigmas precomputed per batch
constexpr float thickness_strength_min = 0.35f;  // blend of the morphed image, at least
constexpr float byte_to_unit = 1.0f / 255.0f;
constexpr double degrees_to_radians = 3.14159265358979323846 / 180.0;
constexpr float irwin_hall_4_scale = 1.7320508f;  // 1 / standard deviation of a sum of 4 U(0,1)
// Sub-stream of each switch: the draws of one switch never move another's.
enum Stream : std::uint64_t { affine_stream = 1, elastic_stream, thickness_stream, blur_stream,
                              noise_stream, contrast_stream };

// SplitMix64 (Steele, Lea and Flood, 2014): tiny state, good enough statistics for augmentation,
// and seeding by simply mixing (seed, item, stream).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) from the top 24 bits.
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  bool chance(float p) { return uniform() < p; }
  // Approximately standard normal: Irwin-Hall sum of four 16-bit uniforms from one draw, which
  // costs a fraction of Box-Muller and is all pixel noise needs.
  float normal() {
    const std::uint64_t r = next();
    const float sum = static_cast<float>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                         ((r >> 32) & 0xFFFF) + (r >> 48)) *
                      (1.0f / 65536.0f);
    return (sum - 2.0f) * irwin_hall_4_scale;
  }

 private:
  std::uint64_t state_;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Random r(a ^ (b * 0xD1B54A32D192ED03ull));
  return r.next();
}

// Kernels computed once per batch, shared read-only by every item.
struct Kernels {
  cv::Mat elastic;  // 1-D Gaussian of elastic_sigma
  std::array<cv::Mat, blur_kernel_levels> blur;
  cv::Mat cross;    // 3x3 structuring element of the thickness change
};

Kernels make_kernels(const AugmentOptions& o) {
  Kernels k;
  if (o.elastic) {
    const int half = std::max(1, static_cast<int>(std::ceil(3.0f * o.elastic_sigma)));
    k.elastic = cv::getGaussianKernel(2 * half + 1, o.elastic_sigma, CV_32F);
  }
  if (o.blur) {
    for (int i = 0; i < blur_kernel_levels; ++i) {
      const float t = static_cast<float>(i) / (blur_kernel_levels - 1);
      const float sigma = o.blur_sigma_min + t * (o.blur_sigma_max - o.blur_sigma_min);
      const int half = std::max(1, static_cast<int>(std::ceil(2.5f * sigma)));
      k.blur[static_cast<std::size_t>(i)] = cv::getGaussianKernel(2 * half + 1, sigma, CV_32F);
    }
  }
  k.cross = cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3));
  return k;
}

// Per-thread images reused across items and batches, so the steady state does not allocate.
struct Scratch {
  cv::Mat image, other, dx, dy, map_x, map_y;
};

void validate(const AugmentOptions& o) {
  const auto bad = [](const char* what) {
    throw UsageError(std::string("augmentation: ") + what);
  };
  if (o.scale_min <= 0 || o.scale_max < o.scale_min) bad("scale range must be 0 < min <= max");
  if (o.elastic_sigma <= 0) bad("elastic sigma must be positive");
  if (o.blur_sigma_min <= 0 || o.blur_sigma_max < o.blur_sigma_min) {
    bad("blur sigma range must be 0 < min <= max");
  }
  if (o.contrast_min < 0 || o.contrast_max < o.contrast_min) {
    bad("contrast range must be 0 <= min <= max");
  }
  if (o.noise_stddev < 0) bad("noise standard deviation must not be negative");
}

// Thicker or thinner strokes: a grey dilation or erosion blended in at a random strength.
void change_thickness(Scratch& s, const Kernels& k, Random& r) {
  const bool thicker = r.chance(0.5f);
  const float strength = r.uniform(thickness_strength_min, 1.0f);
  if (thicker) {
    cv::dilate(s.image, s.other, k.cross);
  } else {
    cv::erode(s.image, s.other, k.cross);
  }
  cv::addWeighted(s.image, 1.0f - strength, s.other, strength, 0.0, s.image);
}

// Affine (always, when on) and elastic (sometimes) in one resampling: warpAffine alone, or one
// remap whose map composes the displacement field with the inverse affine.
void warp(Scratch& s, const AugmentOptions& o, const Kernels& k, std::uint64_t item_seed) {
  const cv::Size size = s.image.size();
  const double cx = size.width / 2.0, cy = size.height / 2.0;  // (14, 14) for MNIST
  // Forward map p' = c + A (p - c) + t, A = rotation * shear * scale.
  double a00 = 1, a01 = 0, a10 = 0, a11 = 1, tx = 0, ty = 0;
  if (o.affine) {
    Random r(mix(item_seed, affine_stream));
    const double angle = r.uniform(-o.rotation_degrees, o.rotation_degrees) * degrees_to_radians;
    const double scale = r.uniform(o.scale_min, o.scale_max);
    const double shear = r.uniform(-o.shear, o.shear);
    tx = r.uniform(-o.translation_px, o.translation_px);
    ty = r.uniform(-o.translation_px, o.translation_px);
    const double c = std::cos(angle) * scale, sn = std::sin(angle) * scale;
    a00 = c;
    a01 = c * shear - sn;
    a10 = sn;
    a11 = sn * shear + c;
  }
  Random elastic_random(mix(item_seed, elastic_stream));
  const bool elastic = o.elastic && elastic_random.chance(o.elastic_probability);
  if (!o.affine && !elastic) return;

  if (!elastic) {
    const cv::Matx23d m(a00, a01, cx + tx - a00 * cx - a01 * cy, a10, a11,
                        cy + ty - a10 * cx - a11 * cy);
    cv::warpAffine(s.image, s.other, m, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
    std::swap(s.image, s.other);
    return;
  }
  // Smoothed uniform noise as the displacement field (px), then p = c + A^-1 (q + d - c - t).
  s.map_x.create(size, CV_32F);
  s.map_y.create(size, CV_32F);
  for (auto [noise, field] : {std::pair{&s.map_x, &s.dx}, std::pair{&s.map_y, &s.dy}}) {
    float* p = noise->ptr<float>();
    for (std::size_t i = 0; i < noise->total(); ++i) p[i] = elastic_random.uniform(-1.0f, 1.0f);
    cv::sepFilter2D(*noise, *field, CV_32F, k.elastic, k.elastic, cv::Point(-1, -1), 0,
                    cv::BORDER_REFLECT_101);
  }
  const double det = a00 * a11 - a01 * a10;
  const double i00 = a11 / det, i01 = -a01 / det, i10 = -a10 / det, i11 = a00 / det;
  for (int y = 0; y < size.height; ++y) {
    const float* dx = s.dx.ptr<float>(y);
    const float* dy = s.dy.ptr<float>(y);
    float* mx = s.map_x.ptr<float>(y);
    float* my = s.map_y.ptr<float>(y);
    for (int x = 0; x < size.width; ++x) {
      const double qx = x + double{o.elastic_alpha} * dx[x] - cx - tx;
      const double qy = y + double{o.elastic_alpha} * dy[x] - cy - ty;
      mx[x] = static_cast<float>(cx + i00 * qx + i01 * qy);
      my[x] = static_cast<float>(cy + i10 * qx + i11 * qy);
    }
  }
  cv::remap(s.image, s.other, s.map_x, s.map_y, cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
  std::swap(s.image, s.other);
}

void augment_item(const std::uint8_t* src, const AugmentOptions& o, const Kernels& k,
                  std::uint64_t item_seed, float* dst, Scratch& s, int rows, int cols) {
  s.image.create(rows, cols, CV_32F);
  float* image = s.image.ptr<float>();
  const std::size_t size = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  for (std::size_t p = 0; p < size; ++p) image[p] = static_cast<float>(src[p]) * byte_to_unit;

  if (o.thickness) {
    Random r(mix(item_seed, thickness_stream));
    if (r.chance(o.thickness_probability)) change_thickness(s, k, r);
  }
  warp(s, o, k, item_seed);
  if (o.blur) {
    Random r(mix(item_seed, blur_stream));
    if (r.chance(o.blur_probability)) {
      const auto level = static_cast<std::size_t>(r.next() % blur_kernel_levels);
      cv::sepFilter2D(s.image, s.other, CV_32F, k.blur[level], k.blur[level], cv::Point(-1, -1),
                      0, cv::BORDER_CONSTANT);
      std::swap(s.image, s.other);
    }
  }
  image = s.image.ptr<float>();  // the swaps above may have moved the current image
  float gain = 1.0f;
  if (o.contrast) {
    Random r(mix(item_seed, contrast_stream));
    gain = r.uniform(o.contrast_min, o.contrast_max);
  }
  float sigma = 0.0f;
  Random noise_random(mix(item_seed, noise_stream));
  if (o.noise && noise_random.chance(o.noise_probability)) {
    sigma = o.noise_stddev * noise_random.uniform(0.5f, 1.0f);
  }
  for (std::size_t p = 0; p < size; ++p) {
    float v = image[p] * gain;
    if (sigma > 0) v += sigma * noise_random.normal();
    dst[p] = std::clamp(v, 0.0f, 1.0f);
  }
}

}  // namespace

AugmentOptions AugmentOptions::none() {
  AugmentOptions o;
  o.affine = o.elastic = o.thickness = o.blur = o.noise = o.contrast = false;
  return o;
}

AugmentOptions AugmentOptions::all() { return AugmentOptions{}; }

std::vector<std::string> augment_names() {
  return {"affine", "elastic", "thickness", "blur", "noise", "contrast"};
}

std::string AugmentOptions::describe() const {
  const bool on[] = {affine, elastic, thickness, blur, noise, contrast};
  const std::vector<std::string> names = augment_names();
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (on[i]) list += (list.empty() ? "" : ",") + names[i];
  }
  return list.empty() ? "none" : list;
}

AugmentOptions parse_augment(std::string_view list) {
  const auto trim = [](std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string_view{};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
  };
  const std::vector<std::string> names = augment_names();
  std::string valid = "none, all";
  for (const auto& n : names) valid += ", " + n;
  list = trim(list);
  if (list == "none") return AugmentOptions::none();
  if (list == "all") return AugmentOptions::all();
  if (list.empty()) throw UsageError("--augment is empty; valid: " + valid);

  AugmentOptions o = AugmentOptions::none();
  bool* switches[] = {&o.affine, &o.elastic, &o.thickness, &o.blur, &o.noise, &o.contrast};
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const auto found = std::find(names.begin(), names.end(), item);
    if (found == names.end()) {
      throw UsageError("unknown augmentation '" + std::string(item) + "'; valid: " + valid);
    }
    *switches[found - names.begin()] = true;
  }
  return o;
}

void augment_batch(const Dataset& data, std::span<const std::size_t> indices,
                   const AugmentOptions& options, std::uint64_t seed, engine::Tensor& out) {
  validate(options);
  for (const std::size_t index : indices) {
    if (index >= static_cast<std::size_t>(data.count)) {
      throw ShapeError("augment_batch: index " + std::to_string(index) + " outside the " +
                       std::to_string(data.count) + " images");
    }
  }
  out.resize({static_cast<int>(indices.size()), 1, data.rows, data.cols});
  const Kernels kernels = make_kernels(options);
  engine::parallel_for(indices.size(), items_per_chunk, [&](std::size_t begin, std::size_t end) {
    thread_local Scratch scratch;
    for (std::size_t i = begin; i < end; ++i) {
      augment_item(data.image(indices[i]), options, kernels, mix(seed, i),
                   out.item(static_cast<int>(i)), scratch, data.rows, data.cols);
    }
  });
}

}  // namespace digitcam::train
