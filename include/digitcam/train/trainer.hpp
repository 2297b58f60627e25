#pragma once
// The training loop: shuffled mini-batches augmented one batch ahead on a helper thread, forward,
// cross-entropy, backward, optimizer step on a learning-rate schedule; after each epoch a
// validation pass and a checkpoint (written atomically), so `resume` loses at most one epoch.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "digitcam/engine/network.hpp"
#include "digitcam/engine/optimizer.hpp"
#include "digitcam/train/augment.hpp"
#include "digitcam/train/mnist.hpp"
#include "digitcam/train/negatives.hpp"

namespace digitcam::train {

struct TrainOptions {
  std::string arch = "default";
  // 11: the digits and "not a digit" (label not_a_digit_label, examples from `negatives` mixed
  // into the training images, so each batch holds them at their share of the whole set);
  // 10: digits only.
  int classes = 11;
  NegativeOptions negatives;
  // 22 with the drawn people among the negatives: a trial with 14 fell to 99.52% on MNIST; 20
  // gave 99.69%, but only 99.58% once the segmenter's whole-factor background changed the scene
  // crops. The train target takes about 12 of its 15 minutes.
  int epochs = 22;
  int batch = 64;
  float learning_rate = 3e-3f;
  engine::ScheduleKind schedule = engine::ScheduleKind::one_cycle;
  float warmup_fraction = 0.2f;
  std::string optimizer = "adamw";
  float weight_decay = 1e-4f;
  float label_smoothing = 0.0f;
  AugmentOptions augment;
  double validation_fraction = 0.05;  // held out from the (limited) training images
  std::size_t limit = 0;              // 0: every training image
  std::uint64_t seed = 1;
  std::filesystem::path checkpoint;  // empty: no checkpoints
  bool resume = false;

  // One line naming every choice, stored in checkpoints and the model card.
  std::string describe() const;
};

struct EpochStats {
  int epoch = 0;  // 1-based
  double train_loss = 0;
  double train_accuracy = 0;
  double validation_accuracy = 0;  // NaN when there is no validation split
  double validation_loss = 0;      // mean cross-entropy; NaN when there is no validation split
  double seconds = 0;
  double images_per_second = 0;
};

// What the progress line shows, reported a few times a second.
struct Progress {
  int epoch = 0;
  int epochs = 0;
  std::size_t batch = 0;
  std::size_t batches = 0;
  double loss = 0;      // running mean over the epoch so far
  double accuracy = 0;  // running training accuracy over the epoch so far
  double images_per_second = 0;
  double eta_seconds = 0;  // for the whole run
};

struct TrainingRun {
  engine::Network network;
  std::vector<EpochStats> history;
  double seconds = 0;  // wall time of this invocation's epochs
  int resumed_from_epoch = 0;
  std::vector<std::size_t> validation;  // indices into the data of the held-out validation split
};

using ProgressSink = std::function<void(const Progress&)>;
using EpochSink = std::function<void(const EpochStats&)>;

// Trains on `data` (MNIST's training split). Throws UsageError for bad options and IoError for a
// checkpoint that cannot be written or does not match the options on resume.
TrainingRun train_network(const TrainOptions& options, const Dataset& data,
                          const ProgressSink& on_progress, const EpochSink& on_epoch);

// Predictions of `network` in inference mode over every image of data. The digit read is the most
// probable of the ten digit classes (what accuracy on a set of digits measures); `top` is the
// most probable of all classes, which is 10 when an 11-class model says "not a digit".
struct Predictions {
  std::vector<int> labels;        // most probable digit, 0..9
  std::vector<float> confidence;  // softmax probability of that digit
  std::vector<int> top;           // most probable class overall
  std::vector<float> not_digit;   // probability of "not a digit" (0 for a 10-class model)
};
Predictions predict_dataset(engine::Network& network, const Dataset& data, int batch = 500);
// The same from logits already computed (dataset_logits), for callers that need both.
Predictions predictions_from_logits(const std::vector<float>& logits, int count);

// The raw logits of every image, row after row: data.count x classes floats.
std::vector<float> dataset_logits(engine::Network& network, const Dataset& data, int batch = 500);

}  // namespace digitcam::train
