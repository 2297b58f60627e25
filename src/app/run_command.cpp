// `digitcam run [SOURCE]` (also bare `digitcam [SOURCE]`): live or recorded recognition.
// The main thread reads frames, runs the pipeline (whose batch work is TBB-parallel) and owns the
// window; a live source's own capture thread keeps only the newest frame, and a file source is
// decoded a few frames ahead on a prefetch thread (Prefetcher) so decoding and recognition overlap.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/cli.hpp"
#include "digitcam/app/commands.hpp"
#include "digitcam/app/options.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/app/pipeline.hpp"
#include "digitcam/app/sinks.hpp"
#include "digitcam/app/sources.hpp"
#include "digitcam/app/truth.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/vision/overlay.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Window and keys.
constexpr const char* window_title = "digitcam";
constexpr float threshold_step = 0.05f;  // + and - move the reject threshold by this
constexpr int key_escape = 27;
constexpr int paused_poll_ms = 30;  // waitKey timeout while paused
// Name of the bundled sample video the default run falls back to.
constexpr const char* sample_video = "demo.avi";
// A photo smaller than this (shorter side, px) is enlarged by a whole factor before boxes and
// labels are drawn on it, so a 28x28 digit or a thumbnail is shown and saved readably.
constexpr int photo_min_side = 480;

// SIGINT and SIGTERM only set this flag; the loop checks it between frames and ends cleanly.
// A signal handler can reach nothing but a static of this type, hence the one piece of static
// state in the program.
volatile std::sig_atomic_t stop_requested = 0;
extern "C" void request_stop(int) {
  stop_requested = 1;
}

class SignalGuard {
 public:
  SignalGuard() {
    stop_requested = 0;
    previous_int_ = std::signal(SIGINT, request_stop);
    previous_term_ = std::signal(SIGTERM, request_stop);
  }
  ~SignalGuard() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

struct RunOptions {
  std::string source;
  std::string model;
  std::string engine = "native";
  std::string calibration;
  std::string polarity;
  std::string json;
  std::string csv;
  std::string output;
  std::string truth;
  float reject = -1.0f;  // < 0: the calibration's
  bool keep_rejected = false;
  bool headless = false;
  bool show = false;
  bool realtime = false;
  bool quiet = false;
  std::int64_t max_frames = 0;
  int threads = 0;
  SourceOptions source_options;
};

bool display_available() {
  const char* x = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  return (x != nullptr && *x != '\0') || (wayland != nullptr && *wayland != '\0');
}

PipelineSettings settings_for(const RunOptions& o) {
  PipelineSettings settings = settings_from_calibration(o.calibration, std::cerr);
  if (!o.polarity.empty()) settings.segmenter.polarity = parse_polarity(o.polarity);
  if (o.reject >= 0.0f) {
    if (o.reject > 1.0f) throw UsageError("--reject must be between 0 and 1");
    settings.decision.reject_threshold = o.reject;
  }
  settings.decision.keep_rejected = o.keep_rejected;
  return settings;
}

// Camera 0 when one opens, else the bundled sample video.
std::unique_ptr<Source> open_default_source(const SourceOptions& options, bool quiet) {
  try {
    return open_source("0", options);
  } catch (const SourceError& e) {
    const fs::path sample = resource_paths().samples / sample_video;
    if (!quiet)
      std::cerr << "digitcam: no camera (" << e.what() << "); playing " << sample.string() << '\n';
    return open_source(sample.string(), options);
  }
}

std::string percent(float confidence) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * confidence);
  return text;
}

// "photo.png: 7 (98.1%)" for one digit; "sheet.png: 407 12 (6 digits)" for several.
std::string photo_line(const FrameResult& r) {
  std::string line = r.name + ": ";
  std::vector<const vision::Detection*> read;
  for (const auto& d : r.digits) {
    if (d.label >= 0) read.push_back(&d);
  }
  if (read.empty()) return line + "no digit";
  if (read.size() == 1) {
    return line + std::to_string(read[0]->label) + " (" + percent(read[0]->confidence) + ")";
  }
  for (std::size_t i = 0; i < r.numbers.size(); ++i) line += (i ? " " : "") + r.numbers[i].value;
  return line + " (" + std::to_string(read.size()) + " digits)";
}

// "538 7456 785", or "-" when nothing is read.
std::string numbers_line(const FrameResult& r) {
  std::string line;
  for (const auto& n : r.numbers) line += (line.empty() ? "" : " ") + n.value;
  return line.empty() ? "-" : line;
}

// "frame 12 (0.480 s): "
std::string time_label(const FrameResult& r) {
  char text[64];
  std::snprintf(text, sizeof text, "frame %lld (%.3f s): ", static_cast<long long>(r.frame),
                r.time_ms / 1000.0);
  return text;
}

// A CSV field's quotes doubled (RFC 4180), for file names that hold them.
std::string csv_escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out;
}

class CsvWriter {
 public:
  explicit CsvWriter(const std::string& path) : path_(path), out_(path, std::ios::trunc) {
    if (!out_) throw IoError("cannot write " + path + "; check the folder exists and is writable");
    out_ << "file,frame,label,confidence,x,y,w,h\n";
  }
  void write(const FrameResult& r) {
    for (const auto& d : r.digits) {
      out_ << '"' << csv_escaped(r.name) << "\"," << r.frame << ',' << d.label << ','
           << d.confidence << ',' << d.box.x << ',' << d.box.y << ',' << d.box.width << ','
           << d.box.height << '\n';
    }
    out_.flush();
    if (!out_) throw IoError("writing " + path_ + " failed (disk full?)");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

// The frame as BGR to draw on, a photo enlarged to photo_min_side, with the boxes and numbers
// of result (scaled along) drawn on it.
cv::Mat annotated(const cv::Mat& image, const FrameResult& result, bool photo) {
  cv::Mat canvas;
  if (image.channels() == 3) {
    canvas = image.clone();
  } else {
    cv::cvtColor(image, canvas, image.channels() == 4 ? cv::COLOR_BGRA2BGR : cv::COLOR_GRAY2BGR);
  }
  const int side = std::min(canvas.cols, canvas.rows);
  const int factor =
      photo && side > 0 && side < photo_min_side ? (photo_min_side + side - 1) / side : 1;
  if (factor == 1) {
    vision::draw_detections(canvas, result.digits, result.numbers);
    return canvas;
  }
  // Whole factors with nearest-neighbour keep a small digit's pixels sharp.
  cv::resize(canvas, canvas, {}, factor, factor, cv::INTER_NEAREST);
  const auto enlarge = [&](cv::Rect r) {
    return cv::Rect(r.x * factor, r.y * factor, r.width * factor, r.height * factor);
  };
  std::vector<vision::Detection> digits = result.digits;
  for (auto& d : digits) d.box = enlarge(d.box);
  std::vector<vision::Number> numbers = result.numbers;
  for (auto& n : numbers) n.box = enlarge(n.box);
  vision::draw_detections(canvas, digits, numbers);
  return canvas;
}

std::vector<int> labels_of_crops(const Pipeline& pipeline) {
  std::vector<int> labels;
  for (const auto& p : pipeline.predictions()) labels.push_back(p.label);
  return labels;
}

int run_recognizer(const RunOptions& o) {
  engine::ThreadBudget budget(o.threads);
  cv::setNumThreads(budget.threads());
  PipelineSettings settings = settings_for(o);
  const std::string model = o.model.empty() ? default_model_path().string() : o.model;
  auto classifier = vision::make_classifier(vision::parse_engine_kind(o.engine), model);
  Pipeline pipeline(*classifier, settings);

  // The annotated output opens at the first frame (it takes the frame's size); whether it can be
  // written at all is known now, before the source opens and any other output is created.
  if (!o.output.empty()) AnnotatedVideoWriter::check_path(o.output);

  SourceOptions source_options = o.source_options;
  source_options.realtime = o.realtime;
  std::unique_ptr<Source> source = o.source.empty() ? open_default_source(source_options, o.quiet)
                                                    : open_source(o.source, source_options);
  const bool window = o.show || (!o.headless && display_available());
  if (!o.quiet) std::cerr << "digitcam: reading " << source->describe() << '\n';

  std::optional<JsonLinesWriter> json;
  if (!o.json.empty()) json.emplace(o.json);
  std::optional<CsvWriter> csv;
  if (!o.csv.empty()) csv.emplace(o.csv);
  std::optional<AnnotatedVideoWriter> video;
  RunSummary summary;
  std::map<std::int64_t, TruthFrame> truth;
  if (!o.truth.empty()) truth = load_truth(o.truth);
  TruthScore score;

  SignalGuard signals;
  std::optional<Prefetcher> prefetch;
  if (!source->live()) prefetch.emplace(*source);
  const auto next_frame = [&](Frame& f) { return prefetch ? prefetch->next(f) : source->read(f); };

  // Headless with nothing else asked for, a video prints what it reads whenever that changes.
  const bool print_changes = !window && o.json.empty() && o.csv.empty() && o.output.empty();
  std::string last_printed;
  bool paused = false, debug = false, quit = false;
  bool holding_photo = false;  // a photo is on screen, waiting for a key
  int snapshots = 0;
  Frame frame;
  cv::Mat canvas;
  std::int64_t processed = 0;
  // Every processed frame's result to the sinks, in frame order. The annotated picture is drawn
  // into canvas when a window or --output wants it.
  const auto deliver = [&](const Frame& f, const FrameResult& result) {
    const bool photo = !f.name.empty();
    ++processed;
    summary.add(result);
    if (!truth.empty()) {
      const auto t = truth.find(photo ? 0 : result.frame);
      score.add(result, t != truth.end() ? t->second : TruthFrame{result.frame, {}, {}});
    }
    if (json) json->write(result);
    if (csv) csv->write(result);
    if (photo && o.json != "-") std::cout << photo_line(result) << '\n' << std::flush;
    if (!photo && print_changes) {
      const std::string read = numbers_line(result);
      if (read != last_printed) std::cout << time_label(result) << read << '\n' << std::flush;
      last_printed = read;
    }
    if (window || !o.output.empty()) {
      canvas = annotated(f.image, result, photo);
      // What a photo was read as, in the HUD's larger type: a digit filling the picture has its
      // label squeezed into a corner.
      if (photo) vision::draw_hud(canvas, photo_line(result));
      if (!o.output.empty()) {
        if (!video)
          video.emplace(o.output, source->fps() > 0 ? source->fps() : 25.0, canvas.size());
        video->write(canvas);
      }
    }
  };
  const auto wanted_more = [&] {
    return stop_requested == 0 && (o.max_frames <= 0 || processed < o.max_frames);
  };

  const bool in_order = !window && !source->live() && !o.realtime;
  if (in_order) {
    // Files without a window: throughput is what counts, so several frames are analysed at once
    // (one per thread), each on its own classifier, and come out in order.
    std::int64_t entered = 0;
    pipeline.process_in_order(
        [&](Frame& f) {
          if (stop_requested != 0 || (o.max_frames > 0 && entered >= o.max_frames)) return false;
          if (!next_frame(f)) return false;
          ++entered;
          return true;
        },
        deliver,
        [&] { return vision::make_classifier(vision::parse_engine_kind(o.engine), model); },
        budget.threads());
  }

  if (window) cv::namedWindow(window_title, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);
  while (!in_order && !quit && wanted_more()) {
    if (!paused) {
      if (!next_frame(frame)) break;
      // Live frames age from their capture; file frames from the moment processing starts, so a
      // frame waiting in the decode-ahead queue does not count as latency.
      const Clock::time_point start = source->live() ? frame.captured : Clock::now();
      const bool photo = !frame.name.empty();
      if (photo) pipeline.reset_tracks();  // separate pictures share no tracks
      FrameResult result = photo ? pipeline.process_photo(frame.image, frame.index)
                                 : pipeline.process(frame.image, frame.index, frame.time_ms);
      result.name = frame.name;
      result.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      deliver(frame, result);
      if (window && photo) {
        // A photo stays on screen until a key: any key shows the next one, q quits.
        vision::draw_hud(canvas, photo_line(result) + "  (any key: next, q: quit)");
        paused = holding_photo = true;
      } else if (window) {
        char hud[160];
        std::snprintf(hud, sizeof hud, "%.1f fps  %.1f ms  reject < %.2f  (q d s + - space)",
                      summary.fps(), result.latency_ms,
                      pipeline.settings().decision.reject_threshold);
        vision::draw_hud(canvas, hud);
        if (debug) {
          vision::draw_debug_view(canvas, pipeline.segmentation().mask, pipeline.crops(),
                                  labels_of_crops(pipeline));
        }
      }
    }
    if (!window) continue;
    cv::imshow(window_title, canvas);
    const int key = cv::waitKey(paused ? paused_poll_ms : 1);
    // A photo held on screen waits for a key; closing its window must not leave it waiting.
    if (holding_photo && cv::getWindowProperty(window_title, cv::WND_PROP_VISIBLE) < 1) break;
    if (key < 0) continue;
    const int pressed = key & 0xff;
    if (holding_photo && pressed != 'q' && pressed != key_escape && pressed != 's') {
      paused = holding_photo = false;
      continue;
    }
    switch (pressed) {
      case 'q':
      case key_escape:
        quit = true;
        break;
      case ' ':
        paused = !paused;
        break;
      case 'd':
        debug = !debug;
        break;
      case 's': {
        const std::string name = "digitcam-snapshot-" + std::to_string(snapshots++) + ".png";
        if (cv::imwrite(name, canvas)) std::cerr << "digitcam: saved " << name << '\n';
        break;
      }
      case '+':
      case '=':
        pipeline.set_reject_threshold(
            std::min(1.0f, pipeline.settings().decision.reject_threshold + threshold_step));
        break;
      case '-':
        pipeline.set_reject_threshold(
            std::max(0.0f, pipeline.settings().decision.reject_threshold - threshold_step));
        break;
      default:
        break;
    }
  }
  if (window) cv::destroyAllWindows();
  source->stop();
  prefetch.reset();
  if (json) json->close();
  if (video) video->close();
  if (!source->warning().empty()) std::cerr << "digitcam: " << source->warning() << '\n';
  if (!o.quiet) std::cerr << "digitcam: " << summary.text() << '\n';
  if (!truth.empty()) std::cerr << "digitcam: " << score.text() << '\n';
  if (processed == 0 && stop_requested == 0) {
    throw SourceError(source->describe() + " gave no frame");
  }
  return stop_requested != 0 ? exit_code::interrupted : exit_code::ok;
}

}  // namespace

int run_command(const Arguments& args) {
  RunOptions o;
  po::options_description options("options");
  options.add_options()("source", po::value(&o.source),
                        "camera index, video, image, folder, URL or GStreamer pipeline (default: "
                        "camera 0, else the sample video)")(
      "model,m", po::value(&o.model), "ONNX model (default: the bundled models/digits.onnx)")(
      "engine", po::value(&o.engine)->default_value(o.engine), "native or opencv")(
      "calibration", po::value(&o.calibration),
      "calibration NAME (calibration/NAME.yml) or YAML file (default: calibration/default.yml)")(
      "polarity", po::value(&o.polarity),
      "ink: auto, dark (on light paper) or light (on a dark board)")(
      "reject", po::value(&o.reject), "confidence below which a blob is not a digit (0..1)")(
      "keep-rejected", po::bool_switch(&o.keep_rejected), "report rejected blobs with label -1")(
      "json", po::value(&o.json), "write JSON lines, one per frame, to a file or - (stdout)")(
      "csv", po::value(&o.csv), "write one CSV row per digit (file,frame,label,confidence,box)")(
      "truth", po::value(&o.truth),
      "ground truth (samples/README.md format): print the read rate at the end")(
      "output,o", po::value(&o.output), "write the annotated video (or picture, for an image)")(
      "headless", po::bool_switch(&o.headless), "no window even when a display exists")(
      "show", po::bool_switch(&o.show), "open the window (default when a display exists)")(
      "realtime", po::bool_switch(&o.realtime),
      "play files at their frame rate, dropping frames when behind")(
      "max-frames", po::value(&o.max_frames)->default_value(0), "stop after N frames (0: all)")(
      "width", po::value(&o.source_options.width)->default_value(0), "camera: requested width")(
      "height", po::value(&o.source_options.height)->default_value(0), "camera: requested height")(
      "fps", po::value(&o.source_options.fps)->default_value(0), "camera: requested frame rate")(
      "reconnect",
      po::value(&o.source_options.reconnect_seconds)
          ->default_value(o.source_options.reconnect_seconds),
      "live sources: seconds to keep retrying after the feed fails")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress or summary on stderr");
  add_threads_option(options, o.threads);
  po::positional_options_description positional;
  positional.add("source", 1);
  po::variables_map values;
  if (!parse_options("run",
                     "Reads handwritten digits from a camera, video, image, folder or stream.",
                     options, args, values, &positional)) {
    return exit_code::ok;
  }
  if (o.headless && o.show) throw UsageError("--headless and --show contradict each other");
  return run_recognizer(o);
}

}  // namespace digitcam::app
