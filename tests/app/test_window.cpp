// End to end: `digitcam run` with its window, on a virtual X display. Xvfb is the display,
// xdotool finds the window and presses the keys, ffmpeg's x11grab takes the screenshots; all
// three come from tools/setup.sh, and the test fails (it does not skip) when one is missing.

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using digitcam::test::slurp;
using digitcam::test::TempFolder;

// The virtual screen: wide enough for the whole window, whose Qt toolbar makes it about 1500
// pixels wide although the frame is 640x480.
constexpr int screen_width = 1600;
constexpr int screen_height = 1200;
// How long each stage may take before the test gives up on it.
constexpr auto display_timeout = 10s;
constexpr auto window_timeout = 15s;    // model load and the first frame, on a busy machine
constexpr auto annotated_timeout = 5s;  // until a frame with a confident digit is on screen
constexpr auto snapshot_timeout = 3s;
constexpr auto exit_timeout = 5s;
constexpr auto poll_interval = 100ms;
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

// The full path of `tool` on PATH, or empty.
fs::path find_tool(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream folders(path != nullptr ? path : "/usr/bin:/bin");
  std::string folder;
  while (std::getline(folders, folder, ':')) {
    const fs::path candidate = fs::path(folder.empty() ? "." : folder) / tool;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// The stdout of a /bin/sh command line, and its exit code.
struct ShellResult {
  int exit_code = -1;
  std::string out;
};
ShellResult shell(const std::string& command) {
  ShellResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[512];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Polls `ready` every poll_interval until it holds or `timeout` passes; returns the last answer.
bool wait_until(std::chrono::milliseconds timeout, const std::function<bool()>& ready) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (ready()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll_interval);
  }
}

// A child process, started with fork and exec, stdout and stderr into one log file. The
// destructor ends it if it still runs (SIGTERM, then SIGKILL after two seconds) and reaps it,
// so no test failure leaves an Xvfb or a digitcam behind.
class Child {
 public:
  // `keep_fd`: a descriptor the child inherits (Xvfb's -displayfd), closed here after the fork.
  Child(const fs::path& program, const std::vector<std::string>& arguments,
        const std::vector<std::string>& environment, const fs::path& folder, const fs::path& log,
        int keep_fd = -1)
      : log_(log) {
    std::vector<std::string> argv_text{program.string()};
    argv_text.insert(argv_text.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv, envp;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text = environment;
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls from here to exec
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || ::chdir(folder.c_str()) != 0) ::_exit(127);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      const int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, STDIN_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    if (keep_fd >= 0) ::close(keep_fd);
  }
  ~Child() {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    if (!wait_for(2s)) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // False once the process has ended (and has been reaped here).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  // Waits up to `timeout` for the process to end; true when it has.
  bool wait_for(std::chrono::milliseconds timeout) {
    return wait_until(timeout, [&] { return !running(); });
  }
  // Exit code (128 + signal when killed), once ended.
  std::optional<int> exit_code() const { return exit_code_; }
  std::string log() const { return slurp(log_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  fs::path log_;
};

// This process's environment with DISPLAY set to `display` and the X11 Qt backend forced, so
// a Wayland session around the test cannot take the window elsewhere.
std::vector<std::string> x11_environment(const std::string& display) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("DISPLAY=", 0) == 0 || entry.rfind("WAYLAND_DISPLAY=", 0) == 0 ||
        entry.rfind("QT_QPA_PLATFORM=", 0) == 0) {
      continue;
    }
    env.push_back(entry);
  }
  env.push_back("DISPLAY=" + display);
  env.push_back("QT_QPA_PLATFORM=xcb");
  return env;
}

// Reads the display number Xvfb writes to -displayfd once it accepts connections.
std::optional<std::string> read_display_number(int fd, std::chrono::milliseconds timeout) {
  std::string text;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(1, left.count()))) <= 0) continue;
    char buffer[32];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;  // Xvfb ended without naming a display
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.find('\n') != std::string::npos) return ":" + text.substr(0, text.find('\n'));
  }
  return std::nullopt;
}

// The top-level window of digitcam on `display` as an xdotool window id, if mapped.
std::optional<std::string> find_window(const std::string& display) {
  const auto r =
      shell("DISPLAY=" + display + " xdotool search --onlyvisible --name '^digitcam$' 2>/dev/null");
  std::stringstream lines(r.out);
  std::string id;
  if (r.exit_code != 0 || !std::getline(lines, id) || id.empty()) return std::nullopt;
  return id;
}

// The window's rectangle on the screen, from xdotool; empty when it cannot be read.
cv::Rect window_rect(const std::string& display, const std::string& window) {
  const auto r = shell("DISPLAY=" + display + " xdotool getwindowgeometry --shell " + window);
  int x = -1, y = -1, width = -1, height = -1;
  std::stringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    const int value = std::atoi(line.c_str() + eq + 1);
    if (key == "X") x = value;
    if (key == "Y") y = value;
    if (key == "WIDTH") width = value;
    if (key == "HEIGHT") height = value;
  }
  if (x < 0 || y < 0 || width <= 0 || height <= 0) return {};
  return cv::Rect(x, y, width, height) & cv::Rect(0, 0, screen_width, screen_height);
}

// The part of the screen under `area`, grabbed with ffmpeg into `png` and read back (BGR);
// empty on failure.
cv::Mat screenshot(const std::string& display, const cv::Rect& area, const fs::path& png) {
  const std::string command =
      "ffmpeg -nostdin -loglevel error -y -f x11grab -draw_mouse 0 -video_size " +
      std::to_string(screen_width) + "x" + std::to_string(screen_height) + " -i " + display +
      " -frames:v 1 '" + png.string() + "' 2>&1";
  if (shell(command).exit_code != 0) return {};
  const cv::Mat screen = cv::imread(png.string(), cv::IMREAD_COLOR);
  if (screen.empty() || area.empty()) return screen;
  return screen(area & cv::Rect(0, 0, screen.cols, screen.rows)).clone();
}

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

bool send_key(const std::string& display, const std::string& window, const std::string& key) {
  return shell("DISPLAY=" + display + " xdotool key --window " + window + " " + key + " 2>&1")
             .exit_code == 0;
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

  // Xvfb picks a free display itself and names it on the pipe once it accepts connections.
  int display_pipe[2];
  REQUIRE(::pipe(display_pipe) == 0);
  Child xvfb(find_tool("Xvfb"),
             {"-displayfd", std::to_string(display_pipe[1]), "-screen", "0",
              std::to_string(screen_width) + "x" + std::to_string(screen_height) + "x24",
              "-nolisten", "tcp"},
             x11_environment(""), folder.path(), folder / "xvfb.log", display_pipe[1]);
  const auto display = read_display_number(display_pipe[0], display_timeout);
  ::close(display_pipe[0]);
  REQUIRE_MESSAGE(display.has_value(), "Xvfb named no display within 10 s; its log:\n"
                                           << xvfb.log());
  INFO("X display " << *display);

  Child app(DIGITCAM_BINARY,
            {"run", video.string(), "--realtime", "--model", model.string(), "--json", "out.jsonl"},
            x11_environment(*display), folder.path(), folder / "digitcam.log");
  std::optional<std::string> window;
  wait_until(window_timeout, [&] {
    window = find_window(*display);
    return window.has_value() || !app.running();
  });
  REQUIRE_MESSAGE(
      window.has_value(),
      (app.running() ? std::string("no visible window named digitcam within 15 s")
                     : "digitcam ended (exit code " + std::to_string(app.exit_code().value_or(-1)) +
                           ") without showing a window")
          << "; its output:\n"
          << app.log());
  INFO("window " << *window << "; digitcam's output so far:\n" << app.log());

  // The window holds a frame with green boxes, and the HUD and toolbar make it not all black.
  cv::Rect area;
  cv::Mat shot;
  wait_until(annotated_timeout, [&] {
    area = window_rect(*display, *window);
    shot = screenshot(*display, area, folder / "shot.png");
    return green_pixels(shot) >= min_green_pixels || !app.running();
  });
  REQUIRE_MESSAGE(!shot.empty(), "ffmpeg took no screenshot of display " << *display);
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
  REQUIRE(send_key(*display, *window, "space"));
  std::this_thread::sleep_for(key_settle);
  const std::size_t lines_paused = line_count(json);
  const cv::Mat paused_first = screenshot(*display, area, folder / "paused-1.png");
  std::this_thread::sleep_for(paused_interval);
  const cv::Mat paused_second = screenshot(*display, area, folder / "paused-2.png");
  CHECK_MESSAGE(line_count(json) == lines_paused,
                "out.jsonl grew while paused: " << lines_paused << " -> " << line_count(json));
  CHECK_MESSAGE(same_image(paused_first, paused_second),
                "two screenshots 0.5 s apart differ while paused");

  // s writes the frame on screen to the working folder.
  REQUIRE(send_key(*display, *window, "s"));
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
  REQUIRE(send_key(*display, *window, "q"));
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
