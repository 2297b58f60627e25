// End to end: the real digitcam binary on the bundled samples and on real digit-free video,
// checking what it read against ground truth and that every output is complete.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

namespace {

using digitcam::test::run_digitcam;
using digitcam::test::slurp;
using digitcam::test::TempFolder;
namespace fs = std::filesystem;

// The targets the recognizer issue sets, and what the tests hold it to.
constexpr double min_read_rate = 0.97;  // digits read on footage like the samples
// False digits a frame on real digit-free video: the target of the not-a-digit issue (#5, 0.02;
// the recognizer issue asks 0.05). vtest.avi's first 300 frames give 1 (0.0033 a frame) with the
// committed model; the bound leaves room for decoders and machines.
constexpr double max_false_per_frame = 0.02;
constexpr int digit_free_frames = 300;

fs::path sample(const std::string& name) {
  return digitcam::test::source_dir() / "samples" / name;
}
std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every line a whole JSON object of the documented shape, frames numbered from 0 in order.
void check_json_lines(const std::string& text, std::size_t expected_frames) {
  const auto lines = lines_of(text);
  CHECK(lines.size() == expected_frames);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string head = "{\"frame\":" + std::to_string(i) + ",\"time_ms\":";
    CHECK_MESSAGE(lines[i].rfind(head, 0) == 0, "line " << i << ": " << lines[i]);
    CHECK_MESSAGE(lines[i].back() == '}', "line " << i << " is cut: " << lines[i]);
    CHECK(lines[i].find("\"digits\":[") != std::string::npos);
    CHECK(lines[i].find("\"numbers\":[") != std::string::npos);
  }
}

// "truth: read 1962/2000 digits (98.10%), 3 false digits (0.015 per frame), ..."
struct Score {
  long read = 0, total = 0, false_digits = 0;
  double rate() const {
    return total > 0 ? static_cast<double>(read) / static_cast<double>(total) : 0.0;
  }
};
Score score_of(const std::string& err) {
  std::smatch m;
  Score s;
  if (std::regex_search(err, m, std::regex(R"(read (\d+)/(\d+) digits .*?, (\d+) false digits)"))) {
    s.read = std::stol(m[1]);
    s.total = std::stol(m[2]);
    s.false_digits = std::stol(m[3]);
  }
  return s;
}

long count_digits(const std::string& json_lines) {
  long count = 0;
  for (std::size_t at = 0; (at = json_lines.find("\"label\":", at)) != std::string::npos; ++at) {
    ++count;
  }
  return count;
}

// Every line a whole JSON object of the documented shape, frame numbers rising (a live source
// may skip some). Returns the number of lines.
std::size_t check_live_json_lines(const std::string& text) {
  const auto lines = lines_of(text);
  long last = -1;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(i);
    CAPTURE(lines[i]);
    REQUIRE(lines[i].rfind("{\"frame\":", 0) == 0);
    CHECK(lines[i].back() == '}');
    CHECK(lines[i].find("\"numbers\":[") != std::string::npos);
    const long frame = std::stol(lines[i].substr(9));
    CHECK(frame > last);
    last = frame;
  }
  CHECK((text.empty() || text.back() == '\n'));
  return lines.size();
}

// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Whether something listens on 127.0.0.1:port, from /proc/net/tcp (connecting would use up the
// single client an ffmpeg server accepts).
bool listening(int port) {
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", port);
  std::istringstream table(slurp("/proc/net/tcp"));
  for (std::string line; std::getline(table, line);) {
    std::istringstream fields(line);
    std::string slot, address, remote, state;
    fields >> slot >> address >> remote >> state;
    if (address == local && state == "0A") return true;
  }
  return false;
}

// An MJPEG-over-HTTP camera on 127.0.0.1 served by ffmpeg from the sample video in real time
// (25 frames/s), looped `loops` times (-1: forever); one client, as ffmpeg's -listen 1 serves.
class FfmpegStream {
 public:
  explicit FfmpegStream(int loops) : port_(free_port()) {
    const std::string command = "exec ffmpeg -nostdin -loglevel error -re -stream_loop " +
                                std::to_string(loops) + " -i " + quoted(sample("demo.avi")) +
                                " -an -c:v mjpeg -q:v 5 -f mpjpeg -listen 1 " + url() +
                                " >/dev/null 2>&1";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !listening(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE_MESSAGE(listening(port_), "ffmpeg did not start serving " << url());
  }
  ~FfmpegStream() { kill(); }
  FfmpegStream(const FfmpegStream&) = delete;
  FfmpegStream& operator=(const FfmpegStream&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/cam.mjpg"; }
  // Stops the server at once, as a crashed camera or a pulled cable would.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

// Waits for a spawned digitcam up to `seconds`; kills it and fails the test past that.
int wait_at_most(pid_t pid, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(seconds)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("digitcam did not end within " << seconds << " s");
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void wait_for_lines(const fs::path& file, std::size_t count, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  while (lines_of(slurp(file)).size() < count) {
    REQUIRE_MESSAGE(
        std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds),
        file.string() << " did not reach " << count << " lines");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Resident memory (VmRSS, KiB) and open file descriptors of a process, from /proc.
struct ProcessUse {
  long rss_kib = 0;
  long fds = 0;
};
ProcessUse process_use(pid_t pid) {
  const fs::path proc = "/proc/" + std::to_string(pid);
  ProcessUse use;
  std::istringstream status(slurp(proc / "status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) use.rss_kib = std::stol(line.substr(6));
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator(proc / "fd", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++use.fds;
  }
  return use;
}

// run_digitcam with a file size limit (ulimit -f, 512-byte blocks) on the binary, which stands
// in for a disk filling up mid-run: past it write() fails with EFBIG as it would with ENOSPC.
digitcam::test::RunResult run_with_file_limit(int blocks, const std::string& arguments,
                                              const TempFolder& folder) {
  const auto out = folder / "limited.stdout", err = folder / "limited.stderr";
  const std::string command = "ulimit -f " + std::to_string(blocks) + "; exec '" +
                              std::string(DIGITCAM_BINARY) + "' " + arguments + " >" + quoted(out) +
                              " 2>" + quoted(err) + " </dev/null";
  const int status = std::system(command.c_str());
  digitcam::test::RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

fs::path onnx_fixture(const std::string& name) {
  return digitcam::test::source_dir() / "tests/fixtures/onnx" / name;
}

}  // namespace

TEST_CASE("run: reads the sample video's digits against ground truth, every frame in JSON") {
  TempFolder folder("run-demo");
  const auto json = folder / "demo.jsonl";
  const auto r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --truth " +
                              quoted(sample("demo.truth.jsonl")) + " --json " + quoted(json));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const Score s = score_of(r.err);
  REQUIRE_MESSAGE(s.total > 0, r.err);
  CHECK_MESSAGE(s.rate() >= min_read_rate, r.err);
  check_json_lines(slurp(json), 200);
  CHECK(r.err.find("frames 200") != std::string::npos);
}

TEST_CASE("run: other writers' digits (OpenCV's sheet, never trained on) are read as well") {
  // The samples are written with MNIST's test digits; held-out footage has other hands. The
  // samples' generator writes the same kind of clip with the digits of OpenCV's sheet, on four
  // seeds (cards, numbers and motion) in front of both real videos.
  if (!digitcam::test::have_digits_sheet() || !fs::exists(digitcam::test::megamind_video_path())) {
    MESSAGE("opencv-doc's digits.png or Megamind.avi absent: run tools/setup.sh");
    return;
  }
  TempFolder folder("run-other-hands");
  Score all;
  std::string summaries;
  for (int seed = 1; seed <= 4; ++seed) {
    const auto clip = folder / ("seed" + std::to_string(seed));
    const auto background =
        seed % 2 == 1 ? digitcam::test::vtest_video_path() : digitcam::test::megamind_video_path();
    const auto made = digitcam::test::run_program(
        DIGITCAM_MAKE_SAMPLES, "--only demo --frames 60 --seed " + std::to_string(seed) +
                                   " --digits-sheet " +
                                   quoted(digitcam::test::digits_sheet_path()) + " --background " +
                                   quoted(background) + " --output " + quoted(clip));
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    const auto r = run_digitcam("run " + quoted(clip / "demo.avi") + " --headless --truth " +
                                quoted(clip / "demo.truth.jsonl"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const Score s = score_of(r.err);
    REQUIRE_MESSAGE(s.total > 0, r.err);
    summaries += "seed " + std::to_string(seed) + ": " + r.err;
    all.read += s.read;
    all.total += s.total;
    all.false_digits += s.false_digits;
  }
  CHECK_MESSAGE(all.rate() >= min_read_rate, summaries);
  CHECK_MESSAGE(static_cast<double>(all.false_digits) / (4 * 60) <= max_false_per_frame, summaries);
}

TEST_CASE("make_samples: a bad digits sheet or colour ends in one line, writing nothing") {
  TempFolder folder("make-samples-bad");
  const auto output = folder / "out";
  const auto not_a_sheet = folder / "small.png";
  cv::imwrite(not_a_sheet.string(), cv::Mat(20, 30, CV_8UC1, cv::Scalar(0)));
  std::ofstream(folder / "bad.png") << "not a picture";
  struct Case {
    std::string arguments, message;
    int exit_code;
  };
  const std::vector<Case> cases = {
      {"--digits-sheet " + quoted(folder / "none.png"), "digits sheet not found", 1},
      {"--digits-sheet " + quoted(folder / "bad.png"), "cannot read digits sheet", 1},
      {"--digits-sheet " + quoted(not_a_sheet), "is 30x20, expected 2000x1000", 1},
      {"--ink purple", "--ink takes blue, black, red, pencil, not purple", 2},
      {"--paper grey", "--paper takes white, yellow, blue, pink, green, not grey", 2},
      {"--digit-height 5", "--digit-height must be 12..400", 2},
      {"--roll 90", "--roll must be -60..60", 2},
      {"--light dim", "--light needs a number, not dim", 2},
  };
  for (const Case& c : cases) {
    CAPTURE(c.arguments);
    const auto r =
        digitcam::test::run_program(DIGITCAM_MAKE_SAMPLES, "--only demo --frames 2 --output " +
                                                               quoted(output) + " " + c.arguments);
    CHECK(r.exit_code == c.exit_code);
    CHECK_MESSAGE(r.err.rfind("make_samples: ", 0) == 0, r.err);
    CHECK_MESSAGE(r.err.find(c.message) != std::string::npos, r.err);
    CHECK_FALSE(fs::exists(output));
  }
}

TEST_CASE("run: the stills are read, in both polarities, at several resolutions") {
  Score all;
  for (const auto& entry : fs::directory_iterator(sample("stills"))) {
    if (entry.path().extension() != ".png") continue;
    // Ruled paper: digits touching the lines join them and are lost by default (0 of 10 read);
    // segmentation.erase_ruled_lines reads them (below).
    if (entry.path().filename() == "card_ruled_shadow.png") continue;
    const auto truth = fs::path(entry.path()).replace_extension(".truth.json");
    const auto r =
        run_digitcam("run " + quoted(entry.path()) + " --headless --truth " + quoted(truth));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const Score s = score_of(r.err);
    CHECK_MESSAGE(s.rate() >= 0.8, entry.path().filename().string() << ": " << r.err);
    all.read += s.read;
    all.total += s.total;
  }
  REQUIRE(all.total > 0);
  CHECK_MESSAGE(all.rate() >= 0.9, all.read << "/" << all.total);
}

TEST_CASE("run: digits on ruled paper are read with segmentation.erase_ruled_lines") {
  // A calibration file with that one key (the rest falls back to the defaults, with a warning).
  TempFolder folder("run-ruled");
  const auto calibration = folder / "ruled.yml";
  std::ofstream(calibration) << "%YAML:1.0\n---\nsegmentation:\n   erase_ruled_lines: 1\n";
  const auto still = sample("stills/card_ruled_shadow.png");
  const auto truth = sample("stills/card_ruled_shadow.truth.json");
  const auto r = run_digitcam("run " + quoted(still) + " --headless --truth " + quoted(truth) +
                              " --calibration " + quoted(calibration));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const Score s = score_of(r.err);
  REQUIRE_MESSAGE(s.total == 10, r.err);
  CHECK_MESSAGE(s.rate() >= 0.8, r.err);
}

TEST_CASE("run: real digit-free video gives almost no false digits") {
  if (!fs::exists(digitcam::test::vtest_video_path())) {
    MESSAGE("vtest.avi absent (opencv-doc not installed): run tools/setup.sh");
    return;
  }
  const auto r =
      run_digitcam("run " + quoted(digitcam::test::vtest_video_path()) +
                   " --headless --json - --max-frames " + std::to_string(digit_free_frames));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  check_json_lines(r.out, digit_free_frames);
  const double per_frame = static_cast<double>(count_digits(r.out)) / digit_free_frames;
  CHECK_MESSAGE(per_frame <= max_false_per_frame, per_frame << " false digits per frame");
}

TEST_CASE("run: a photo of one digit prints the digit and its confidence, any size or polarity") {
  const auto lines = lines_of(slurp(sample("photo/truth.csv")));
  REQUIRE(lines.size() > 1);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto comma = lines[i].find(',');
    const std::string file = lines[i].substr(0, comma), label = lines[i].substr(comma + 1);
    const auto r = run_digitcam("run " + quoted(sample("photo/" + file)) + " --headless");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(std::regex_search(r.out, std::regex(file + ": " + label + R"( \(\d+\.\d%\))")),
                  file << " printed: " << r.out);
  }
}

TEST_CASE("run: a folder prints one line per file and writes CSV and an annotated picture") {
  TempFolder folder("run-folder");
  const auto csv = folder / "digits.csv", picture = folder / "annotated.png";
  const auto r = run_digitcam("run " + quoted(sample("photo")) + " --headless --csv " +
                              quoted(csv) + " --output " + quoted(picture));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto printed = lines_of(r.out);
  CHECK(printed.size() == 3);
  const auto rows = lines_of(slurp(csv));
  REQUIRE(rows.size() >= 4);
  CHECK(rows[0] == "file,frame,label,confidence,x,y,w,h");
  CHECK(fs::file_size(picture) > 1000);
}

TEST_CASE("run: bad input ends in one clear line and a documented exit code") {
  TempFolder folder("run-bad");
  auto r = run_digitcam("run " + quoted(folder / "missing.avi") + " --headless");
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("missing.avi") != std::string::npos);
  {
    std::ofstream junk(folder / "junk.avi");
    junk << "not a video at all";
  }
  r = run_digitcam("run " + quoted(folder / "junk.avi") + " --headless");
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("junk.avi") != std::string::npos);
  r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --model " +
                   quoted(folder / "none.onnx"));
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("none.onnx") != std::string::npos);
  r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --reject 3");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--reject") != std::string::npos);
  r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --json /nonexistent/x.jsonl");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("/nonexistent/x.jsonl") != std::string::npos);
  {
    std::ofstream bad(folder / "bad.yml");
    bad << "%YAML:1.0\n---\ndecision:\n   reject_threshold: 7\n";
  }
  r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --calibration " +
                   quoted(folder / "bad.yml"));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("reject_threshold") != std::string::npos);
  r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --calibration " +
                   quoted(folder / "nope.yml"));
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("nope.yml") != std::string::npos);
  for (const auto& [args, name] :
       {std::pair{"run --headless --truth " + quoted(folder / "junk.avi") + " " +
                      quoted(sample("demo.avi")),
                  "junk.avi"}}) {
    r = run_digitcam(args);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find(name) != std::string::npos);
  }
}

TEST_CASE("run: SIGTERM mid-run ends cleanly with complete JSON lines (exit 130)") {
  TempFolder folder("run-signal");
  const auto json = folder / "cut.jsonl", out = folder / "stdout", err = folder / "stderr";
  // --realtime paces the 8 s sample, so the signal lands mid-run; it is sent once frames flow
  // (not after a fixed delay: a sanitizer build starts several times slower).
  const pid_t pid = digitcam::test::spawn_digitcam(
      "run " + quoted(sample("demo.avi")) + " --headless --realtime --json " + quoted(json), out,
      err);
  wait_for_lines(json, 5, 120.0);
  ::kill(pid, SIGTERM);
  const int exit_code = wait_at_most(pid, 60.0);
  CHECK_MESSAGE(exit_code == 130, "digitcam's stderr:\n" << slurp(err));
  const std::string text = slurp(json);
  const auto lines = lines_of(text);
  CHECK(lines.size() >= 5);
  CHECK(lines.size() < 200);
  check_live_json_lines(text);                             // --realtime may drop frames when behind
  CHECK(slurp(err).find("frames ") != std::string::npos);  // the summary was still printed
}

TEST_CASE("run: every broken model ends in one line naming the file, exit code 4") {
  const auto photo = sample("photo/2_big.png");
  for (const char* name : {"empty.onnx", "truncated.onnx", "random_bytes.onnx",
                           "unsupported_op.onnx", "wrong_input_shape.onnx", "absurd_dims.onnx",
                           "huge_padding.onnx", "nan_weights.onnx", "not_a_chain.onnx"}) {
    CAPTURE(name);
    const auto r =
        run_digitcam("run " + quoted(photo) + " --headless --model " + quoted(onnx_fixture(name)));
    CAPTURE(r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.out.empty());
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.rfind("digitcam: ", 0) == 0);
    CHECK(r.err.find(name) != std::string::npos);
  }
}

TEST_CASE("run: pictures of any depth, channel count and size are read or refused cleanly") {
  TempFolder folder("run-pictures");
  const auto digit = digitcam::test::mnist_test_digit(1);  // a 2
  if (!digit) {
    MESSAGE("MNIST absent (run tools/setup.sh): skipped");
    return;
  }
  // Dark ink on light paper with a margin, once as 16-bit grey and once as BGRA.
  cv::Mat ink(28, 28, CV_8UC1, const_cast<std::uint8_t*>(digit->pixels.data()));
  cv::Mat paper;
  cv::copyMakeBorder(255 - ink, paper, 40, 40, 40, 40, cv::BORDER_CONSTANT, cv::Scalar(255));
  cv::resize(paper, paper, cv::Size(), 3, 3, cv::INTER_CUBIC);
  cv::Mat deep, alpha;
  paper.convertTo(deep, CV_16U, 257.0);
  cv::cvtColor(paper, alpha, cv::COLOR_GRAY2BGRA);
  REQUIRE(cv::imwrite((folder / "deep.png").string(), deep));
  REQUIRE(cv::imwrite((folder / "alpha.png").string(), alpha));
  REQUIRE(cv::imwrite((folder / "dot.png").string(), cv::Mat(1, 1, CV_8UC1, cv::Scalar(0))));
  for (const char* name : {"deep.png", "alpha.png"}) {
    const auto r = run_digitcam("run " + quoted(folder / name) + " --headless");
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind(std::string(name) + ": 2 (", 0) == 0);
  }
  auto r = run_digitcam("run " + quoted(folder / "dot.png") + " --headless");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "dot.png: no digit\n");

  const auto huge = digitcam::test::source_dir() / "tests/fixtures/images/blank_20000x20000.png";
  const auto json = folder / "huge.jsonl";
  r = run_digitcam("run " + quoted(huge) + " --headless --json " + quoted(json));
  CAPTURE(r.err);
  CHECK(r.exit_code == 5);
  CHECK(lines_of(r.err).back().find("20000x20000 (400 megapixels)") != std::string::npos);
  CHECK(slurp(json).empty());  // created at the start, nothing half-written in it
}

TEST_CASE("run: a video cut short gives complete JSON lines for the frames it had and says so") {
  TempFolder folder("run-cut");
  const auto cut = folder / "cut.avi";
  fs::copy_file(sample("demo.avi"), cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  const auto json = folder / "cut.jsonl";
  const auto r = run_digitcam("run " + quoted(cut) + " --headless --json " + quoted(json));
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  const auto lines = lines_of(slurp(json));
  CHECK(lines.size() > 50);
  check_json_lines(slurp(json), lines.size());
  CHECK(r.err.find("cut.avi ended after " + std::to_string(lines.size()) + " of its announced") !=
        std::string::npos);
  // FFmpeg's own decoder messages stay out of digitcam's stderr.
  CHECK(r.err.find("Error at MB") == std::string::npos);
  CHECK(r.err.find("[mpeg4") == std::string::npos);
}

TEST_CASE("run: outputs that cannot be written fail at the start or keep what was written") {
  TempFolder folder("run-outputs");
  const std::string demo = "run " + quoted(sample("demo.avi")) + " --headless --max-frames 60";
  // A full device: the first line cannot be written.
  auto r = run_digitcam(demo + " --json /dev/full");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("cannot write JSON lines to /dev/full: No space left on device") !=
        std::string::npos);
  // A folder nobody may create files in (sysfs), before any frame is read.
  r = run_digitcam(demo + " --json /sys/digitcam.jsonl");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("/sys/digitcam.jsonl") != std::string::npos);
  CHECK(r.err.find("frames ") == std::string::npos);

  // The disk fills mid-run (a file size limit of 8 KiB stands in for it): the JSON lines file
  // keeps every whole line written before, and the run says what happened.
  const auto json = folder / "full.jsonl";
  r = run_with_file_limit(16, demo + " --json " + quoted(json), folder);
  CAPTURE(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("File too large") != std::string::npos);
  const std::string text = slurp(json);
  CHECK(text.size() <= 8192);
  CHECK(lines_of(text).size() > 5);
  check_json_lines(text, lines_of(text).size());

  // The same for the annotated video: OpenCV's writer drops the error, the closing check finds it.
  const auto video = folder / "full.avi";
  r = run_with_file_limit(200, demo + " --output " + quoted(video), folder);
  CAPTURE(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("full.avi is incomplete") != std::string::npos);
}

TEST_CASE("run: an annotated output that cannot be written fails at the start, creating nothing") {
  TempFolder folder("run-output-start");
  const auto json = folder / "out.jsonl";
  const std::string demo =
      "run " + quoted(sample("demo.avi")) + " --headless --json " + quoted(json) + " --output ";
  // One line, exit 3, before the source is read and before the JSON lines file is created (so
  // no empty or one-line JSON file stays behind).
  const auto refused = [&](const std::string& output, const std::string& says) {
    CAPTURE(output);
    const auto r = run_digitcam(demo + quoted(fs::path(output)));
    CAPTURE(r.err);
    CHECK(r.exit_code == 3);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.rfind("digitcam: cannot write ", 0) == 0);
    CHECK(r.err.find(output) != std::string::npos);
    CHECK(r.err.find(says) != std::string::npos);
    CHECK(r.err.find("reading") == std::string::npos);
    CHECK(r.err.find("frames ") == std::string::npos);
    CHECK_FALSE(fs::exists(json));
    std::error_code ec;
    CHECK_FALSE(fs::exists(output, ec));
  };
  refused("/nonexistent-digitcam-folder/out.avi", "check the folder exists and is writable");
  // sysfs lets nobody, root included, create a file.
  refused("/sys/digitcam.avi", "cannot create a file in /sys");
  refused("/sys/digitcam.png", "cannot create a file in /sys");  // a picture output alike
  const auto file = folder / "plain.txt";
  std::ofstream(file) << "not a folder\n";
  refused((file / "out.mp4").string(), "cannot create a file in");
  // A folder where the file should be.
  fs::create_directory(folder / "taken.avi");
  {
    const auto r = run_digitcam(demo + quoted(folder / "taken.avi"));
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("taken.avi: it is a folder") != std::string::npos);
    CHECK_FALSE(fs::exists(json));
  }
  // A read-only folder refuses new files to everyone but root (the probe is root's sysfs case).
  if (::geteuid() != 0) {
    const auto locked = folder / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    refused((locked / "out.avi").string(), "Permission denied");
    fs::permissions(locked, fs::perms::owner_all);
  }
  // An extension that is neither a video nor a picture is a usage error, also at the start.
  auto r = run_digitcam(demo + quoted(folder / "out.xyz"));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown extension") != std::string::npos);
  CHECK_FALSE(fs::exists(json));
  CHECK_FALSE(fs::exists(folder / "out.xyz"));

  // The check creates nothing: a writable folder holds only what the run wrote.
  const auto video = folder / "good.avi";
  r = run_digitcam("run " + quoted(sample("demo.avi")) + " --headless --max-frames 5 --json " +
                   quoted(json) + " --output " + quoted(video));
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  check_json_lines(slurp(json), 5);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder.path())) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"good.avi", "out.jsonl", "plain.txt", "taken.avi"});
}

TEST_CASE("run: a live stream whose ffmpeg server is killed retries, then ends with whole lines") {
  TempFolder folder("run-live");
  FfmpegStream server(-1);
  const auto json = folder / "live.jsonl", out = folder / "stdout", err = folder / "stderr";
  const pid_t pid = digitcam::test::spawn_digitcam(
      "run " + server.url() + " --headless --reconnect 2 --json " + quoted(json), out, err);
  wait_for_lines(json, 10, 60.0);
  server.kill();
  const int exit_code = wait_at_most(pid, 60.0);
  const std::string errors = slurp(err);
  CAPTURE(errors);
  CHECK(exit_code == 0);
  CHECK(errors.find("stopped delivering frames; gave up after 2 s of retries") !=
        std::string::npos);
  CHECK(check_live_json_lines(slurp(json)) >= 10);
  CHECK(errors.find("frames ") != std::string::npos);  // the summary
}

// Memory and descriptors over a long run on a looped live stream. CI runs it for 40 s;
// tools/soak.sh runs it for 30 minutes (DIGITCAM_SOAK_SECONDS=1800). After a warm-up of a quarter
// of the run (at least 10 s: model, buffers and FFmpeg's pools reach their size), resident memory
// must grow by less than 5% and no file descriptor may be left open.
TEST_CASE("soak: a looped live stream keeps memory flat and leaks no file descriptor") {
  constexpr double default_seconds = 40.0, min_warm_up = 10.0, max_growth = 0.05;
  const char* env = std::getenv("DIGITCAM_SOAK_SECONDS");
  const double seconds = env != nullptr ? std::atof(env) : default_seconds;
  const double warm_up = std::max(min_warm_up, seconds / 4);
  TempFolder folder("run-soak");
  FfmpegStream server(-1);
  const auto json = folder / "soak.jsonl", out = folder / "stdout", err = folder / "stderr";
  const pid_t pid = digitcam::test::spawn_digitcam(
      "run " + server.url() + " --headless --json " + quoted(json), out, err);
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  while (elapsed() < warm_up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const ProcessUse warm = process_use(pid);
  ProcessUse peak = warm;
  while (elapsed() < seconds) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const ProcessUse now = process_use(pid);
    peak.rss_kib = std::max(peak.rss_kib, now.rss_kib);
    peak.fds = std::max(peak.fds, now.fds);
  }
  const ProcessUse end = process_use(pid);
  ::kill(pid, SIGTERM);
  const int exit_code = wait_at_most(pid, 30.0);
  const std::size_t frames = check_live_json_lines(slurp(json));
  MESSAGE("soak " << seconds << " s: " << frames << " frames; resident " << warm.rss_kib
                  << " KiB after " << warm_up << " s warm-up, " << end.rss_kib
                  << " KiB at the end (peak " << peak.rss_kib << "); descriptors " << warm.fds
                  << " -> " << end.fds << " (peak " << peak.fds << ")");
  CHECK(exit_code == 130);
  CHECK(frames > 0);
  REQUIRE(warm.rss_kib > 0);
  CHECK(static_cast<double>(end.rss_kib) < (1.0 + max_growth) * static_cast<double>(warm.rss_kib));
  CHECK(end.fds <= warm.fds);
}
