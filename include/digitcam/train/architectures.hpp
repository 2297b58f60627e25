#pragma once
// The network presets `digitcam train --arch` knows. Both take [N, 1, 28, 28] crops in 0..1 and
// give [N, 10, 1, 1] logits.
//   default:  three 3x3 conv stages with batch norm (24, 48+48, 96 channels), a small dense head;
//             about 8 M multiply-adds per crop, built to reach 99.6% on MNIST in minutes.
//   tutorial: the widely copied Keras tutorial net (Conv 32 3x3, MaxPool, Conv 64 3x3, MaxPool,
//             Dense 128, Dropout 0.5, Dense 10), the yardstick for training speed.

#include <string>
#include <vector>

#include "digitcam/engine/network.hpp"

namespace digitcam::train {

engine::Network make_architecture(const std::string& name, int classes = 10);  // UsageError
std::vector<std::string> architecture_names();

}  // namespace digitcam::train
