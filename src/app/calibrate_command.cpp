// `digitcam calibrate SOURCE --name NAME`: fits the segmentation settings to a scene (polarity,
// digit size, stroke width, threshold) from a few seconds of the user's own writing, writes them
// with the rest of the starting calibration to calibration/NAME.yml (or --output), and prints
// each value it chose and why. The fit itself is vision::estimate_scene.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include <opencv2/core/utility.hpp>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/cli.hpp"
#include "digitcam/app/commands.hpp"
#include "digitcam/app/options.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/app/sources.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/vision/scene.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Frames the fit looks at, spread evenly over the clip: enough to see the digits at several
// positions and under the clip's light, few enough that the fit (a dozen segmentations of each
// frame) takes seconds.
constexpr std::size_t max_fit_frames = 24;
constexpr double default_seconds = 3.0;
constexpr double max_seconds = 600.0;

struct CalibrateOptions {
  std::string source;
  std::string name;
  std::string output;
  std::string calibration;  // starting settings
  std::string model;
  std::string engine = "native";
  double seconds = default_seconds;
  int threads = 0;
  bool quiet = false;
};

// The first `seconds` of the source (video time for files, wall time for live sources; every
// image of an image or folder source), thinned to at most max_fit_frames spread evenly.
std::vector<cv::Mat> collect_frames(Source& source, double seconds) {
  std::vector<cv::Mat> frames;
  const double fps = source.fps();
  // Files with a known rate are thinned while reading, so long clips at high resolution do not
  // pile up in memory; the evenly spread pick below does the rest.
  const double expected = fps > 0 ? fps * seconds : 0.0;
  const auto stride = static_cast<std::int64_t>(
      std::max(1.0, std::floor(expected / static_cast<double>(max_fit_frames))));
  const Clock::time_point start = Clock::now();
  Frame frame;
  std::int64_t seen = 0;
  while (source.read(frame)) {
    const bool image = !frame.name.empty();
    const double elapsed = source.live()
                               ? std::chrono::duration<double>(Clock::now() - start).count()
                               : frame.time_ms / 1000.0;
    if (!image && elapsed >= seconds) break;
    if (image || seen++ % stride == 0) frames.push_back(frame.image);
  }
  source.stop();
  if (frames.size() <= max_fit_frames) return frames;
  std::vector<cv::Mat> picked;
  for (std::size_t i = 0; i < max_fit_frames; ++i) {
    picked.push_back(frames[i * frames.size() / max_fit_frames]);
  }
  return picked;
}

int calibrate(const CalibrateOptions& o) {
  if (o.name.empty() && o.output.empty()) {
    throw UsageError("calibrate needs --name NAME (writes calibration/NAME.yml) or --output FILE");
  }
  if (!(o.seconds > 0 && o.seconds <= max_seconds)) {
    throw UsageError("--seconds must be above 0 and at most 600");
  }
  const fs::path output = o.output.empty() ? named_calibration_path(o.name) : fs::path(o.output);
  engine::ThreadBudget budget(o.threads);
  cv::setNumThreads(budget.threads());
  PipelineSettings settings = settings_from_calibration(o.calibration, std::cerr);
  const std::string model = o.model.empty() ? default_model_path().string() : o.model;
  auto classifier = vision::make_classifier(vision::parse_engine_kind(o.engine), model);

  std::unique_ptr<Source> source = open_source(o.source);
  if (!o.quiet) {
    std::cerr << "digitcam: calibrating on " << source->describe() << " (" << o.seconds << " s)\n";
  }
  const std::vector<cv::Mat> frames = collect_frames(*source, o.seconds);
  if (frames.empty()) throw SourceError(source->describe() + " gave no frame");

  vision::SceneOptions scene;
  scene.start = settings.segmenter;
  scene.match_stroke_width = settings.match_stroke_width;
  scene.temperature = settings.decision.temperature;
  const vision::SceneEstimate e = vision::estimate_scene(frames, *classifier, scene);
  if (e.choices.empty()) {
    throw SourceError(source->describe() + ": " + e.verdict +
                      "; film the digits larger, sharper or for longer (--seconds), or keep "
                      "using the default calibration");
  }
  const std::string seen = std::to_string(e.frames) + (e.frames == 1 ? " frame" : " frames");
  std::cout << "calibration of " << source->describe() << " from " << seen << ":\n";
  for (const vision::SceneChoice& c : e.choices) {
    std::cout << "  " << c.key << ": " << c.value << "\n      " << c.reason << '\n';
  }
  std::cout << e.verdict << '\n';
  settings.segmenter = e.options;
  // The file says where its values came from; the other sections are the starting file's.
  std::vector<std::string> comments{
      "Made by digitcam calibrate from " + source->describe() + " (" + seen + "); " + e.verdict +
          ".",
      e.fitted ? "Why each segmentation value (calibration/default.yml says what each key means):"
               : "The fitted values, not kept (the segmentation section is the starting one):"};
  for (const vision::SceneChoice& c : e.choices) {
    comments.push_back("  " + c.key + " = " + c.value + ": " + c.reason);
  }
  fs::create_directories(output.has_parent_path() ? output.parent_path() : fs::path("."));
  save_calibration(settings, output, comments);
  std::cout << "wrote " << output.string() << " (use it with: digitcam run SOURCE --calibration "
            << (o.output.empty() ? o.name : output.string()) << ")\n";
  return exit_code::ok;
}

}  // namespace

int calibrate_command(const Arguments& args) {
  CalibrateOptions o;
  po::options_description options("options");
  options.add_options()("source", po::value(&o.source),
                        "camera index, video, image, folder, URL or GStreamer pipeline showing "
                        "the user's own writing")(
      "name", po::value(&o.name), "write calibration/NAME.yml (use it with --calibration NAME)")(
      "output,o", po::value(&o.output), "write this file instead")(
      "seconds", po::value(&o.seconds)->default_value(default_seconds),
      "how much of a video or camera to watch")(
      "calibration", po::value(&o.calibration),
      "starting settings, NAME or file (default: calibration/default.yml); the fitted ones "
      "replace its segmentation section")("model,m", po::value(&o.model),
                                          "ONNX model (default: the bundled models/digits.onnx)")(
      "engine", po::value(&o.engine)->default_value(o.engine), "native or opencv")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress on stderr");
  add_threads_option(options, o.threads);
  po::positional_options_description positional;
  positional.add("source", 1);
  po::variables_map values;
  if (!parse_options("calibrate",
                     "Fits the segmentation settings (polarity, digit size, stroke width, "
                     "threshold) to a scene\nfrom a few seconds of its digits, and writes them "
                     "as a calibration file.",
                     options, args, values, &positional)) {
    return exit_code::ok;
  }
  if (o.source.empty()) {
    throw UsageError(
        "calibrate needs a SOURCE showing digits: 'digitcam calibrate SOURCE --name "
        "NAME'");
  }
  return calibrate(o);
}

}  // namespace digitcam::app
