// `digitcam eval`: metrics of a model on MNIST's test set, a labelled image folder (one
// subfolder per digit) or OpenCV's digits sheet, with either engine.

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "digitcam/app/commands.hpp"
#include "digitcam/app/evaluation.hpp"
#include "digitcam/app/options.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/train/confidence.hpp"
#include "digitcam/train/digits_sheet.hpp"
#include "digitcam/train/metrics.hpp"
#include "digitcam/train/mnist.hpp"
#include "digitcam/train/report.hpp"
#include "digitcam/vision/classifier.hpp"
#include "digitcam/vision/normalizer.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;

}  // namespace

int eval_command(const Arguments& args) {
  std::string model = default_model_path().string(), engine_name = "native", mnist, images,
              digits_png, report;
  int threads = 0;
  std::size_t limit = 0;
  float temperature = 1.0f;
  bool json = false;
  po::options_description options("options");
  options.add_options()("model,m", po::value(&model)->default_value(model),
                        "ONNX model to evaluate")(
      "engine", po::value(&engine_name)->default_value(engine_name), "native or opencv")(
      "mnist", po::value(&mnist), "MNIST folder: evaluate on its test set (the default)")(
      "images", po::value(&images), "labelled image folder: one subfolder per digit")(
      "digits-png", po::value(&digits_png), "OpenCV's digits.png sheet (5000 digits, 20x20)")(
      "limit", po::value(&limit)->default_value(0), "first N test images only (0: all)")(
      "json", po::bool_switch(&json), "print one JSON object instead of a table")(
      "temperature", po::value(&temperature)->default_value(temperature),
      "softmax temperature of the confidences (1: the model's own; calibration/default.yml "
      "holds the fitted one)")(
      "report", po::value(&report),
      "folder for the report: sample, gallery, confusion and reliability PNGs, report.html");
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
  const Evaluation evaluation = evaluate(*classifier, data, temperature);
  const train::Metrics& metrics = evaluation.metrics;
  std::vector<float> confidences;
  std::vector<bool> correct;
  for (const auto& s : evaluation.samples) {
    confidences.push_back(s.confidence);
    correct.push_back(s.truth == s.predicted);
  }
  const double ece = train::expected_calibration_error(confidences, correct);
  if (json) {
    // metrics' own object, with the calibration error added as one more key.
    std::string object = train::to_json(metrics);
    object.pop_back();
    std::cout << object << ", \"ece\": " << ece << "}\n";
  } else {
    std::cout << "model " << model << " on " << source << " (" << classifier->name() << " engine)\n"
              << train::to_table(metrics) << "expected calibration error (15 bins): " << ece
              << '\n';
  }
  if (!report.empty()) {
    train::EvaluationReport pictures;
    pictures.title = fs::path(model).filename().string() + " on " + source + " (" +
                     classifier->name() + " engine)";
    if (temperature != 1.0f)
      pictures.figures.emplace_back("softmax temperature", std::to_string(temperature));
    pictures.metrics = metrics;
    pictures.samples = evaluation.samples;
    train::write_evaluation_report(report, pictures);
    std::cerr << "digitcam eval: report in "
              << (fs::path(report) / train::report_index_file).string() << '\n';
  }
  return 0;
}

}  // namespace digitcam::app
