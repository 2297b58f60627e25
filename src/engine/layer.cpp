#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

void Layer::forward_then(const Tensor& x, Tensor& y, const ChannelEpilogue& after) {
  forward(x, y);
  const Shape& s = y.shape();
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  for (int n = 0; n < s.n; ++n) {
    for (int c = 0; c < s.c; ++c) after.apply(c, y.item(n) + c * plane, plane);
  }
}

}  // namespace digitcam::engine
