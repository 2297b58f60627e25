#include <doctest/doctest.h>

#include <filesystem>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/architectures.hpp"
#include "digitcam/train/trainer.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;
using namespace digitcam::train;

namespace {

// A short real run: enough images and steps that a broken forward or backward pass cannot
// reach the accuracy it is checked against, small enough for CI.
TrainOptions short_run() {
  TrainOptions o;
  o.epochs = 2;
  o.limit = 3000;
  o.batch = 32;
  o.validation_fraction = 0.1;
  o.augment = parse_augment("none");
  o.seed = 3;
  return o;
}

double accuracy_on(engine::Network& net, const Dataset& data) {
  const Predictions p = predict_dataset(net, data);
  std::size_t right = 0;
  for (int i = 0; i < data.count; ++i)
    right += p.labels[static_cast<std::size_t>(i)] == data.labels[static_cast<std::size_t>(i)];
  return static_cast<double>(right) / data.count;
}

}  // namespace

TEST_CASE("trainer: a short real run on 3,000 MNIST images reaches 93% on 2,000 test digits") {
  const Dataset training = load_mnist(test::mnist_folder(), Split::train, 3000);
  const Dataset testing = load_mnist(test::mnist_folder(), Split::test, 2000);
  TrainingRun run = train_network(short_run(), training, {}, {});
  REQUIRE(run.history.size() == 2);
  CHECK(run.history[1].train_loss < run.history[0].train_loss);
  const double accuracy = accuracy_on(run.network, testing);
  CHECK_MESSAGE(accuracy >= 0.93,
                "test accuracy " << accuracy << " (seed 3, 3000 images, 2 epochs)");
  CHECK(run.history[1].validation_accuracy >= 0.9);
  // A validation loss beside the training loss, for the curves: a trained net is far below the
  // cross-entropy of a uniform guess, ln 10.
  CHECK(run.history[1].validation_loss > 0.0);
  CHECK(run.history[1].validation_loss < 0.5);
}

TEST_CASE("trainer: a run killed after an epoch resumes to the same weights") {
  const Dataset training = load_mnist(test::mnist_folder(), Split::train, 1500);
  const auto folder = std::filesystem::temp_directory_path() / "digitcam-test-resume";
  std::filesystem::create_directories(folder);
  TrainOptions o = short_run();
  o.limit = 1500;
  o.augment = parse_augment("affine,thickness");
  o.checkpoint = folder / "model.ckpt";
  std::filesystem::remove(o.checkpoint);

  TrainingRun whole = train_network(o, training, {}, {});

  std::filesystem::remove(o.checkpoint);
  struct Killed {};
  CHECK_THROWS_AS(train_network(o, training, {},
                                [](const EpochStats& e) {
                                  if (e.epoch == 1) throw Killed{};
                                }),
                  Killed);
  REQUIRE(std::filesystem::exists(o.checkpoint));
  o.resume = true;
  TrainingRun resumed = train_network(o, training, {}, {});
  CHECK(resumed.resumed_from_epoch == 1);
  REQUIRE(resumed.history.size() == 2);
  auto a = whole.network.params();
  auto b = resumed.network.params();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool same =
        std::equal(a[i].value->data(), a[i].value->data() + a[i].value->size(), b[i].value->data());
    CHECK_MESSAGE(same, a[i].name << " differs after resume");
  }

  // A checkpoint from another recipe is refused, not silently mixed in.
  o.seed = 4;
  CHECK_THROWS_WITH_AS(train_network(o, training, {}, {}), doctest::Contains("another recipe"),
                       IoError);
  std::filesystem::remove_all(folder);
}

TEST_CASE("trainer: bad options are usage errors that say what to change") {
  const Dataset training = load_mnist(test::mnist_folder(), Split::train, 200);
  TrainOptions o = short_run();
  o.epochs = 0;
  CHECK_THROWS_WITH_AS(train_network(o, training, {}, {}), doctest::Contains("--epochs"),
                       UsageError);
  o = short_run();
  o.batch = 512;
  CHECK_THROWS_WITH_AS(train_network(o, training, {}, {}), doctest::Contains("--limit"),
                       UsageError);
  CHECK_THROWS_AS(make_architecture("resnet"), UsageError);
}
