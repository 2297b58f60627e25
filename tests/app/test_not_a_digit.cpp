// Confidence that means what it says, measured on real camera-path crops: the committed model
// with the committed calibration (temperature from calibration/default.yml) on the samples'
// digits, each read as the pipeline reads it (segmenter -> normaliser -> classifier), before
// tracking smooths anything.

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/pipeline.hpp"
#include "digitcam/app/truth.hpp"
#include "digitcam/train/confidence.hpp"
#include "digitcam/vision/classifier.hpp"
#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

namespace fs = std::filesystem;
using namespace digitcam;

namespace {

// Issue #5's bound on the samples' crops (MNIST's own, 2%, is checked by `digitcam train`).
constexpr double max_samples_ece = 0.05;
constexpr double min_iou = app::TruthScore::min_iou;

double iou(const cv::Rect& a, const cv::Rect& b) {
  const double inter = (a & b).area();
  return inter / (a.area() + b.area() - inter);
}

struct Reliability {
  std::vector<float> confidence;
  std::vector<bool> correct;
};

// For every true digit the segmenter found a candidate for (IoU >= 0.3): the top-1 class over
// all the model's classes at `temperature`, its probability, and whether it is the true digit.
void collect(app::Pipeline& pipeline, const cv::Mat& frame, const app::TruthFrame& truth,
             Reliability& out) {
  pipeline.process(frame, truth.frame, 0.0);
  const auto& candidates = pipeline.segmentation().candidates;
  const auto& predictions = pipeline.predictions();
  for (const app::TruthDigit& digit : truth.digits) {
    double best = min_iou;
    int found = -1;
    for (std::size_t i = 0; i < candidates.size() && i < predictions.size(); ++i) {
      const double overlap = iou(candidates[i].box, digit.box);
      if (overlap >= best) {
        best = overlap;
        found = static_cast<int>(i);
      }
    }
    if (found < 0) continue;
    const vision::Prediction& p = predictions[static_cast<std::size_t>(found)];
    out.confidence.push_back(p.confidence);
    out.correct.push_back(p.label == digit.label);
  }
}

Reliability samples_reliability(float temperature) {
  const fs::path root = test::source_dir();
  auto classifier =
      vision::make_classifier(vision::EngineKind::native, root / "models" / "digits.onnx");
  app::PipelineSettings settings = app::load_calibration(root / "calibration" / "default.yml");
  settings.decision.temperature = temperature;
  Reliability out;
  {
    app::Pipeline pipeline(*classifier, settings);
    const auto truth = app::load_truth(root / "samples" / "demo.truth.jsonl");
    cv::VideoCapture video((root / "samples" / "demo.avi").string());
    REQUIRE(video.isOpened());
    cv::Mat frame;
    for (std::int64_t index = 0; video.read(frame); ++index) {
      const auto t = truth.find(index);
      if (t != truth.end()) collect(pipeline, frame, t->second, out);
    }
  }
  for (const auto& entry : fs::directory_iterator(root / "samples" / "stills")) {
    if (entry.path().extension() != ".png") continue;
    const auto truth = app::load_truth(fs::path(entry.path()).replace_extension(".truth.json"));
    app::Pipeline pipeline(*classifier, settings);
    const cv::Mat still = cv::imread(entry.path().string(), cv::IMREAD_COLOR);
    REQUIRE(!still.empty());
    for (const auto& [index, frame_truth] : truth) collect(pipeline, still, frame_truth, out);
  }
  return out;
}

}  // namespace

TEST_CASE("not a digit: the calibrated confidence on the samples' crops is within 5% ECE") {
  const fs::path root = test::source_dir();
  const float temperature =
      app::load_calibration(root / "calibration" / "default.yml").decision.temperature;
  const Reliability calibrated = samples_reliability(temperature);
  const Reliability raw = samples_reliability(1.0f);
  REQUIRE(calibrated.confidence.size() > 1000);  // demo.avi alone has 2,000 true digits
  const double ece = train::expected_calibration_error(calibrated.confidence, calibrated.correct);
  const double ece_raw = train::expected_calibration_error(raw.confidence, raw.correct);
  MESSAGE("samples' crops: ", calibrated.confidence.size(), " digits, ECE ", ece, " at T ",
          temperature, " (", ece_raw, " at T 1)");
  CHECK(ece <= max_samples_ece);
}

TEST_CASE("not a digit: train writes an 11-class model and its temperature into the calibration") {
  if (!test::have_mnist()) {
    MESSAGE("MNIST absent (run tools/setup.sh): skipped");
    return;
  }
  test::TempFolder folder("neg-train");
  const fs::path model = folder / "small.onnx", calibration = folder / "mine.yml";
  fs::copy_file(test::source_dir() / "calibration" / "default.yml", calibration);
  const std::string before = test::slurp(calibration);
  const auto r = test::run_digitcam(
      "train --limit 1200 --epochs 1 --batch 32 --augment none --threads 2 --output '" +
      model.string() + "' --calibration '" + calibration.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("not-a-digit examples: training scene") != std::string::npos);
  CHECK(vision::make_classifier(vision::EngineKind::opencv, model)->classes() == 11);

  // The card and the calibration file carry the same temperature and threshold.
  const std::string card = test::slurp(folder / "small.json");
  std::smatch t, threshold;
  REQUIRE_MESSAGE(std::regex_search(card, t, std::regex("\"temperature\": ([0-9.e+-]+)")), card);
  REQUIRE(std::regex_search(card, threshold, std::regex("\"reject_threshold\": ([0-9.e+-]+)")));
  for (const char* key : {"\"ece_test_before\"", "\"ece_test_after\"",
                          "\"test_called_not_a_digit\"", "\"held_out_negatives_rejected\""}) {
    CHECK_MESSAGE(card.find(key) != std::string::npos, "model card lacks " << key);
  }
  const app::PipelineSettings settings = app::load_calibration(calibration);
  CHECK(settings.decision.temperature == doctest::Approx(std::stod(t[1])).epsilon(1e-3));
  CHECK(settings.decision.reject_threshold ==
        doctest::Approx(std::stod(threshold[1])).epsilon(1e-3));
  // Every other line (comments, other sections) is left as it was.
  const std::string after = test::slurp(calibration);
  const auto other_lines = [](const std::string& text) {
    std::string kept;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("temperature:") == std::string::npos &&
          line.find("reject_threshold:") == std::string::npos)
        kept += line + '\n';
    }
    return kept;
  };
  CHECK(other_lines(after) == other_lines(before));
}
