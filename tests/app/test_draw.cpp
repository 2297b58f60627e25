// End to end: `digitcam draw` on a virtual X display. xdotool draws strokes with the mouse
// (button down, a polyline of moves, button up) and presses the keys; the test checks what the
// program read (its stderr lines and --json), the probability bars on a screenshot, the saved
// drawing, and that `digitcam run` reads that drawing back the same way.

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"
#include "support/x_display.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using digitcam::test::Child;
using digitcam::test::slurp;
using digitcam::test::TempFolder;
using digitcam::test::VirtualDisplay;
using digitcam::test::wait_until;

// The window: a 400x400 canvas with the 300 px reading panel to its right.
constexpr int canvas_side = 400;
constexpr int panel_width = 300;
const cv::Size screen(1280, 800);
const cv::Rect bars_area(canvas_side, 190, panel_width, 210);  // the ten bars, window pixels
constexpr auto window_timeout = 15s;  // model load and the first picture, on a busy machine
constexpr auto reading_timeout = 5s;  // from the button's release to the reading's log line
constexpr auto exit_timeout = 5s;
constexpr auto move_pause = 20ms;  // between mouse moves, so each one is its own event
// The winner's bar is the confident-box green (BGR 60, 220, 60), the others steel blue
// (200, 120, 40); ranges leave room for antialiasing. A bar at 50% is about 1550 pixels.
const cv::Scalar green_low(15, 185, 15), green_high(105, 255, 105);
const cv::Scalar blue_low(170, 90, 10), blue_high(230, 150, 70);
constexpr int min_winner_bar_pixels = 1500;

using Stroke = std::vector<cv::Point>;  // canvas pixels

int pixels_in_range(const cv::Mat& image, const cv::Scalar& low, const cv::Scalar& high) {
  if (image.empty()) return 0;
  cv::Mat mask;
  cv::inRange(image, low, high, mask);
  return cv::countNonZero(mask);
}

// The reading lines on stderr ("digitcam draw: 7 (99.8%), top 3: ..."), without the start-up
// and "saved" lines.
std::vector<std::string> readings(const std::string& log) {
  std::vector<std::string> lines;
  std::stringstream in(log);
  std::string line;
  const std::string prefix = "digitcam draw: ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const std::string rest = line.substr(prefix.size());
    if (rest.rfind("reading with", 0) == 0 || rest.rfind("saved", 0) == 0) continue;
    lines.push_back(rest);
  }
  return lines;
}

std::string last_line(const std::string& text) {
  std::stringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Labels of the digits in one JSON line, in order.
std::vector<int> labels_of(const std::string& json_line) {
  std::vector<int> labels;
  const std::regex label(R"("label":(-?\d+))");
  for (auto it = std::sregex_iterator(json_line.begin(), json_line.end(), label);
       it != std::sregex_iterator(); ++it) {
    labels.push_back(std::stoi((*it)[1].str()));
  }
  return labels;
}

std::string numbers_of(const std::string& json_line) {
  std::string values;
  const std::regex value(R"re("value":"([0-9]+)")re");
  for (auto it = std::sregex_iterator(json_line.begin(), json_line.end(), value);
       it != std::sregex_iterator(); ++it) {
    values += (values.empty() ? "" : " ") + (*it)[1].str();
  }
  return values;
}

class DrawSession {
 public:
  DrawSession(const VirtualDisplay& display, Child& app, cv::Point origin, const fs::path& folder)
      : display_(display), app_(app), origin_(origin), folder_(folder) {}

  // Draws the strokes and waits for the reading logged when the last one ends.
  std::string draw(const std::vector<Stroke>& strokes) {
    const std::size_t before = readings(app_.log()).size();
    for (const Stroke& s : strokes) {
      REQUIRE(s.size() >= 2);
      REQUIRE(display_.xdotool("mousemove " + at(s.front()) + " mousedown 1"));
      for (std::size_t i = 1; i < s.size(); ++i) {
        std::this_thread::sleep_for(move_pause);
        REQUIRE(display_.xdotool("mousemove " + at(s[i])));
      }
      REQUIRE(display_.xdotool("mouseup 1"));
    }
    return wait_reading(before + strokes.size());
  }

  // Presses a key that changes the canvas and waits for the reading it logs.
  std::string press(const std::string& window, const std::string& key) {
    const std::size_t before = readings(app_.log()).size();
    REQUIRE(display_.send_key(window, key));
    return wait_reading(before + 1);
  }

  std::string last_json() const { return last_line(slurp(folder_ / "draw.jsonl")); }

 private:
  std::string at(cv::Point p) const {
    return std::to_string(origin_.x + p.x) + " " + std::to_string(origin_.y + p.y);
  }
  std::string wait_reading(std::size_t count) {
    std::vector<std::string> lines;
    const bool arrived = wait_until(reading_timeout, [&] {
      lines = readings(app_.log());
      return lines.size() >= count || !app_.running();
    });
    REQUIRE_MESSAGE(arrived, "no reading logged within 5 s; digitcam's output:\n" << app_.log());
    REQUIRE_MESSAGE(lines.size() >= count, "digitcam ended; its output:\n" << app_.log());
    return lines.back();
  }

  const VirtualDisplay& display_;
  Child& app_;
  cv::Point origin_;
  fs::path folder_;
};

// A "1" (one slightly slanted line) and a "7" (a bar, then the diagonal), in canvas pixels.
const Stroke one_at_left = {{110, 110}, {111, 150}, {112, 200}, {113, 250}, {114, 290}};
const std::vector<Stroke> seven_at_right = {
    {{200, 112}, {240, 111}, {280, 110}, {300, 110}},
    {{300, 110}, {285, 150}, {270, 190}, {255, 240}, {245, 290}}};
const std::vector<Stroke> seven_in_middle = {
    {{130, 100}, {190, 99}, {240, 98}, {270, 98}},
    {{270, 98}, {250, 150}, {230, 200}, {215, 250}, {205, 300}}};

}  // namespace

TEST_CASE("draw: strokes drawn with the mouse are read live, c clears, u undoes, s saves") {
  for (const char* tool : {"Xvfb", "xdotool", "ffmpeg"}) {
    if (digitcam::test::find_tool(tool).empty()) {
      FAIL(std::string(tool) << " is not on PATH; run tools/setup.sh (as root) to install the X "
                                "tools the window tests need");
    }
  }
  const fs::path model = digitcam::test::source_dir() / "models" / "digits.onnx";
  REQUIRE_MESSAGE(fs::is_regular_file(model), model.string() << " is missing");
  TempFolder folder("draw");
  const VirtualDisplay display(screen, folder.path());
  REQUIRE_MESSAGE(!display.name().empty(), "Xvfb named no display; its log:\n" << display.log());
  INFO("X display " << display.name());

  Child app(DIGITCAM_BINARY,
            {"draw", "--model", model.string(), "--json", "draw.jsonl", "--save-dir", "."},
            digitcam::test::x11_environment(display.name()), folder.path(),
            folder / "digitcam.log");
  std::optional<std::string> window;
  wait_until(window_timeout, [&] {
    window = display.find_window("^digitcam draw$");
    return window.has_value() || !app.running();
  });
  REQUIRE_MESSAGE(window.has_value(), "no visible window named 'digitcam draw' within 15 s; "
                                          << "digitcam's output:\n"
                                          << app.log() << "Xvfb's:\n"
                                          << display.log());
  // Qt maps the window before it takes the picture's size: wait for it.
  cv::Rect area;
  wait_until(window_timeout, [&] {
    area = display.window_rect(*window);
    return area.size() == cv::Size(canvas_side + panel_width, canvas_side) || !app.running();
  });
  REQUIRE_MESSAGE(area.width == canvas_side + panel_width, "window " << area);
  REQUIRE_MESSAGE(area.height == canvas_side, "window " << area);
  INFO("window " << area);
  DrawSession session(display, app, area.tl(), folder.path());
  const cv::Rect bars = bars_area + area.tl();

  // The empty canvas: "no digit", no bar filled.
  CHECK(wait_until(window_timeout, [&] { return !readings(app.log()).empty(); }));
  CHECK(readings(app.log()).front() == "no digit");
  cv::Mat shot = display.screenshot(bars, folder / "empty.png");
  REQUIRE_MESSAGE(!shot.empty(), "ffmpeg took no screenshot of display " << display.name());
  CHECK(pixels_in_range(shot, green_low, green_high) == 0);
  CHECK(pixels_in_range(shot, blue_low, blue_high) == 0);

  // A "1": logged with its top 3, one digit in the JSON line, its bar green on screen.
  std::string read = session.draw({one_at_left});
  CHECK_MESSAGE(read.rfind("1 (", 0) == 0, "read: " << read);
  CHECK_MESSAGE(read.find("top 3: 1 ") != std::string::npos, "read: " << read);
  CHECK(labels_of(session.last_json()) == std::vector<int>{1});
  shot = display.screenshot(bars, folder / "one.png");
  CHECK_MESSAGE(pixels_in_range(shot, green_low, green_high) >= min_winner_bar_pixels,
                pixels_in_range(shot, green_low, green_high) << " winner-green pixels in the bars");

  // c clears: "no digit" again, and the bars empty.
  read = session.press(*window, "c");
  CHECK(read == "no digit");
  CHECK(labels_of(session.last_json()).empty());
  shot = display.screenshot(bars, folder / "cleared.png");
  CHECK(pixels_in_range(shot, green_low, green_high) == 0);

  // A "7" in two strokes.
  read = session.draw(seven_in_middle);
  CHECK_MESSAGE(read.rfind("7 (", 0) == 0, "read: " << read);
  CHECK(labels_of(session.last_json()) == std::vector<int>{7});

  // A "1" and a "7" side by side are read as the number 17, through the number reader.
  session.press(*window, "c");
  read = session.draw({one_at_left, seven_at_right[0], seven_at_right[1]});
  CHECK_MESSAGE(read.rfind("17 (2 digits", 0) == 0, "read: " << read);
  CHECK(labels_of(session.last_json()) == std::vector<int>{1, 7});
  CHECK(numbers_of(session.last_json()) == "17");
  shot = display.screenshot(area, folder / "seventeen.png");
  CHECK(pixels_in_range(shot(bars_area), green_low, green_high) >= min_winner_bar_pixels);

  // u takes the 7's diagonal back: the bar alone is no digit, the 1 stays.
  read = session.press(*window, "u");
  CHECK_MESSAGE(read.rfind("1 (", 0) == 0, "read after undo: " << read);
  CHECK(labels_of(session.last_json()) == std::vector<int>{1});

  // s saves the drawing, named after what was read; `digitcam run` reads it back alike.
  REQUIRE(display.send_key(*window, "s"));
  const fs::path saved = folder / "digitcam-draw-1-0.png";
  CHECK_MESSAGE(
      wait_until(
          reading_timeout,
          [&] { return app.log().find("saved ./digitcam-draw-1-0.png") != std::string::npos; }),
      "no 'saved' line; digitcam's output:\n"
          << app.log());
  const cv::Mat drawing = cv::imread(saved.string(), cv::IMREAD_GRAYSCALE);
  REQUIRE_MESSAGE(!drawing.empty(), saved << " is missing or unreadable");
  CHECK(drawing.cols == canvas_side);
  CHECK(drawing.rows == canvas_side);
  const auto again = digitcam::test::run_digitcam("run '" + saved.string() + "' --headless");
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  CHECK_MESSAGE(again.out.find("digitcam-draw-1-0.png: 1 (") != std::string::npos,
                "run read the saved drawing as: " << again.out);

  // q quits cleanly; every JSON line is a whole record in run's format.
  REQUIRE(display.send_key(*window, "q"));
  REQUIRE_MESSAGE(app.wait_for(exit_timeout), "digitcam draw still runs 5 s after q");
  CHECK_MESSAGE(app.exit_code() == 0, "exit code " << app.exit_code().value_or(-1));
  std::stringstream lines(slurp(folder / "draw.jsonl"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    CHECK_MESSAGE((line.rfind("{\"frame\":", 0) == 0 && line.back() == '}'),
                  "draw.jsonl line " << count << ": " << line);
  }
  CHECK(count >= 10);
}

TEST_CASE("draw: without a display it says so and exits with the usage code") {
  const auto r =
      digitcam::test::shell("env -u DISPLAY -u WAYLAND_DISPLAY '" + std::string(DIGITCAM_BINARY) +
                            "' draw 2>&1; echo \"exit $?\"");
  CHECK_MESSAGE(r.out.find("needs a display") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("exit 2") != std::string::npos, r.out);
}
