#include "digitcam/train/augment.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>
#include <utility>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::train {

namespace {

// Work and randomness layout.
constexpr std::size_t items_per_chunk = 16;      // items per parallel_for chunk (~0.2 ms of work)
constexpr std::size_t noise_block = 256;         // noise values drawn at a time (even)
constexpr int blur_kernel_levels = 4;            // blur sigmas precomputed per batch
constexpr float thickness_strength_min = 0.35f;  // blend of the morphed image, at least
constexpr float thicker_share = 0.5f;            // thicker as often as thinner
constexpr float noise_sigma_low = 0.5f;          // an item's noise sigma: this .. 1 of the maximum
constexpr float blur_reach_sigmas = 2.5f;        // blur kernels reach this far
constexpr float unit_24_bits = 1.0f / 16777216.0f;
constexpr float byte_to_unit = 1.0f / 255.0f;
constexpr double degrees_to_radians = 3.14159265358979323846 / 180.0;
constexpr double sqrt_two_pi = 2.5066282746310002;
// Irwin-Hall approximation of a standard normal: the sum of four 8-bit uniforms has mean
// 4 * 127.5 and standard deviation sqrt(4 * (256^2 - 1) / 12).
constexpr float irwin_hall_mean = 510.0f;
constexpr float irwin_hall_inverse_sd = 1.0f / 147.7997f;
// Elastic fields are built from random control points spaced about one sigma apart and reaching
// two sigmas beyond the frame, so the field has no weak margin.
constexpr double elastic_reach_sigmas = 2.0;
// Sub-stream of each switch: the draws of one switch never move another's.
enum Stream : std::uint64_t {
  affine_stream = 1,
  elastic_stream,
  thickness_stream,
  blur_stream,
  noise_stream,
  contrast_stream
};

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
  float uniform() { return static_cast<float>(next() >> 40) * unit_24_bits; }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  bool chance(float p) { return uniform() < p; }
  // Two approximately standard normal numbers from one draw (Irwin-Hall, four bytes each):
  // a fraction of Box-Muller's cost, and all pixel noise needs.
  std::pair<float, float> two_normals() {
    const std::uint64_t r = next();
    const auto sum4 = [](std::uint64_t bytes) {
      return static_cast<float>((bytes & 0xFF) + ((bytes >> 8) & 0xFF) + ((bytes >> 16) & 0xFF) +
                                ((bytes >> 24) & 0xFF));
    };
    return {(sum4(r) - irwin_hall_mean) * irwin_hall_inverse_sd,
            (sum4(r >> 32) - irwin_hall_mean) * irwin_hall_inverse_sd};
  }

 private:
  std::uint64_t state_;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Random r(a ^ (b * 0xD1B54A32D192ED03ull));
  return r.next();
}

// Gaussian weights of control points (rows) at each pixel coordinate 0..size-1 (columns).
// A field sum_kl c_kl w_k(x) w_l(y) with c uniform in +-spacing has the same variance as
// Simard's Gaussian-smoothed per-pixel uniform noise, at a fraction of the work.
cv::Mat control_weights(int size, float sigma, float spacing) {
  const double reach = elastic_reach_sigmas * sigma;
  const int points = static_cast<int>(std::floor((size - 1 + 2 * reach) / spacing)) + 1;
  cv::Mat w(points, size, CV_32F);
  for (int k = 0; k < points; ++k) {
    const double at = -reach + k * double{spacing};
    for (int x = 0; x < size; ++x) {
      const double d = (x - at) / sigma;
      w.at<float>(k, x) = static_cast<float>(std::exp(-0.5 * d * d) / (sqrt_two_pi * sigma));
    }
  }
  return w;
}

// Kernels computed once per batch, shared read-only by every item.
struct Kernels {
  cv::Mat elastic_x, elastic_y;  // control_weights for columns and rows
  float elastic_spacing = 1;
  std::array<cv::Mat, blur_kernel_levels> blur;  // 1-D Gaussians
};

Kernels make_kernels(const AugmentOptions& o, int rows, int cols) {
  Kernels k;
  if (o.elastic) {
    k.elastic_spacing = std::max(1.0f, std::floor(o.elastic_sigma));
    k.elastic_x = control_weights(cols, o.elastic_sigma, k.elastic_spacing);
    k.elastic_y = control_weights(rows, o.elastic_sigma, k.elastic_spacing);
  }
  if (o.blur) {
    for (int i = 0; i < blur_kernel_levels; ++i) {
      const float t = static_cast<float>(i) / (blur_kernel_levels - 1);
      const float sigma = o.blur_sigma_min + t * (o.blur_sigma_max - o.blur_sigma_min);
      const int half = std::max(1, static_cast<int>(std::ceil(blur_reach_sigmas * sigma)));
      k.blur[static_cast<std::size_t>(i)] = cv::getGaussianKernel(2 * half + 1, sigma, CV_32F);
    }
  }
  return k;
}

// Per-thread buffers reused across items and batches, so the steady state does not allocate.
struct Scratch {
  cv::Mat image, other, dx, dy, map_x, map_y, coefficients, partial;
};

void validate(const AugmentOptions& o) {
  const auto bad = [](const char* what) { throw UsageError(std::string("augmentation: ") + what); };
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

// Thicker or thinner strokes: a grey dilation or erosion by a 3x3 cross (outside the frame
// counts as background), blended in at a random strength. By hand: on 28x28, OpenCV's filter
// set-up costs more than the filtering.
void change_thickness(Scratch& s, Random& r) {
  const bool thicker = r.chance(thicker_share);
  const float strength = r.uniform(thickness_strength_min, 1.0f);
  const int rows = s.image.rows, cols = s.image.cols;
  s.other.create(rows, cols, CV_32F);
  for (int y = 0; y < rows; ++y) {
    const float* row = s.image.ptr<float>(y);
    const float* up = y > 0 ? s.image.ptr<float>(y - 1) : nullptr;
    const float* down = y + 1 < rows ? s.image.ptr<float>(y + 1) : nullptr;
    float* out = s.other.ptr<float>(y);
    for (int x = 0; x < cols; ++x) {
      const float n[4] = {up ? up[x] : 0.0f, down ? down[x] : 0.0f, x > 0 ? row[x - 1] : 0.0f,
                          x + 1 < cols ? row[x + 1] : 0.0f};
      float m = row[x];
      for (const float v : n) m = thicker ? std::max(m, v) : std::min(m, v);
      out[x] = row[x] + strength * (m - row[x]);
    }
  }
  std::swap(s.image, s.other);
}

// One displacement field (px, before alpha): W_y^T C W_x for random control values C.
void elastic_field(Scratch& s, const Kernels& k, Random& r, cv::Mat& field) {
  const cv::Mat& wx = k.elastic_x;
  const cv::Mat& wy = k.elastic_y;
  s.coefficients.create(wy.rows, wx.rows, CV_32F);
  for (int l = 0; l < wy.rows; ++l) {
    float* c = s.coefficients.ptr<float>(l);
    for (int m = 0; m < wx.rows; ++m) c[m] = r.uniform(-k.elastic_spacing, k.elastic_spacing);
  }
  // partial[l][x] = sum_m C[l][m] wx[m][x]; field[y][x] = sum_l wy[l][y] partial[l][x].
  s.partial.create(wy.rows, wx.cols, CV_32F);
  s.partial = 0.0f;
  for (int l = 0; l < wy.rows; ++l) {
    const float* c = s.coefficients.ptr<float>(l);
    float* p = s.partial.ptr<float>(l);
    for (int m = 0; m < wx.rows; ++m) {
      const float* w = wx.ptr<float>(m);
      for (int x = 0; x < wx.cols; ++x) p[x] += c[m] * w[x];
    }
  }
  field.create(wy.cols, wx.cols, CV_32F);
  field = 0.0f;
  for (int y = 0; y < wy.cols; ++y) {
    float* f = field.ptr<float>(y);
    for (int l = 0; l < wy.rows; ++l) {
      const float weight = wy.at<float>(l, y);
      const float* p = s.partial.ptr<float>(l);
      for (int x = 0; x < wx.cols; ++x) f[x] += weight * p[x];
    }
  }
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
  // Output pixel q samples the source at p = c + A^-1 (q + alpha * d(q) - c - t).
  elastic_field(s, k, elastic_random, s.dx);
  elastic_field(s, k, elastic_random, s.dy);
  const double det = a00 * a11 - a01 * a10;
  const double i00 = a11 / det, i01 = -a01 / det, i10 = -a10 / det, i11 = a00 / det;
  const double alpha = o.elastic_alpha;
  s.map_x.create(size, CV_32F);
  s.map_y.create(size, CV_32F);
  for (int y = 0; y < size.height; ++y) {
    const float* dx = s.dx.ptr<float>(y);
    const float* dy = s.dy.ptr<float>(y);
    float* mx = s.map_x.ptr<float>(y);
    float* my = s.map_y.ptr<float>(y);
    for (int x = 0; x < size.width; ++x) {
      const double qx = x + alpha * dx[x] - cx - tx;
      const double qy = y + alpha * dy[x] - cy - ty;
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
  const std::size_t size = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  {
    float* image = s.image.ptr<float>();
    for (std::size_t p = 0; p < size; ++p) image[p] = static_cast<float>(src[p]) * byte_to_unit;
  }
  if (o.thickness) {
    Random r(mix(item_seed, thickness_stream));
    if (r.chance(o.thickness_probability)) change_thickness(s, r);
  }
  warp(s, o, k, item_seed);
  if (o.blur) {
    Random r(mix(item_seed, blur_stream));
    if (r.chance(o.blur_probability)) {
      const auto level = static_cast<std::size_t>(r.next() % blur_kernel_levels);
      cv::sepFilter2D(s.image, s.other, CV_32F, k.blur[level], k.blur[level], cv::Point(-1, -1), 0,
                      cv::BORDER_CONSTANT);
      std::swap(s.image, s.other);
    }
  }
  float gain = 1.0f;
  if (o.contrast) {
    Random r(mix(item_seed, contrast_stream));
    gain = r.uniform(o.contrast_min, o.contrast_max);
  }
  const float* image = s.image.ptr<float>();  // after the swaps above
  Random noise_random(mix(item_seed, noise_stream));
  if (!o.noise || !noise_random.chance(o.noise_probability)) {
    for (std::size_t p = 0; p < size; ++p) dst[p] = std::clamp(image[p] * gain, 0.0f, 1.0f);
    return;
  }
  // Noise is drawn into a small buffer first: interleaving the generator with the stores
  // keeps the compiler from vectorising either and costs five times as much.
  const float sigma = o.noise_stddev * noise_random.uniform(noise_sigma_low, 1.0f);
  std::array<float, noise_block> noise;
  for (std::size_t start = 0; start < size; start += noise_block) {
    const std::size_t n = std::min(noise_block, size - start);
    for (std::size_t i = 0; i < n; i += 2)
      std::tie(noise[i], noise[i + 1]) = noise_random.two_normals();
    for (std::size_t i = 0; i < n; ++i) {
      dst[start + i] = std::clamp(image[start + i] * gain + sigma * noise[i], 0.0f, 1.0f);
    }
  }
}

}  // namespace

AugmentOptions AugmentOptions::none() {
  AugmentOptions o;
  o.affine = o.elastic = o.thickness = o.blur = o.noise = o.contrast = false;
  return o;
}

AugmentOptions AugmentOptions::all() {
  return AugmentOptions{};
}

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
  const Kernels kernels = make_kernels(options, data.rows, data.cols);
  engine::parallel_for(indices.size(), items_per_chunk, [&](std::size_t begin, std::size_t end) {
    thread_local Scratch scratch;
    for (std::size_t i = begin; i < end; ++i) {
      augment_item(data.image(indices[i]), options, kernels, mix(seed, i),
                   out.item(static_cast<int>(i)), scratch, data.rows, data.cols);
    }
  });
}

}  // namespace digitcam::train
