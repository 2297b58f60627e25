// `digitcam bench`: the engine's speed beside OpenCV's dnn on the same ONNX file, same crops,
// same thread count. Each figure is the median of repeated timed runs after a warm-up.

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/commands.hpp"
#include "digitcam/app/options.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/app/pipeline.hpp"
#include "digitcam/app/sinks.hpp"
#include "digitcam/app/sources.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/train/mnist.hpp"
#include "digitcam/vision/classifier.hpp"

namespace digitcam::app {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchSettings {
  int warmup = 50;     // untimed calls before measuring, so caches and buffers are settled
  int repeats = 15;    // timed runs; the median is reported
  int b1_calls = 200;  // batch-1 calls per timed run
  int b64_calls = 20;  // batch-64 calls per timed run
};

double median(std::vector<double> v) {
  return percentile(std::move(v), 50);
}

struct EngineTimes {
  double native, opencv;  // median seconds per call
};

// Median seconds per call of `calls` back-to-back classifications of batch by each engine. The
// two engines' timed runs are taken turn about, so a change in the machine's load (which moves
// either engine's time by a third within minutes here) touches both alike.
EngineTimes seconds_per_call(vision::Classifier& native, vision::Classifier& opencv,
                             const engine::Tensor& batch, const BenchSettings& s, int calls) {
  engine::Tensor logits;
  for (int i = 0; i < s.warmup; ++i) {
    native.logits(batch, logits);
    opencv.logits(batch, logits);
  }
  const auto timed_run = [&](vision::Classifier& classifier) {
    const auto start = Clock::now();
    for (int i = 0; i < calls; ++i) classifier.logits(batch, logits);
    return std::chrono::duration<double>(Clock::now() - start).count() / calls;
  };
  std::vector<double> native_runs, opencv_runs;
  for (int r = 0; r < s.repeats; ++r) {
    native_runs.push_back(timed_run(native));
    opencv_runs.push_back(timed_run(opencv));
  }
  return {median(native_runs), median(opencv_runs)};
}

// Real MNIST test digits when the data is there, else seeded noise of the same shape.
engine::Tensor bench_crops(int count) {
  engine::Tensor batch({count, 1, 28, 28});
  const auto folder = resource_paths().mnist;
  try {
    const auto test =
        train::load_mnist(folder, train::Split::test, static_cast<std::size_t>(count));
    std::vector<std::size_t> ids(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = i;
    train::fill_batch(test, ids, batch);
  } catch (const IoError&) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (float& v : batch.values()) v = u(rng);
  }
  return batch;
}

// The sample video decoded into memory, and decode_fps: how fast the file merely decodes, from
// opening it to its last frame read into one reused image, as `ffmpeg -f null` would (median of
// runs). Timing read() alone while copies were made between the calls overstated it by about
// 1.6x: FFmpeg's decoding threads went on working during the untimed copies.
struct DecodedVideo {
  std::vector<cv::Mat> frames;
  double decode_fps = 0;
};

DecodedVideo decode_video(const std::string& path, int repeats) {
  const auto open = [&] {
    cv::VideoCapture capture(path, cv::CAP_FFMPEG);
    if (!capture.isOpened()) throw SourceError("bench: cannot open video " + path);
    return capture;
  };
  DecodedVideo video;
  {
    cv::VideoCapture capture = open();
    for (cv::Mat frame; capture.read(frame);) video.frames.push_back(frame.clone());
  }
  if (video.frames.empty()) throw SourceError("bench: video " + path + " has no frames");
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    cv::VideoCapture capture = open();
    std::size_t frames = 0;
    for (cv::Mat frame; capture.read(frame);) ++frames;
    rates.push_back(static_cast<double>(frames) /
                    std::chrono::duration<double>(Clock::now() - start).count());
  }
  video.decode_fps = median(rates);
  return video;
}

// The recognizer alone on frames already in memory (medians of runs; each kind's first pass
// warms up and is not counted):
//   in_order_fps: as `run` reads a file, one frame in flight per thread, results in order;
//   one_at_a_time_fps and latencies_ms (every timed frame's): as `run` reads a live source,
//   the newest frame only, one at a time.
struct PipelineRate {
  double in_order_fps = 0;
  double one_at_a_time_fps = 0;
  std::vector<double> latencies_ms;
};

PipelineRate time_pipeline(vision::Classifier& classifier,
                           const Pipeline::ClassifierFactory& make_classifier, int in_flight,
                           const std::vector<cv::Mat>& frames, int repeats) {
  PipelineRate rate;
  std::vector<double> one_at_a_time, in_order;
  const auto frames_per_second = [&](Clock::time_point start) {
    return static_cast<double>(frames.size()) /
           std::chrono::duration<double>(Clock::now() - start).count();
  };
  // Kept across the passes, so its side analysers' classifiers are loaded in the warm-up pass.
  Pipeline in_order_pipeline(classifier, load_calibration(default_calibration_path()));
  for (int r = 0; r < repeats + 1; ++r) {
    Pipeline pipeline(classifier, load_calibration(default_calibration_path()));
    auto start = Clock::now();
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto frame_start = Clock::now();
      pipeline.process(frames[i], static_cast<std::int64_t>(i), 0.0);
      if (r > 0) {
        rate.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - frame_start).count());
      }
    }
    if (r > 0) one_at_a_time.push_back(frames_per_second(start));

    std::size_t next = 0;
    start = Clock::now();
    in_order_pipeline.process_in_order(
        [&](Frame& f) {
          if (next == frames.size()) return false;
          f.image = frames[next];
          f.index = static_cast<std::int64_t>(next++);
          return true;
        },
        [](const Frame&, FrameResult&&) {}, make_classifier, in_flight);
    if (r > 0) in_order.push_back(frames_per_second(start));
  }
  rate.one_at_a_time_fps = median(one_at_a_time);
  rate.in_order_fps = median(in_order);
  return rate;
}

// `run`'s whole path for a video file, timed from opening the file to the last JSON line: the
// file decoded a few frames ahead on its own thread (Prefetcher), recognized in order a frame per
// thread, each result written as a JSON line (to /dev/null, so no disk is timed). Frames/s,
// median of runs after an untimed first one. Both sides of the 0.8x-of-decode target are this
// and decode_fps.
double time_end_to_end(vision::Classifier& classifier,
                       const Pipeline::ClassifierFactory& make_classifier, int in_flight,
                       const std::string& video, int repeats) {
  Pipeline pipeline(classifier, load_calibration(default_calibration_path()));
  JsonLinesWriter json("/dev/null");
  std::vector<double> rates;
  for (int r = 0; r < repeats + 1; ++r) {
    pipeline.reset_tracks();
    std::int64_t frames = 0;
    const auto start = Clock::now();
    const std::unique_ptr<Source> source = open_source(video);
    Prefetcher prefetch(*source);
    pipeline.process_in_order([&](Frame& f) { return prefetch.next(f); },
                              [&](const Frame&, FrameResult&& result) {
                                json.write(result);
                                ++frames;
                              },
                              make_classifier, in_flight);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (r > 0) rates.push_back(static_cast<double>(frames) / seconds);
  }
  return median(rates);
}

// Resident memory of this process, in KiB (Linux: /proc/self/statm).
long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// A long run on the video looped, as a stand-in for a stream left running: the resident memory
// after the first pass (buffers grown, tracker settled) and at the end.
struct Soak {
  std::int64_t frames = 0;
  long first_pass_kib = 0;
  long end_kib = 0;
};

Soak soak_pipeline(vision::Classifier& classifier, const std::vector<cv::Mat>& frames,
                   std::int64_t total) {
  Soak soak;
  Pipeline pipeline(classifier, load_calibration(default_calibration_path()));
  for (std::int64_t i = 0; i < total; ++i) {
    const auto at = static_cast<std::size_t>(i) % frames.size();
    pipeline.process(frames[at], i, 0.0);
    if (i + 1 == static_cast<std::int64_t>(frames.size())) soak.first_pass_kib = resident_kib();
  }
  soak.frames = total;
  soak.end_kib = resident_kib();
  return soak;
}

std::vector<cv::Mat> scaled(const std::vector<cv::Mat>& frames, cv::Size size) {
  std::vector<cv::Mat> out(frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i)
    cv::resize(frames[i], out[i], size, 0, 0, cv::INTER_LINEAR);
  return out;
}

}  // namespace

int bench_command(const Arguments& args) {
  std::string model = default_model_path().string();
  std::string video = (resource_paths().samples / "demo.avi").string();
  int threads = 0;
  bool json = false, quick = false;
  std::int64_t soak_frames = 10000;
  po::options_description options("options");
  options.add_options()("model,m", po::value(&model)->default_value(model), "ONNX model to time")(
      "soak-frames", po::value(&soak_frames)->default_value(soak_frames),
      "frames of the looped video for the memory figure")(
      "quick", po::bool_switch(&quick), "fewer repeats (for smoke tests; figures are noisier)")(
      "json", po::bool_switch(&json), "print one JSON object");
  add_threads_option(options, threads);
  po::variables_map values;
  if (!parse_options("bench",
                     "Batch-1 latency and batch-64 throughput of this engine and of "
                     "OpenCV's dnn on the same model and crops.",
                     options, args, values)) {
    return 0;
  }
  engine::ThreadBudget budget(threads);
  cv::setNumThreads(budget.threads());
  BenchSettings s;
  if (quick) s = {5, 3, 20, 3};

  auto native = vision::make_classifier(vision::EngineKind::native, model);
  auto opencv = vision::make_classifier(vision::EngineKind::opencv, model);
  const engine::Tensor one = bench_crops(1), batch64 = bench_crops(64);
  const EngineTimes b1 = seconds_per_call(*native, *opencv, one, s, s.b1_calls);
  const EngineTimes b64 = seconds_per_call(*native, *opencv, batch64, s, s.b64_calls);

  const int video_repeats = quick ? 1 : 5;
  const DecodedVideo decoded = decode_video(video, video_repeats);
  const auto make_native = [&] {
    return vision::make_classifier(vision::EngineKind::native, model);
  };
  const PipelineRate at_640 =
      time_pipeline(*native, make_native, budget.threads(), decoded.frames, video_repeats);
  const PipelineRate at_720 = time_pipeline(*native, make_native, budget.threads(),
                                            scaled(decoded.frames, {1280, 720}), video_repeats);
  const double end_to_end_fps =
      time_end_to_end(*native, make_native, budget.threads(), video, video_repeats);
  // The slower of decoding and recognizing bounds what overlapping them can give.
  const double limit_fps = std::min(decoded.decode_fps, at_640.in_order_fps);

  const Soak soak =
      soak_pipeline(*native, decoded.frames,
                    std::max<std::int64_t>(quick ? 400 : soak_frames,
                                           2 * static_cast<std::int64_t>(decoded.frames.size())));

  const double native_b1_us = b1.native * 1e6, opencv_b1_us = b1.opencv * 1e6;
  const double native_b64_per_s = 64.0 / b64.native, opencv_b64_per_s = 64.0 / b64.opencv;
  char text[2048];
  if (json) {
    std::snprintf(text, sizeof text,
                  "{\"model\": \"%s\", \"threads\": %d, \"native_b1_us\": %.2f, "
                  "\"opencv_b1_us\": %.2f, \"b1_latency_ratio\": %.3f, \"native_b64_per_s\": %.0f, "
                  "\"opencv_b64_per_s\": %.0f, \"b64_throughput_ratio\": %.3f, "
                  "\"video\": \"%s\", \"decode_fps\": %.1f, \"pipeline_fps\": %.1f, "
                  "\"pipeline_live_fps\": %.1f, \"pipeline_p99_ms\": %.2f, "
                  "\"pipeline_720p_fps\": %.1f, \"pipeline_720p_live_fps\": %.1f, "
                  "\"pipeline_720p_p99_ms\": %.2f, \"end_to_end_fps\": %.1f, "
                  "\"end_to_end_vs_decode\": %.3f, \"end_to_end_vs_slower_stage\": %.3f, "
                  "\"soak_frames\": %lld, "
                  "\"soak_rss_first_pass_kib\": %ld, \"soak_rss_end_kib\": %ld}\n",
                  model.c_str(), budget.threads(), native_b1_us, opencv_b1_us,
                  native_b1_us / opencv_b1_us, native_b64_per_s, opencv_b64_per_s,
                  native_b64_per_s / opencv_b64_per_s, video.c_str(), decoded.decode_fps,
                  at_640.in_order_fps, at_640.one_at_a_time_fps,
                  percentile(at_640.latencies_ms, 99), at_720.in_order_fps,
                  at_720.one_at_a_time_fps, percentile(at_720.latencies_ms, 99), end_to_end_fps,
                  end_to_end_fps / decoded.decode_fps, end_to_end_fps / limit_fps,
                  static_cast<long long>(soak.frames), soak.first_pass_kib, soak.end_kib);
  } else {
    std::snprintf(text, sizeof text,
                  "model %s, %d threads, medians of %d runs\n"
                  "                     native     opencv     ratio\n"
                  "batch-1 latency   %8.1f us %8.1f us   %.2fx (lower is better)\n"
                  "batch-64 rate     %8.0f /s %8.0f /s   %.2fx (higher is better)\n"
                  "video %s: decodes at %.1f frames/s\n"
                  "pipeline (frames in memory), 640x480: %.1f frames/s in order (as for files), "
                  "%.1f frames/s one at a time (as for live sources), p99 latency %.2f ms\n"
                  "pipeline (frames in memory), 1280x720: %.1f frames/s in order, %.1f frames/s "
                  "one at a time, p99 latency %.2f ms\n"
                  "end to end (decode ahead + recognize + JSON lines), 640x480: %.1f frames/s, "
                  "%.3fx the decoding alone, %.3fx the slower of decoding and recognizing\n"
                  "memory over %lld frames of the video looped: %ld KiB resident after the first "
                  "pass, %ld KiB at the end\n",
                  model.c_str(), budget.threads(), s.repeats, native_b1_us, opencv_b1_us,
                  native_b1_us / opencv_b1_us, native_b64_per_s, opencv_b64_per_s,
                  native_b64_per_s / opencv_b64_per_s, video.c_str(), decoded.decode_fps,
                  at_640.in_order_fps, at_640.one_at_a_time_fps,
                  percentile(at_640.latencies_ms, 99), at_720.in_order_fps,
                  at_720.one_at_a_time_fps, percentile(at_720.latencies_ms, 99), end_to_end_fps,
                  end_to_end_fps / decoded.decode_fps, end_to_end_fps / limit_fps,
                  static_cast<long long>(soak.frames), soak.first_pass_kib, soak.end_kib);
  }
  std::cout << text;
  return 0;
}

}  // namespace digitcam::app
