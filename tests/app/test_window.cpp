// End to end: `digitcam run` with its window, on a virtual X display (support/x_display.hpp:
// Xvfb, xdotool, ffmpeg's x11grab; the test fails, it does not skip, when one is missing).

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"
#include "support/x_display.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using digitcam::test::Child;
using digitcam::test::find_tool;
using digitcam::test::slurp;
using digitcam::test::TempFolder;
using digitcam::test::VirtualDisplay;
using digitcam::test::wait_until;

// The virtual screen: wide enough for the whole window, whose Qt toolbar makes it about 1500
// pixels wide although the frame is 640x480.
const cv::Size screen(1600, 1200);
// How long each stage may take before the test gives up on it.
constexpr auto window_timeout = 15s;    // model load and the first frame, on a busy machine
constexpr auto annotated_timeout = 5s;  // until a frame with a confident digit is on screen
constexpr auto snapshot_timeout = 3s;
constexpr auto exit_timeout = 5s;
constexpr auto playing_interval = 400ms;  // JSON lines must grow over this while playing
constexpr auto key_settle = 300ms;       // for a key to reach the loop and a frame in flight to end
constexpr auto paused_interval = 500ms;  // nothing may change over this while paused
// The overlay's box colour for confident digits, BGR (60, 220, 60), with room for antialiasing.
// demo.avi itself has no pixel in this range (its grass is far darker), so what is found here
// was drawn by digitcam.
const cv::Scalar box_green_low(15, 185, 15);
const cv::Scalar box_green_high(105, 255, 105);
constexpr int min_green_pixels = 150;         // one small box and its label are several hundred
constexpr double min_mean_brightness = 20.0;  // of the window: not a black or empty window

int green_pixels(const cv::Mat& image) {
  if (image.empty()) return 0;
  cv::Mat mask;
  cv::inRange(image, box_green_low, box_green_high, mask);
  return cv::countNonZero(mask);
}

double mean_brightness(const cv::Mat& image) {
  if (image.empty()) return 0.0;
  const cv::Scalar m = cv::mean(image);
  return (m[0] + m[1] + m[2]) / 3.0;
}

bool same_image(const cv::Mat& a, const cv::Mat& b) {
  return !a.empty() && a.size() == b.size() && a.type() == b.type() &&
         cv::norm(a, b, cv::NORM_INF) == 0.0;
}

std::size_t line_count(const fs::path& path) {
  const std::string text = slurp(path);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("window: run shows boxed digits under Xvfb, and space pauses, s snaps, q quits") {
  for (const char* tool : {"Xvfb", "xdotool", "ffmpeg"}) {
    if (find_tool(tool).empty()) {
      FAIL(std::string(tool)
           << " is not on PATH; run tools/setup.sh (as root) to install the X tools the "
              "window test needs");
    }
  }
  const fs::path model = digitcam::test::source_dir() / "models" / "digits.onnx";
  const fs::path video = digitcam::test::source_dir() / "samples" / "demo.avi";
  REQUIRE_MESSAGE(fs::is_regular_file(model),
                  model.string() << " is missing; train it (see README.md) before this test");
  REQUIRE_MESSAGE(fs::is_regular_file(video), video.string() << " is missing");
  TempFolder folder("window");

  const VirtualDisplay x(screen, folder.path());
  REQUIRE_MESSAGE(!x.name().empty(), "Xvfb named no display within 10 s; its log:\n" << x.log());
  const std::string display = x.name();
  INFO("X display " << display);

  Child app(DIGITCAM_BINARY,
            {"run", video.string(), "--realtime", "--model", model.string(), "--json", "out.jsonl"},
            digitcam::test::x11_environment(display), folder.path(), folder / "digitcam.log");
  std::optional<std::string> window;
  wait_until(window_timeout, [&] {
    window = x.find_window("^digitcam$");
    return window.has_value() || !app.running();
  });
  REQUIRE_MESSAGE(
      window.has_value(),
      (app.running() ? std::string("no visible window named digitcam within 15 s")
                     : "digitcam ended (exit code " + std::to_string(app.exit_code().value_or(-1)) +
                           ") without showing a window")
          << "; its output:\n"
          << app.log() << "Xvfb's:\n"
          << x.log());
  INFO("window " << *window << "; digitcam's output so far:\n" << app.log());

  // The window holds a frame with green boxes, and the HUD and toolbar make it not all black.
  cv::Rect area;
  cv::Mat shot;
  // Qt maps the window before it takes the frame's size: the size is waited for too.
  wait_until(annotated_timeout, [&] {
    area = x.window_rect(*window);
    shot = x.screenshot(area, folder / "shot.png");
    const bool sized = area.width >= 640 && area.height >= 480;
    return (sized && green_pixels(shot) >= min_green_pixels) || !app.running();
  });
  REQUIRE_MESSAGE(!shot.empty(), "ffmpeg took no screenshot of display " << display);
  CHECK_MESSAGE(area.width >= 640, "window " << area << " is narrower than the 640x480 frame");
  CHECK_MESSAGE(area.height >= 480, "window " << area << " is lower than the 640x480 frame");
  CHECK_MESSAGE(mean_brightness(shot) > min_mean_brightness,
                "the window looks black: mean brightness " << mean_brightness(shot));
  CHECK_MESSAGE(green_pixels(shot) >= min_green_pixels,
                "no green digit boxes on screen within 5 s: "
                    << green_pixels(shot) << " box-green pixels in window " << area);

  // Playing: a JSON line per frame.
  const fs::path json = folder / "out.jsonl";
  const std::size_t lines_before = line_count(json);
  std::this_thread::sleep_for(playing_interval);
  const std::size_t lines_playing = line_count(json);
  CHECK_MESSAGE(lines_playing > lines_before,
                "out.jsonl did not grow while playing: " << lines_before << " lines");
  REQUIRE_MESSAGE(app.running(), "digitcam ended before the keys were tried (the video lasts 8 s)");

  // Space pauses: the screen and the JSON stand still.
  REQUIRE(x.send_key(*window, "space"));
  std::this_thread::sleep_for(key_settle);
  const std::size_t lines_paused = line_count(json);
  const cv::Mat paused_first = x.screenshot(area, folder / "paused-1.png");
  std::this_thread::sleep_for(paused_interval);
  const cv::Mat paused_second = x.screenshot(area, folder / "paused-2.png");
  CHECK_MESSAGE(line_count(json) == lines_paused,
                "out.jsonl grew while paused: " << lines_paused << " -> " << line_count(json));
  CHECK_MESSAGE(same_image(paused_first, paused_second),
                "two screenshots 0.5 s apart differ while paused");

  // s writes the frame on screen to the working folder.
  REQUIRE(x.send_key(*window, "s"));
  const fs::path snapshot = folder / "digitcam-snapshot-0.png";
  const bool saved = wait_until(snapshot_timeout, [&] {  // read only once written whole
    return app.log().find("saved digitcam-snapshot-0.png") != std::string::npos;
  });
  CHECK_MESSAGE(saved, "digitcam did not report saving the snapshot within 3 s");
  const cv::Mat snapped = cv::imread(snapshot.string(), cv::IMREAD_COLOR);
  REQUIRE_MESSAGE(!snapped.empty(), "s wrote no readable " << snapshot << " within 3 s");
  CHECK(snapped.cols == 640);
  CHECK(snapped.rows == 480);
  // Equal counts say little when both are zero: the snapshot must show boxes itself.
  CHECK(green_pixels(snapped) >= min_green_pixels);
  CHECK_MESSAGE(green_pixels(snapped) == green_pixels(paused_second),
                "the snapshot is not the paused frame: " << green_pixels(snapped)
                                                         << " box-green pixels, the screen "
                                                         << green_pixels(paused_second));

  // q quits cleanly, leaving only whole JSON lines, none after the pause.
  REQUIRE(x.send_key(*window, "q"));
  REQUIRE_MESSAGE(app.wait_for(exit_timeout), "digitcam still runs 5 s after q");
  CHECK_MESSAGE(app.exit_code() == 0, "exit code " << app.exit_code().value_or(-1));
  const std::string text = slurp(json);
  CHECK_MESSAGE((!text.empty() && text.back() == '\n'), "out.jsonl ends inside a line");
  std::stringstream lines(text);
  std::string line;
  std::size_t count = 0;
  while (std::getline(lines, line)) {
    ++count;
    const bool whole = line.rfind("{\"frame\":", 0) == 0 && !line.empty() && line.back() == '}';
    CHECK_MESSAGE(whole, "out.jsonl line " << count << " is not a whole record: " << line);
  }
  CHECK_MESSAGE(count == lines_paused,
                "out.jsonl has " << count << " lines, " << lines_paused << " when paused");
}
