#include "digitcam/engine/max_pool.hpp"

#include <algorithm>
#include <limits>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// Planes (one channel of one item) per parallel chunk.
constexpr std::size_t planes_per_chunk = 16;
// At least this many input values per task, so a batch-1 layer runs on the calling thread
// instead of waking workers for a few microseconds of work.
constexpr std::size_t values_per_chunk = 1 << 15;

void validate(const PoolGeometry& g) {
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.pad_top < 0 ||
      g.pad_left < 0 || g.pad_bottom < 0 || g.pad_right < 0) {
    throw ShapeError("MaxPool: kernel and stride must be positive and pads non-negative");
  }
  if (g.pad_top >= g.kernel_h || g.pad_bottom >= g.kernel_h || g.pad_left >= g.kernel_w ||
      g.pad_right >= g.kernel_w) {
    throw ShapeError("MaxPool: padding must be smaller than the kernel");
  }
}

// Pools one plane; writes the maxima and, when argmax is given, where each came from.
void pool_plane(const PoolGeometry& g, const float* x, int h, int w, float* y, int oh, int ow,
                std::int32_t* argmax) {
  for (int oy = 0; oy < oh; ++oy) {
    const int y0 = oy * g.stride_h - g.pad_top;
    const int ys = std::max(y0, 0), ye = std::min(y0 + g.kernel_h, h);
    for (int ox = 0; ox < ow; ++ox) {
      const int x0 = ox * g.stride_w - g.pad_left;
      const int xs = std::max(x0, 0), xe = std::min(x0 + g.kernel_w, w);
      float best = -std::numeric_limits<float>::infinity();
      int best_at = ys * w + xs;
      for (int iy = ys; iy < ye; ++iy) {
        for (int ix = xs; ix < xe; ++ix) {
          const float v = x[iy * w + ix];
          if (v > best) {
            best = v;
            best_at = iy * w + ix;
          }
        }
      }
      y[oy * ow + ox] = best;
      if (argmax != nullptr) argmax[oy * ow + ox] = best_at;
    }
  }
}

// The common case, 2x2 windows at stride 2 without padding or argmax (inference), written so the
// compiler vectorises it.
bool is_plain_2x2(const PoolGeometry& g) {
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 &&
         g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0;
}

void pool_plane_2x2(const float* x, int w, float* __restrict y, int oh, int ow) {
  for (int oy = 0; oy < oh; ++oy) {
    const float* __restrict top = x + 2 * oy * w;
    const float* __restrict bottom = top + w;
    float* __restrict out = y + oy * ow;
    for (int ox = 0; ox < ow; ++ox) {
      const float a = std::max(top[2 * ox], top[2 * ox + 1]);
      const float b = std::max(bottom[2 * ox], bottom[2 * ox + 1]);
      out[ox] = std::max(a, b);
    }
  }
}

// Training's 2x2 stride-2 windows with argmax: the same choice as pool_plane (the first
// strictly greater value, starting from -inf at the window's first element), made with
// selects instead of branches, which mispredicted on every other window.
void pool_plane_2x2_argmax(const float* x, int w, float* __restrict y, int oh, int ow,
                           std::int32_t* __restrict argmax) {
  for (int oy = 0; oy < oh; ++oy) {
    const float* top = x + 2 * oy * w;
    const float* bottom = top + w;
    for (int ox = 0; ox < ow; ++ox) {
      const int at = 2 * oy * w + 2 * ox;
      const float candidates[4] = {top[2 * ox], top[2 * ox + 1], bottom[2 * ox],
                                   bottom[2 * ox + 1]};
      const int offsets[4] = {0, 1, w, w + 1};
      float best = -std::numeric_limits<float>::infinity();
      int best_at = at;
      for (int k = 0; k < 4; ++k) {
        const bool greater = candidates[k] > best;
        best = greater ? candidates[k] : best;
        best_at = greater ? at + offsets[k] : best_at;
      }
      y[oy * ow + ox] = best;
      argmax[oy * ow + ox] = best_at;
    }
  }
}

}  // namespace

MaxPool::MaxPool(const PoolGeometry& geometry) : geometry_(geometry) {
  validate(geometry_);
}

Shape MaxPool::output_shape(const Shape& x) const {
  const int oh = geometry_.out_h(x.h), ow = geometry_.out_w(x.w);
  if (x.h + geometry_.pad_top + geometry_.pad_bottom < geometry_.kernel_h ||
      x.w + geometry_.pad_left + geometry_.pad_right < geometry_.kernel_w || oh < 1 || ow < 1) {
    throw ShapeError("MaxPool: input " + x.str() + " is smaller than the " +
                     std::to_string(geometry_.kernel_h) + "x" + std::to_string(geometry_.kernel_w) +
                     " window");
  }
  return {x.n, x.c, oh, ow};
}

void MaxPool::forward(const Tensor& x, Tensor& y) {
  const Shape out = output_shape(x.shape());
  y.resize(out);
  x_shape_ = x.shape();
  const bool keep = mode() == Mode::training;
  argmax_.resize(keep ? out.count() : 0);
  const std::size_t in_plane = static_cast<std::size_t>(x_shape_.h) * x_shape_.w;
  const std::size_t out_plane = static_cast<std::size_t>(out.h) * out.w;
  const std::size_t planes = static_cast<std::size_t>(out.n) * out.c;
  const std::size_t grain =
      std::max(planes_per_chunk, values_per_chunk / std::max<std::size_t>(1, in_plane));
  parallel_for(planes, grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t p = begin; p < end; ++p) {
      if (is_plain_2x2(geometry_)) {
        if (keep) {
          pool_plane_2x2_argmax(x.data() + p * in_plane, x_shape_.w, y.data() + p * out_plane,
                                out.h, out.w, argmax_.data() + p * out_plane);
        } else {
          pool_plane_2x2(x.data() + p * in_plane, x_shape_.w, y.data() + p * out_plane, out.h,
                         out.w);
        }
        continue;
      }
      pool_plane(geometry_, x.data() + p * in_plane, x_shape_.h, x_shape_.w,
                 y.data() + p * out_plane, out.h, out.w,
                 keep ? argmax_.data() + p * out_plane : nullptr);
    }
    if (relu_before_) {
      float* maxima = y.data() + begin * out_plane;
      for (std::size_t i = 0; i < (end - begin) * out_plane; ++i) {
        maxima[i] = std::max(maxima[i], 0.0f);
      }
    }
  });
  y_ = &y;
}

void MaxPool::backward(const Tensor& dy, Tensor& dx) {
  const Shape out = output_shape(x_shape_);
  if (!(dy.shape() == out)) {
    throw ShapeError("MaxPool: gradient shape " + dy.shape().str() +
                     " does not match the forward output " + out.str());
  }
  if (argmax_.size() != out.count()) {
    throw ShapeError("MaxPool: backward needs a forward pass in training mode first");
  }
  if (!input_gradient()) return;
  dx.resize(x_shape_);
  const std::size_t in_plane = static_cast<std::size_t>(x_shape_.h) * x_shape_.w;
  const std::size_t out_plane = static_cast<std::size_t>(out.h) * out.w;
  const std::size_t planes = static_cast<std::size_t>(out.n) * out.c;
  parallel_for(planes, planes_per_chunk, [&](std::size_t begin, std::size_t end) {
    for (std::size_t p = begin; p < end; ++p) {
      float* d = dx.data() + p * in_plane;
      std::fill_n(d, in_plane, 0.0f);
      const float* g = dy.data() + p * out_plane;
      const std::int32_t* at = argmax_.data() + p * out_plane;
      if (relu_before_) {
        // As ReLU::backward: a blend, not a branch, on the (clamped) maximum.
        const float* maxima = y_->data() + p * out_plane;
        for (std::size_t i = 0; i < out_plane; ++i) d[at[i]] += maxima[i] > 0.0f ? g[i] : 0.0f;
      } else {
        for (std::size_t i = 0; i < out_plane; ++i) d[at[i]] += g[i];
      }
    }
  });
}

void max_pool_forward_reference(const PoolGeometry& g, const Tensor& x, Tensor& y) {
  const Shape& s = x.shape();
  const int oh = g.out_h(s.h), ow = g.out_w(s.w);
  y.resize({s.n, s.c, oh, ow});
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          float best = -std::numeric_limits<float>::infinity();
          for (int ky = 0; ky < g.kernel_h; ++ky)
            for (int kx = 0; kx < g.kernel_w; ++kx) {
              const int iy = oy * g.stride_h - g.pad_top + ky;
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                best = std::max(best, x.at(n, c, iy, ix));
            }
          y.at(n, c, oy, ox) = best;
        }
}

}  // namespace digitcam::engine
