// End to end: `digitcam run PHOTO --show` holds the annotated photo on screen until a key (under
// Xvfb, checked on a screenshot), and `--output` writes the same picture headless.

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
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
using digitcam::test::TempFolder;
using digitcam::test::VirtualDisplay;
using digitcam::test::wait_until;

const cv::Size screen(1280, 800);
constexpr auto window_timeout = 15s;
constexpr auto held_interval = 1500ms;  // the photo must still be on screen after this
constexpr auto exit_timeout = 5s;
// The overlay's box colour for confident digits, BGR (60, 220, 60), with room for antialiasing.
const cv::Scalar box_green_low(15, 185, 15), box_green_high(105, 255, 105);
constexpr int min_green_pixels = 150;
constexpr int photo_min_side = 480;  // smaller photos are enlarged by a whole factor

int green_pixels(const cv::Mat& image) {
  if (image.empty()) return 0;
  cv::Mat mask;
  cv::inRange(image, box_green_low, box_green_high, mask);
  return cv::countNonZero(mask);
}

fs::path photo(const std::string& name) {
  return digitcam::test::source_dir() / "samples" / "photo" / name;
}

}  // namespace

TEST_CASE("show: a photo stays on screen with its boxes until q") {
  for (const char* tool : {"Xvfb", "xdotool", "ffmpeg"}) {
    if (digitcam::test::find_tool(tool).empty()) {
      FAIL(std::string(tool) << " is not on PATH; run tools/setup.sh (as root)");
    }
  }
  TempFolder folder("show");
  const VirtualDisplay display(screen, folder.path());
  REQUIRE_MESSAGE(!display.name().empty(), "Xvfb named no display; its log:\n" << display.log());
  const fs::path model = digitcam::test::source_dir() / "models" / "digits.onnx";
  Child app(
      DIGITCAM_BINARY, {"run", photo("2_big.png").string(), "--show", "--model", model.string()},
      digitcam::test::x11_environment(display.name()), folder.path(), folder / "digitcam.log");
  std::optional<std::string> window;
  wait_until(window_timeout, [&] {
    window = display.find_window("^digitcam$");
    return window.has_value() || !app.running();
  });
  REQUIRE_MESSAGE(window.has_value(), "no window within 15 s; digitcam's output:\n"
                                          << app.log() << "Xvfb's:\n"
                                          << display.log());
  INFO("digitcam's output:\n" << app.log());
  cv::Rect area;
  cv::Mat shot;
  // Qt maps the window before it takes the picture's size: wait for both.
  wait_until(window_timeout, [&] {
    area = display.window_rect(*window);
    if (area.width < 2 * 300 || area.height < 2 * 300) return false;
    shot = display.screenshot(area, folder / "photo.png");
    return green_pixels(shot) >= min_green_pixels;
  });
  // 300x300 is enlarged twice to 600x600.
  CHECK_MESSAGE(area.width >= 2 * 300, "window " << area);
  CHECK_MESSAGE(area.height >= 2 * 300, "window " << area);
  CHECK_MESSAGE(green_pixels(shot) >= min_green_pixels,
                green_pixels(shot) << " box-green pixels in window " << area);
  CHECK(app.log().find("2_big.png: 2 (") != std::string::npos);

  // Still there a while later: a photo waits for a key.
  std::this_thread::sleep_for(held_interval);
  REQUIRE_MESSAGE(app.running(), "digitcam ended without a key");
  CHECK(display.find_window("^digitcam$").has_value());
  REQUIRE(display.send_key(*window, "q"));
  REQUIRE_MESSAGE(app.wait_for(exit_timeout), "digitcam still runs 5 s after q");
  CHECK(app.exit_code() == 0);
}

TEST_CASE("show: --output writes the annotated photo headless, small photos enlarged") {
  TempFolder folder("show-output");
  const fs::path out = folder / "annotated.png";
  auto r = digitcam::test::run_digitcam("run '" + photo("2_big.png").string() +
                                        "' --headless --output '" + out.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  cv::Mat picture = cv::imread(out.string(), cv::IMREAD_COLOR);
  REQUIRE(!picture.empty());
  // 300 px is below photo_min_side: enlarged by the smallest whole factor that reaches it.
  const int factor = (photo_min_side + 299) / 300;
  CHECK(picture.size() == cv::Size(300 * factor, 300 * factor));
  CHECK_MESSAGE(green_pixels(picture) >= min_green_pixels, green_pixels(picture));

  r = digitcam::test::run_digitcam("run '" + photo("1_small_grey.png").string() +
                                   "' --headless --output '" + out.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  picture = cv::imread(out.string(), cv::IMREAD_COLOR);
  CHECK(picture.size() == cv::Size(640, 480));  // large enough: kept as it is
  CHECK_MESSAGE(green_pixels(picture) >= min_green_pixels, green_pixels(picture));
}
