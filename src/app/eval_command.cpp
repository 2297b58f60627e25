// `digitcam eval`: metrics of a model on MNIST's test set, a labelled image folder (one
// subfolder per digit) or OpenCV's digits sheet, with either engine.

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "digitcam/app/commands.hpp"
#include "digitcam/app/options.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/train/digits_sheet.hpp"
#include "digitcam/train/metrics.hpp"
#include "digitcam/train/mnist.hpp"
#include "digitcam/vision/classifier.hpp"
#include "digitcam/vision/normalizer.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;

// Crops per classifier call: large batches are fastest for both engines.
constexpr int eval_batch = 500;

}  // namespace

int eval_command(const Arguments& args) {
  std::string model = default_model_path().string(), engine_name = "native", mnist, images,
              digits_png;
  int threads = 0;
  std::size_t limit = 0;
  bool json = false;
  po::options_description options("options");
  options.add_options()("model,m", po::value(&model)->default_value(model),
                        "ONNX model to evaluate")(
      "engine", po::value(&engine_name)->default_value(engine_name), "native or opencv")(
      "mnist", po::value(&mnist), "MNIST folder: evaluate on its test set (the default)")(
      "images", po::value(&images), "labelled image folder: one subfolder per digit")(
      "digits-png", po::value(&digits_png), "OpenCV's digits.png sheet (5000 digits, 20x20)")(
      "limit", po::value(&limit)->default_value(0), "first N test images only (0: all)")(
      "json", po::bool_switch(&json), "print one JSON object instead of a table");
  add_threads_option(options, threads);
  po::variables_map values;
  if (!parse_options("eval",
                     "Accuracy, macro precision/recall/F1 and the confusion matrix of a "
                     "model.",
                     options, args, values)) {
    return 0;
  }
  const int sources = !mnist.empty() + !images.empty() + !digits_png.empty();
  if (sources > 1) throw UsageError("choose one of --mnist, --images and --digits-png");

  engine::ThreadBudget budget(threads);
  train::Dataset data;
  std::string source;
  if (!images.empty()) {
    data = train::load_labelled_folder(images).as_dataset();
    source = images;
  } else if (!digits_png.empty()) {
    data = train::load_digits_sheet(digits_png).as_dataset();
    source = digits_png;
  } else {
    const fs::path folder = mnist.empty() ? resource_paths().mnist : fs::path(mnist);
    data = train::load_mnist(folder, train::Split::test, limit);
    source = (folder / "t10k-images-idx3-ubyte").string();
  }

  // The data first: a bad data path is reported as such even when the model is missing too.
  auto classifier = vision::make_classifier(vision::parse_engine_kind(engine_name), model);
  train::ConfusionMatrix confusion(std::max(10, classifier->classes()));
  engine::Tensor batch, logits;
  const int count = data.count;
  std::vector<std::size_t> indices;
  for (int start = 0; start < count; start += eval_batch) {
    const int size = std::min(eval_batch, count - start);
    indices.resize(static_cast<std::size_t>(size));
    std::iota(indices.begin(), indices.end(), static_cast<std::size_t>(start));
    train::fill_batch(data, indices, batch);
    const auto predictions = vision::predict(*classifier, batch);
    for (int i = 0; i < size; ++i) {
      confusion.add(data.labels[static_cast<std::size_t>(start + i)],
                    predictions[static_cast<std::size_t>(i)].label);
    }
  }
  const train::Metrics metrics = train::compute_metrics(confusion);
  if (json) {
    std::cout << train::to_json(metrics) << '\n';
  } else {
    std::cout << "model " << model << " on " << source << " (" << classifier->name() << " engine)\n"
              << train::to_table(metrics);
  }
  return 0;
}

}  // namespace digitcam::app
