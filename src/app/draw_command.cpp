// `digitcam draw`: a canvas to draw digits on with the mouse, read live by the same pipeline as
// `digitcam run` reads a photo (segmenter, normaliser, classifier, decision, number reader), with
// the top three digits and a probability bar per class beside it. Everything runs on the main
// thread: highgui delivers mouse events inside waitKey, and the canvas is read between two polls.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <string>

#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>

#include "digitcam/app/calibration.hpp"
#include "digitcam/app/cli.hpp"
#include "digitcam/app/commands.hpp"
#include "digitcam/app/options.hpp"
#include "digitcam/app/paths.hpp"
#include "digitcam/app/pipeline.hpp"
#include "digitcam/app/sinks.hpp"
#include "digitcam/app/sketch.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"
#include "digitcam/train/report.hpp"
#include "digitcam/vision/overlay.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// --- Window, canvas and keys ------------------------------------------------------------------
constexpr const char* window_title = "digitcam draw";
constexpr int canvas_side = 400;
// The canvas goes to the pipeline inside a margin of blank paper this share of its side wide,
// so a digit drawn across the whole canvas is still a blob on a sheet to the segmenter (whose
// largest digit is 0.6 of the frame's shorter side) rather than the whole frame.
constexpr double paper_margin_share = 0.5;
constexpr int poll_ms = 15;  // waitKey timeout: how often mouse strokes are read
constexpr int key_escape = 27;
const cv::Scalar divider_colour(180, 180, 180);
const cv::Scalar hint_colour(150, 150, 150);
constexpr double hint_scale = 0.45;
// ------------------------------------------------------------------------------------------------

struct DrawOptions {
  std::string model;
  std::string engine = "native";
  std::string calibration;
  std::string json;
  std::string save_dir = ".";
  int threads = 0;
};

// The same test as `run` makes before it opens a window (without one, Qt would abort).
bool display_available() {
  const char* x = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  return (x != nullptr && *x != '\0') || (wayland != nullptr && *wayland != '\0');
}

PipelineSettings settings_for(const DrawOptions& o) {
  PipelineSettings settings = settings_from_calibration(o.calibration, std::cerr);
  // The canvas is white paper and the pen is dark: nothing to detect.
  settings.segmenter.polarity = vision::Polarity::dark_on_light;
  // The fill limit keeps solid clutter (a dark patch, a shadow) out of camera frames; the canvas
  // holds nothing but pen strokes, and a straight "1" drawn with a round pen fills its box.
  settings.segmenter.max_fill = 1.0;
  settings.decision.keep_rejected = false;
  return settings;
}

// What one reading of the canvas found, in canvas coordinates.
struct Reading {
  FrameResult result;
  std::string headline = "no digit";  // "7", "17", or "no digit"
  int focus = -1;                     // index of the digit whose bars are shown; -1: none

  const vision::Detection* focused() const {
    return focus < 0 ? nullptr : &result.digits[static_cast<std::size_t>(focus)];
  }
};

// The digit nearest the last point drawn: the one being written gets the bars.
int nearest_digit(const std::vector<vision::Detection>& digits, cv::Point point) {
  int best = -1;
  double best_distance = std::numeric_limits<double>::max();
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const cv::Rect& box = digits[i].box;
    const cv::Point2d centre(box.x + box.width / 2.0, box.y + box.height / 2.0);
    const double distance = cv::norm(centre - cv::Point2d(point));
    if (distance < best_distance) {
      best_distance = distance;
      best = static_cast<int>(i);
    }
  }
  return best;
}

std::string percent(float p) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * p);
  return text;
}

// "7 (98.5%), top 3: 7 98.5%, 1 1.0%, 2 0.3%"; "17 (2 digits: 1 99.0% 7 98.5%)"; "no digit".
std::string describe(const Reading& r) {
  const vision::Detection* focus = r.focused();
  if (focus == nullptr) return "no digit";
  if (r.result.digits.size() > 1) {
    std::string text = r.headline + " (" + std::to_string(r.result.digits.size()) + " digits:";
    for (const auto& n : r.result.numbers) {
      for (const int i : n.digits) {
        const auto& d = r.result.digits[static_cast<std::size_t>(i)];
        text += " " + std::to_string(d.label) + " " + percent(d.confidence);
      }
    }
    return text + ")";
  }
  std::array<int, vision::digit_classes> order{};
  for (int c = 0; c < vision::digit_classes; ++c) order[static_cast<std::size_t>(c)] = c;
  const auto& p = focus->probabilities;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return p[static_cast<std::size_t>(a)] > p[static_cast<std::size_t>(b)];
  });
  std::string text = r.headline + " (" + percent(focus->confidence) + "), top 3:";
  for (int rank = 0; rank < 3; ++rank) {
    const int c = order[static_cast<std::size_t>(rank)];
    text += (rank ? ", " : " ") + std::to_string(c) + " " + percent(p[static_cast<std::size_t>(c)]);
  }
  return text;
}

// Reads the sketch the way `digitcam run` reads a photo.
Reading read_sketch(Pipeline& pipeline, const Sketch& sketch, std::int64_t index, double time_ms) {
  Reading reading;
  reading.result.frame = index;
  reading.result.time_ms = time_ms;
  if (sketch.empty()) return reading;  // an empty canvas is never a guess
  const cv::Mat canvas = sketch.render();
  const int margin = static_cast<int>(paper_margin_share * canvas_side);
  cv::Mat paper;
  cv::copyMakeBorder(canvas, paper, margin, margin, margin, margin, cv::BORDER_CONSTANT,
                     cv::Scalar(255));
  pipeline.reset_tracks();  // every reading is a new picture
  reading.result = pipeline.process_photo(paper, index);
  reading.result.time_ms = time_ms;
  const cv::Rect on_canvas(0, 0, canvas.cols, canvas.rows);
  for (auto& d : reading.result.digits) d.box = (d.box - cv::Point(margin, margin)) & on_canvas;
  for (auto& n : reading.result.numbers) n.box = (n.box - cv::Point(margin, margin)) & on_canvas;
  // A photo read whole (nothing segmented) is boxed at the padded picture: the canvas it is.
  if (reading.result.digits.empty()) return reading;
  std::string number;
  for (const auto& n : reading.result.numbers) number += (number.empty() ? "" : " ") + n.value;
  reading.headline = number;
  reading.focus = nearest_digit(reading.result.digits, sketch.last_point());
  return reading;
}

// The window's picture: the canvas with boxes on the left, the reading panel on the right.
cv::Mat compose(const Sketch& sketch, const Reading& reading) {
  cv::Mat view(canvas_side, canvas_side + vision::reading_panel_width, CV_8UC3);
  cv::Mat left = view(cv::Rect(0, 0, canvas_side, canvas_side));
  cv::cvtColor(sketch.render(), left, cv::COLOR_GRAY2BGR);
  if (sketch.empty()) {
    cv::putText(left, "draw a digit here  (c clear, u undo, s save, q quit)",
                {10, canvas_side - 12}, cv::FONT_HERSHEY_SIMPLEX, hint_scale, hint_colour, 1,
                cv::LINE_AA);
  }
  vision::draw_detections(left, reading.result.digits, reading.result.numbers);
  cv::Mat right = view(cv::Rect(canvas_side, 0, vision::reading_panel_width, canvas_side));
  vision::draw_reading_panel(right, reading.headline, reading.focused());
  cv::line(view, {canvas_side, 0}, {canvas_side, canvas_side - 1}, divider_colour, 1);
  return view;
}

// "digitcam-draw-7-0.png", the first index not yet taken in folder.
fs::path free_name(const fs::path& folder, const std::string& label) {
  for (int i = 0;; ++i) {
    const fs::path candidate =
        folder / ("digitcam-draw-" + label + "-" + std::to_string(i) + ".png");
    std::error_code ec;
    if (!fs::exists(candidate, ec)) return candidate;
  }
}

struct MouseState {
  Sketch* sketch = nullptr;
  bool changed = false;  // the canvas changed: read it again
  bool settled = false;  // a stroke ended (or a key changed the canvas): log the reading
};

void on_mouse(int event, int x, int y, int flags, void* user) {
  auto& state = *static_cast<MouseState*>(user);
  const bool on_canvas = x >= 0 && x < canvas_side && y >= 0 && y < canvas_side;
  switch (event) {
    case cv::EVENT_LBUTTONDOWN:
      if (!on_canvas) return;
      state.sketch->begin_stroke({x, y});
      state.changed = true;
      break;
    case cv::EVENT_MOUSEMOVE:
      if (!state.sketch->drawing()) return;
      // A release outside the window never arrives: a move without the button ends the stroke.
      if ((flags & cv::EVENT_FLAG_LBUTTON) == 0) {
        state.sketch->end_stroke();
        state.settled = true;
        return;
      }
      state.sketch->extend_stroke({x, y});
      state.changed = true;
      break;
    case cv::EVENT_LBUTTONUP:
      if (!state.sketch->drawing()) return;
      state.sketch->extend_stroke({x, y});
      state.sketch->end_stroke();
      state.changed = true;
      state.settled = true;
      break;
    default:
      break;
  }
}

int run_draw(const DrawOptions& o) {
  if (!display_available()) {
    throw UsageError(
        "digitcam draw needs a display (DISPLAY is not set); run it on a desktop, or read a saved "
        "drawing with 'digitcam run drawing.png'");
  }
  engine::ThreadBudget budget(o.threads);
  cv::setNumThreads(budget.threads());
  const std::string model = o.model.empty() ? default_model_path().string() : o.model;
  auto classifier = vision::make_classifier(vision::parse_engine_kind(o.engine), model);
  Pipeline pipeline(*classifier, settings_for(o));
  std::optional<JsonLinesWriter> json;
  if (!o.json.empty()) json.emplace(o.json);
  std::error_code ec;
  if (!fs::is_directory(o.save_dir, ec)) {
    throw IoError("--save-dir " + o.save_dir + " is not a folder; create it first");
  }

  Sketch sketch({canvas_side, canvas_side});
  MouseState mouse{&sketch, true, true};
  const Clock::time_point start = Clock::now();
  std::int64_t updates = 0;
  Reading reading;
  cv::Mat view;
  cv::namedWindow(window_title, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);
  cv::setMouseCallback(window_title, on_mouse, &mouse);
  std::cerr << "digitcam draw: reading with " << model << " (" << classifier->name()
            << " engine); keys: c clear, u undo, s save, q quit\n";
  for (;;) {
    if (mouse.changed) {
      mouse.changed = false;
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      reading = read_sketch(pipeline, sketch, updates++, ms);
      if (json) json->write(reading.result);
      // While a stroke is drawn the reading changes with every move: stderr gets the reading of
      // each finished stroke (the JSON lines have them all).
      if (mouse.settled) {
        mouse.settled = false;
        std::cerr << "digitcam draw: " << describe(reading) << '\n';
      }
      view = compose(sketch, reading);
      cv::imshow(window_title, view);
    }
    const int key = cv::waitKey(poll_ms);
    // Closing the window with its title bar button ends the session like q.
    if (cv::getWindowProperty(window_title, cv::WND_PROP_VISIBLE) < 1) break;
    if (key < 0) continue;
    const int k = key & 0xff;
    if (k == 'q' || k == key_escape) break;
    if (k == 'c') {
      sketch.clear();
      mouse.changed = mouse.settled = true;
    } else if (k == 'u') {
      sketch.undo();
      mouse.changed = mouse.settled = true;
    } else if (k == 's') {
      std::string label = reading.focus < 0 ? "none" : reading.headline;
      std::replace(label.begin(), label.end(), ' ', '_');  // two rows: "17_4"
      const fs::path file = free_name(o.save_dir, label);
      train::write_image(file, sketch.render());
      std::cerr << "digitcam draw: saved " << file.string() << '\n';
    }
  }
  cv::destroyAllWindows();
  if (json) json->close();
  return exit_code::ok;
}

}  // namespace

int draw_command(const Arguments& args) {
  DrawOptions o;
  po::options_description options("options");
  options.add_options()("model,m", po::value(&o.model),
                        "ONNX model (default: the bundled models/digits.onnx)")(
      "engine", po::value(&o.engine)->default_value(o.engine), "native or opencv")(
      "calibration", po::value(&o.calibration),
      "calibration NAME (calibration/NAME.yml) or YAML file (default: calibration/default.yml)")(
      "json", po::value(&o.json),
      "write one JSON line per reading (as 'digitcam run' does per frame) to a file or -")(
      "save-dir", po::value(&o.save_dir)->default_value(o.save_dir),
      "folder where s saves drawings (digitcam-draw-<label>-<n>.png)");
  add_threads_option(options, o.threads);
  po::variables_map values;
  if (!parse_options("draw",
                     "Draw digits with the mouse and watch the network read them live. Keys: c "
                     "clear, u undo the last stroke, s save the drawing as PNG, q or Esc quit.",
                     options, args, values)) {
    return exit_code::ok;
  }
  return run_draw(o);
}

}  // namespace digitcam::app
