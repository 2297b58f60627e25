#include "digitcam/engine/tensor.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "digitcam/engine/error.hpp"

namespace digitcam::engine {

std::string Shape::str() const {
  return "[" + std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) + ", " +
         std::to_string(w) + "]";
}

void Tensor::AlignedFree::operator()(float* p) const noexcept { std::free(p); }

Tensor::Tensor(Shape shape) {
  resize(shape);
  zero();
}

Tensor::Tensor(const Tensor& other) {
  resize(other.shape_);
  std::copy_n(other.data(), other.size(), data());
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) {
    resize(other.shape_);
    std::copy_n(other.data(), other.size(), data());
  }
  return *this;
}

Tensor::Tensor(Tensor&& other) noexcept
    : shape_(other.shape_), capacity_(other.capacity_), data_(std::move(other.data_)) {
  other.shape_ = {};
  other.capacity_ = 0;
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  shape_ = other.shape_;
  capacity_ = other.capacity_;
  data_ = std::move(other.data_);
  other.shape_ = {};
  other.capacity_ = 0;
  return *this;
}

void Tensor::resize(Shape shape) {
  if (shape.n < 0 || shape.c < 0 || shape.h < 0 || shape.w < 0) {
    throw ShapeError("tensor: negative dimension in shape " + shape.str());
  }
  const std::size_t count = shape.count();
  if (count > capacity_) {
    // Round up so the allocation is a whole number of alignment blocks, as aligned_alloc needs.
    const std::size_t bytes =
        (count * sizeof(float) + alignment - 1) / alignment * alignment;
    auto* p = static_cast<float*>(std::aligned_alloc(alignment, bytes));
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(p);
    capacity_ = bytes / sizeof(float);
  }
  shape_ = shape;
}

void Tensor::fill(float value) { std::fill_n(data(), size(), value); }

}  // namespace digitcam::engine
