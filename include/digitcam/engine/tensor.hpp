#pragma once
// Tensor: NCHW float32, contiguous, 64-byte aligned. Every tensor is 4-D; a dense layer's output
// is [N, features, 1, 1]. resize() only reallocates when the new shape needs more room than the
// tensor ever had, so buffers reused across batches do not allocate in the steady state.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace digitcam::engine {

struct Shape {
  int n = 0;
  int c = 0;
  int h = 0;
  int w = 0;

  std::size_t count() const {
    return static_cast<std::size_t>(n) * static_cast<std::size_t>(c) * static_cast<std::size_t>(h) *
           static_cast<std::size_t>(w);
  }
  // Elements of one item of the batch (C*H*W).
  std::size_t item_count() const {
    return static_cast<std::size_t>(c) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  }
  bool operator==(const Shape&) const = default;
  std::string str() const;  // "[N, C, H, W]"
};

class Tensor {
 public:
  static constexpr std::size_t alignment = 64;

  Tensor() = default;
  explicit Tensor(Shape shape);  // zero-filled
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  ~Tensor() = default;

  // Changes the shape; contents are unspecified afterwards. Allocates only when growing
  // past the largest size this tensor has held.
  void resize(Shape shape);
  void fill(float value);
  void zero() { fill(0.0f); }

  const Shape& shape() const { return shape_; }
  std::size_t size() const { return shape_.count(); }
  bool empty() const { return size() == 0; }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::span<float> values() { return {data_.get(), size()}; }
  std::span<const float> values() const { return {data_.get(), size()}; }
  // Start of item n of the batch.
  float* item(int n) { return data_.get() + static_cast<std::size_t>(n) * shape_.item_count(); }
  const float* item(int n) const {
    return data_.get() + static_cast<std::size_t>(n) * shape_.item_count();
  }
  float& at(int n, int c, int h, int w) { return data_[offset(n, c, h, w)]; }
  float at(int n, int c, int h, int w) const { return data_[offset(n, c, h, w)]; }

 private:
  struct AlignedFree {
    void operator()(float* p) const noexcept;
  };
  std::size_t offset(int n, int c, int h, int w) const {
    return ((static_cast<std::size_t>(n) * shape_.c + c) * shape_.h + h) * shape_.w + w;
  }

  Shape shape_;
  std::size_t capacity_ = 0;
  std::unique_ptr<float[], AlignedFree> data_;
};

}  // namespace digitcam::engine
