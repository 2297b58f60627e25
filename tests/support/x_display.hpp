#pragma once
// End-to-end tests of digitcam's windows on a virtual X display: Xvfb is the display, xdotool
// finds windows, presses keys and moves the mouse, ffmpeg's x11grab takes screenshots. All three
// come from tools/setup.sh; a test that needs them fails (it does not skip) when one is missing.

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
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/run_binary.hpp"

extern char** environ;

namespace digitcam::test {

namespace x11_detail {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr auto poll_interval = 100ms;
constexpr auto display_timeout = 10s;
constexpr int display_attempts = 5;
}  // namespace x11_detail

// The full path of `tool` on PATH, or empty.
inline std::filesystem::path find_tool(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream folders(path != nullptr ? path : "/usr/bin:/bin");
  std::string folder;
  while (std::getline(folders, folder, ':')) {
    const std::filesystem::path candidate =
        std::filesystem::path(folder.empty() ? "." : folder) / tool;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// The stdout of a /bin/sh command line, and its exit code.
struct ShellResult {
  int exit_code = -1;
  std::string out;
};
inline ShellResult shell(const std::string& command) {
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

// Polls `ready` every 100 ms until it holds or `timeout` passes; returns the last answer.
inline bool wait_until(std::chrono::milliseconds timeout, const std::function<bool()>& ready) {
  const auto deadline = x11_detail::Clock::now() + timeout;
  for (;;) {
    if (ready()) return true;
    if (x11_detail::Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(x11_detail::poll_interval);
  }
}

// A child process, started with fork and exec, stdout and stderr into one log file. The
// destructor ends it if it still runs (SIGTERM, then SIGKILL after two seconds) and reaps it,
// so no test failure leaves an Xvfb or a digitcam behind.
class Child {
 public:
  // `keep_fd`: a descriptor the child inherits (Xvfb's -displayfd), closed here after the fork.
  Child(const std::filesystem::path& program, const std::vector<std::string>& arguments,
        const std::vector<std::string>& environment, const std::filesystem::path& folder,
        const std::filesystem::path& log, int keep_fd = -1)
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
    if (!wait_for(std::chrono::seconds(2))) {
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
  std::filesystem::path log_;
};

// This process's environment with DISPLAY set to `display` and the X11 Qt backend forced, so
// a Wayland session around the test cannot take the window elsewhere.
inline std::vector<std::string> x11_environment(const std::string& display) {
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
inline std::optional<std::string> read_display_number(int fd, std::chrono::milliseconds timeout) {
  std::string text;
  const auto deadline = x11_detail::Clock::now() + timeout;
  while (x11_detail::Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - x11_detail::Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(1, left.count()))) <= 0) continue;
    char buffer[32];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;  // Xvfb ended without naming a display
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.find('\n') != std::string::npos) return ":" + text.substr(0, text.find('\n'));
  }
  return std::nullopt;
}

// An Xvfb of its own, on a display number drawn at random from a high range rather than the
// first free one: on a shared machine another X server may own :0 in a way this process cannot
// see (a lock file in another /tmp), and a client would then reach that server instead. The
// display counts as ours only once xdotool reaches it and reads back our screen size; otherwise
// the next number is tried. name() is empty when no attempt worked; log() then says why.
class VirtualDisplay {
 public:
  VirtualDisplay(cv::Size screen, const std::filesystem::path& folder) : screen_(screen) {
    std::random_device entropy;
    std::uniform_int_distribution<int> display_number(1000, 29999);
    for (int attempt = 1; attempt <= x11_detail::display_attempts && name_.empty(); ++attempt) {
      const std::string candidate = ":" + std::to_string(display_number(entropy));
      log_ += "attempt " + std::to_string(attempt) + ", display " + candidate + ":\n";
      int display_pipe[2];
      if (::pipe(display_pipe) != 0) {
        log_ += "could not make a pipe\n";
        return;
      }
      xvfb_.reset();
      const auto xvfb_log = folder / ("xvfb-" + std::to_string(attempt) + ".log");
      xvfb_.emplace(find_tool("Xvfb"),
                    std::vector<std::string>{
                        candidate, "-displayfd", std::to_string(display_pipe[1]), "-screen", "0",
                        std::to_string(screen.width) + "x" + std::to_string(screen.height) + "x24",
                        "-nolisten", "tcp"},
                    x11_environment(""), folder, xvfb_log, display_pipe[1]);
      const auto named = read_display_number(display_pipe[0], x11_detail::display_timeout);
      ::close(display_pipe[0]);
      log_ += xvfb_->log();
      if (!named) continue;
      const auto geometry = shell("DISPLAY=" + *named + " xdotool getdisplaygeometry 2>&1").out;
      const std::string expected =
          std::to_string(screen.width) + " " + std::to_string(screen.height) + "\n";
      if (geometry == expected) {
        name_ = *named;
      } else {
        log_ += "xdotool on " + *named + " read '" + geometry + "', not '" + expected + "'\n";
      }
    }
  }

  const std::string& name() const { return name_; }
  cv::Size screen() const { return screen_; }
  // What each attempt printed, and the running Xvfb's output so far.
  std::string log() const { return log_ + (xvfb_ ? "now:\n" + xvfb_->log() : std::string()); }

  // The first visible window whose title matches the regular expression `title` (xdotool's
  // syntax, e.g. "^digitcam$"), as an xdotool window id.
  std::optional<std::string> find_window(const std::string& title) const {
    const auto r = shell("DISPLAY=" + name_ + " xdotool search --onlyvisible --name '" + title +
                         "' 2>/dev/null");
    std::stringstream lines(r.out);
    std::string id;
    if (r.exit_code != 0 || !std::getline(lines, id) || id.empty()) return std::nullopt;
    return id;
  }

  // The window's rectangle on the screen, from xdotool; empty when it cannot be read.
  cv::Rect window_rect(const std::string& window) const {
    const auto r = shell("DISPLAY=" + name_ + " xdotool getwindowgeometry --shell " + window);
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
    return cv::Rect(x, y, width, height) & cv::Rect(0, 0, screen_.width, screen_.height);
  }

  // The part of the screen under `area` (all of it when empty), grabbed with ffmpeg into `png`
  // and read back (BGR); empty on failure.
  cv::Mat screenshot(const cv::Rect& area, const std::filesystem::path& png) const {
    const std::string command =
        "ffmpeg -nostdin -loglevel error -y -f x11grab -draw_mouse 0 -video_size " +
        std::to_string(screen_.width) + "x" + std::to_string(screen_.height) + " -i " + name_ +
        " -frames:v 1 '" + png.string() + "' 2>&1";
    if (shell(command).exit_code != 0) return {};
    const cv::Mat screen = cv::imread(png.string(), cv::IMREAD_COLOR);
    if (screen.empty() || area.empty()) return screen;
    return screen(area & cv::Rect(0, 0, screen.cols, screen.rows)).clone();
  }

  // xdotool with `arguments` (already quoted for the shell) on this display; true on success.
  bool xdotool(const std::string& arguments) const {
    return shell("DISPLAY=" + name_ + " xdotool " + arguments + " 2>&1").exit_code == 0;
  }
  bool send_key(const std::string& window, const std::string& key) const {
    return xdotool("key --window " + window + " " + key);
  }

 private:
  cv::Size screen_;
  std::optional<Child> xvfb_;
  std::string name_;
  std::string log_;
};

}  // namespace digitcam::test
