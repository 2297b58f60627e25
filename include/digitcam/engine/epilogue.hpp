#pragma once
// What an inference forward applies to each output channel as it writes it, in place of the
// layers after it: a BatchNorm (y * scale + shift, its running statistics folded in) and a ReLU.
// The Network fills one for a Conv2D or Dense followed by either or both, and skips them: one
// pass over the output instead of three, with the same float operations in the same order, so
// the values are those of the layers run one by one, bit for bit.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace digitcam::engine {

struct ChannelEpilogue {
  std::vector<float> scale, shift;  // one per channel; both empty when there is no BatchNorm
  bool relu = false;

  bool empty() const { return scale.empty() && !relu; }

  // `count` values of channel `channel` (a plane of a convolution's output).
  void apply(int channel, float* values, std::size_t count) const {
    if (!scale.empty()) {
      const auto c = static_cast<std::size_t>(channel);
      const float a = scale[c], b = shift[c];
      for (std::size_t i = 0; i < count; ++i) values[i] = values[i] * a + b;
    }
    if (relu) {
      for (std::size_t i = 0; i < count; ++i) values[i] = std::max(values[i], 0.0f);
    }
  }
};

}  // namespace digitcam::engine
