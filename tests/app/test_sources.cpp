#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/app/sources.hpp"
#include "digitcam/engine/error.hpp"
#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

using digitcam::SourceError;
using digitcam::app::Frame;
using digitcam::app::open_source;
using digitcam::app::SourceOptions;
using digitcam::test::TempFolder;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double age_ms(const Frame& frame) {
  return std::chrono::duration<double, std::milli>(Clock::now() - frame.captured).count();
}

// The SourceError message of open_source(spec), or "" when it opened.
std::string open_error(const std::string& spec, const SourceOptions& options = {}) {
  try {
    open_source(spec, options);
  } catch (const SourceError& e) {
    return e.what();
  }
  return "";
}

// The SourceError message of opening spec and reading its first frame, or "" when both worked.
std::string open_and_read_error(const std::string& spec) {
  try {
    Frame frame;
    open_source(spec)->read(frame);
  } catch (const SourceError& e) {
    return e.what();
  }
  return "";
}

// Frame counters drawn as 16 black/white blocks along the top, so a test can tell which frame it
// got even after JPEG.
constexpr int counter_bits = 16;
constexpr int counter_block = 20;

cv::Mat counter_frame(int counter) {
  cv::Mat image(240, 320, CV_8UC3, cv::Scalar(60, 60, 60));
  for (int bit = 0; bit < counter_bits; ++bit) {
    const cv::Scalar value = (counter >> bit) & 1 ? cv::Scalar::all(255) : cv::Scalar::all(0);
    image(cv::Rect(bit * counter_block, 0, counter_block, counter_block)).setTo(value);
  }
  return image;
}

int read_counter(const cv::Mat& image) {
  int counter = 0;
  for (int bit = 0; bit < counter_bits; ++bit) {
    const cv::Rect block(bit * counter_block + 5, 5, counter_block - 10, counter_block - 10);
    if (cv::mean(image(block))[0] > 128) counter |= 1 << bit;
  }
  return counter;
}

// An MJPEG-over-HTTP camera on 127.0.0.1 (multipart/x-mixed-replace, as IP cameras serve it),
// pacing numbered frames in real time. kill() drops the connection and stops listening, as a
// camera that loses power would.
class MjpegServer {
 public:
  explicit MjpegServer(double fps) : interval_(std::chrono::duration<double>(1.0 / fps)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listen_fd_, 4) == 0);
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~MjpegServer() { kill(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/video.mjpg"; }

  void kill() {
    if (stop_.exchange(true)) return;
    thread_.join();
    ::close(listen_fd_);
  }

  // When frame `counter` was sent; nullopt if it was not.
  std::optional<Clock::time_point> sent(int counter) {
    std::lock_guard lock(mutex_);
    const auto it = sent_.find(counter);
    if (it == sent_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void serve() {
    int counter = 0;
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      char request[4096];
      (void)::recv(client, request, sizeof request, 0);  // the GET; its content does not matter
      const std::string header =
          "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n"
          "Cache-Control: no-cache\r\n\r\n";
      bool ok = send_all(client, header);
      auto next = Clock::now();
      while (ok && !stop_) {
        std::vector<uchar> jpeg;
        cv::imencode(".jpg", counter_frame(counter), jpeg);
        const std::string part = "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                 std::to_string(jpeg.size()) + "\r\n\r\n";
        {
          std::lock_guard lock(mutex_);
          sent_[counter] = Clock::now();
        }
        ok = send_all(client, part) &&
             send_all(client, std::string(jpeg.begin(), jpeg.end()) + "\r\n");
        ++counter;
        next += std::chrono::duration_cast<Clock::duration>(interval_);
        std::this_thread::sleep_until(next);
      }
      ::close(client);
    }
  }

  static bool send_all(int fd, const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  std::chrono::duration<double> interval_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::map<int, Clock::time_point> sent_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
int closed_port() {
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

void write_garbage(const std::filesystem::path& path, std::size_t bytes) {
  std::mt19937 rng(7);
  std::ofstream out(path, std::ios::binary);
  for (std::size_t i = 0; i < bytes; ++i) out.put(static_cast<char>(rng() & 0xff));
}

// A small MJPG .avi whose frame i is filled with gray level 10 * i.
void write_video(const std::string& path, int frames, double fps) {
  cv::VideoWriter writer(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                         cv::Size(64, 48));
  REQUIRE(writer.isOpened());
  for (int i = 0; i < frames; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(10 * i)));
}

constexpr const char* test_pipeline =
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! "
    "videoconvert ! appsink";

}  // namespace

TEST_CASE("sources: a folder of images is read in name order, with each file's name") {
  TempFolder folder("sources-folder");
  const std::vector<std::string> names = {"b.png", "a.jpg", "c.bmp", "A.PNG"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    cv::imwrite((folder / names[i]).string(),
                cv::Mat(20, 30, CV_8UC3, cv::Scalar::all(static_cast<double>(40 * i))));
  }
  std::ofstream(folder / "notes.txt") << "not an image";
  std::filesystem::create_directory(folder / "sub.png");  // a folder, not an image
  auto source = open_source(folder.path().string());
  CHECK_FALSE(source->live());
  std::vector<std::string> got;
  Frame frame;
  while (source->read(frame)) {
    CHECK(frame.image.size() == cv::Size(30, 20));
    CHECK(frame.image.type() == CV_8UC3);
    CHECK(frame.index == static_cast<std::int64_t>(got.size()));
    got.push_back(frame.name);
  }
  CHECK(got == std::vector<std::string>{"A.PNG", "a.jpg", "b.png", "c.bmp"});
  CHECK(source->warning().empty());
}

TEST_CASE("sources: a single image file gives one frame named after it") {
  TempFolder folder("sources-image");
  const auto path = folder / "digit.png";
  cv::imwrite(path.string(), cv::Mat(10, 12, CV_8UC1, cv::Scalar(255)));
  auto source = open_source(path.string());
  Frame frame;
  REQUIRE(source->read(frame));
  CHECK(frame.name == "digit.png");
  CHECK(frame.image.channels() == 3);  // gray files still arrive as BGR
  CHECK_FALSE(source->read(frame));
}

TEST_CASE("sources: a video file gives every frame, in order, with its time") {
  TempFolder folder("sources-video");
  const std::string path = (folder / "clip.avi").string();
  write_video(path, 20, 25.0);
  auto source = open_source(path);
  CHECK_FALSE(source->live());
  CHECK(source->fps() == doctest::Approx(25.0));
  CHECK(source->describe().find("clip.avi") != std::string::npos);
  Frame frame;
  int count = 0;
  while (source->read(frame)) {
    CAPTURE(count);
    CHECK(frame.index == count);
    CHECK(frame.time_ms == doctest::Approx(count * 40.0).epsilon(0.01));
    CHECK(cv::mean(frame.image)[0] == doctest::Approx(10.0 * count).epsilon(0.05));
    ++count;
  }
  CHECK(count == 20);
  CHECK(source->dropped() == 0);
  CHECK(source->warning().empty());
}

namespace {

// A file-like source of `count` numbered frames that fails with a SourceError at `fail_at`
// (never when negative), for the prefetcher.
class CountingSource final : public digitcam::app::Source {
 public:
  CountingSource(int count, int fail_at) : count_(count), fail_at_(fail_at) {}
  bool read(Frame& frame) override {
    if (next_ == fail_at_) throw SourceError("frame " + std::to_string(next_) + " is damaged");
    if (next_ == count_) return false;
    frame.image = cv::Mat(2, 2, CV_8UC3, cv::Scalar::all(next_));
    frame.index = next_++;
    return true;
  }
  bool live() const override { return false; }
  std::string describe() const override { return "counting"; }
  double fps() const override { return 0; }
  int frames_read() const { return next_; }

 private:
  int count_, fail_at_, next_ = 0;
};

}  // namespace

TEST_CASE("sources: the prefetcher hands over every frame in order, even to a slow reader") {
  CountingSource source(50, -1);
  digitcam::app::Prefetcher prefetch(source, 3);
  Frame frame;
  int count = 0;
  while (prefetch.next(frame)) {
    CAPTURE(count);
    CHECK(frame.index == count);
    CHECK(frame.image.at<cv::Vec3b>(1, 1)[0] == count);
    if (count % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ++count;
  }
  CHECK(count == 50);
  CHECK_FALSE(prefetch.next(frame));
}

TEST_CASE("sources: the prefetcher gives the frames before a decoding error, then the error") {
  CountingSource source(50, 7);
  digitcam::app::Prefetcher prefetch(source);
  Frame frame;
  for (int i = 0; i < 7; ++i) {
    REQUIRE(prefetch.next(frame));
    CHECK(frame.index == i);
  }
  CHECK_THROWS_WITH_AS(prefetch.next(frame), "frame 7 is damaged", SourceError);
}

TEST_CASE("sources: a prefetcher dropped before the end stops without reading the rest") {
  CountingSource source(1000000, -1);
  {
    digitcam::app::Prefetcher prefetch(source, 4);
    Frame frame;
    REQUIRE(prefetch.next(frame));
  }  // joins its thread: a prefetcher waiting for room would hang here
  // One handed over, four queued, one read and waiting for room.
  CHECK(source.frames_read() <= 6);
}

TEST_CASE("sources: a realtime video keeps its pace and skips frames a slow reader misses") {
  TempFolder folder("sources-realtime");
  const std::string path = (folder / "clip.avi").string();
  write_video(path, 25, 50.0);  // half a second
  SourceOptions options;
  options.realtime = true;
  auto source = open_source(path, options);
  const auto start = Clock::now();
  Frame frame;
  int count = 0;
  std::int64_t last_index = -1;
  while (source->read(frame)) {
    CHECK(frame.index > last_index);
    last_index = frame.index;
    ++count;
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  const double elapsed = seconds_since(start);
  CAPTURE(count);
  CAPTURE(elapsed);
  CHECK(count < 25);
  CHECK(source->dropped() > 0);
  CHECK(count + source->dropped() == 25);
  CHECK(elapsed > 0.4);  // paced: not read as fast as it decodes
  CHECK(elapsed < 2.0);  // and not slowed down to the reader's pace
}

TEST_CASE("sources: a missing path is a SourceError that names it") {
  CHECK(open_error("/nonexistent/clip.mp4") == "no such file or folder: /nonexistent/clip.mp4");
}

TEST_CASE("sources: a file that is not a video is a SourceError that names it") {
  TempFolder folder("sources-garbage");
  write_garbage(folder / "x.avi", 4096);
  const std::string message = open_error((folder / "x.avi").string());
  CAPTURE(message);
  CHECK(message.find("x.avi") != std::string::npos);
}

TEST_CASE("sources: an empty folder and an unreadable image in a folder are SourceErrors") {
  TempFolder folder("sources-empty");
  const std::string message = open_error(folder.path().string());
  CAPTURE(message);
  CHECK(message.find(folder.path().string()) != std::string::npos);
  CHECK(message.find("no images") != std::string::npos);

  cv::imwrite((folder / "1.png").string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0)));
  write_garbage(folder / "2.png", 300);
  auto source = open_source(folder.path().string());
  Frame frame;
  CHECK(source->read(frame));
  try {
    source->read(frame);
    FAIL("no error for the damaged 2.png");
  } catch (const SourceError& e) {
    CHECK(std::string(e.what()).find("2.png") != std::string::npos);
  }
}

TEST_CASE("sources: a camera that is not there is a SourceError naming its index, quickly") {
  const auto start = Clock::now();
  const std::string message = open_error("97");
  CAPTURE(message);
  CHECK(message.find("camera 97") != std::string::npos);
  CHECK(seconds_since(start) < 5.0);
}

TEST_CASE("sources: a stream URL that does not answer is a SourceError within the timeout") {
  SourceOptions options;
  options.open_timeout_seconds = 1;

  const std::string refused = "http://127.0.0.1:" + std::to_string(closed_port()) + "/x.mjpg";
  auto start = Clock::now();
  std::string message = open_error(refused, options);
  CAPTURE(message);
  CHECK(message.find(refused) != std::string::npos);
  CHECK(seconds_since(start) < 3.0);

  // A server that accepts the connection (the kernel does, from the backlog) but never answers.
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(silent, 4) == 0);
  socklen_t length = sizeof address;
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string mute = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/x";
  start = Clock::now();
  message = open_error(mute, options);
  const double elapsed = seconds_since(start);
  ::close(silent);
  CAPTURE(message);
  CAPTURE(elapsed);
  CHECK(message.find(mute) != std::string::npos);
  CHECK(elapsed < 4.0);
}

TEST_CASE("sources: a live pipeline read slowly drops old frames and hands over fresh ones") {
  // tools/setup.sh installs GStreamer's base plugins (videotestsrc), so the pipeline must open:
  // a skip here would hide a broken open_pipeline.
  const std::unique_ptr<digitcam::app::Source> source = open_source(test_pipeline);
  CHECK(source->live());
  CHECK(source->fps() == doctest::Approx(30.0));
  constexpr double interval_ms = 1000.0 / 30.0;
  Frame frame;
  std::int64_t last_index = -1;
  std::vector<double> ages;
  for (int i = 0; i < 15; ++i) {
    REQUIRE(source->read(frame));
    ages.push_back(age_ms(frame));
    CHECK(frame.index > last_index);
    last_index = frame.index;
    CHECK(frame.image.size() == cv::Size(320, 240));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a slow consumer
  }
  CAPTURE(source->dropped());
  CHECK(source->dropped() > 0);
  CHECK(last_index > 20);  // the capture kept up with the pipeline meanwhile
  // Fresh: at most about a frame old when handed over, and not growing over time (a queue
  // would grow by ~70 ms a frame here). Loose bounds: the machine is shared and noisy.
  for (std::size_t i = 2; i < ages.size(); ++i) {
    CAPTURE(i);
    CHECK(ages[i] < 2 * interval_ms + 100.0);
  }
  source->stop();
  const auto start = Clock::now();
  CHECK_FALSE(source->read(frame));
  CHECK(seconds_since(start) < 1.0);
}

TEST_CASE("sources: a live stream read slowly hands over the newest frame the server sent") {
  MjpegServer server(30.0);
  SourceOptions options;
  options.open_timeout_seconds = 3;
  auto source = open_source(server.url(), options);
  CHECK(source->live());
  Frame frame;
  int last_counter = -1;
  std::vector<double> lags_ms;  // from the server's send to the consumer's hands
  for (int i = 0; i < 15; ++i) {
    REQUIRE(source->read(frame));
    const auto now = Clock::now();
    const int counter = read_counter(frame.image);
    CAPTURE(counter);
    CHECK(counter > last_counter);
    last_counter = counter;
    const auto sent = server.sent(counter);
    REQUIRE(sent.has_value());
    lags_ms.push_back(std::chrono::duration<double, std::milli>(now - *sent).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CAPTURE(source->dropped());
  CHECK(source->dropped() > 0);
  for (std::size_t i = 2; i < lags_ms.size(); ++i) {
    CAPTURE(i);
    CHECK(lags_ms[i] < 2 * 1000.0 / 30.0 + 150.0);
  }
}

TEST_CASE("sources: a live stream whose server dies ends within reconnect_seconds, saying why") {
  MjpegServer server(30.0);
  SourceOptions options;
  options.open_timeout_seconds = 1;
  options.reconnect_seconds = 1;
  auto source = open_source(server.url(), options);
  Frame frame;
  for (int i = 0; i < 5; ++i) REQUIRE(source->read(frame));
  server.kill();
  const auto start = Clock::now();
  while (source->read(frame)) {
    REQUIRE(seconds_since(start) < 10.0);
  }
  const double elapsed = seconds_since(start);
  CAPTURE(elapsed);
  CHECK(elapsed < 1.0 + 2 * options.open_timeout_seconds + 1.0);
  const std::string warning = source->warning();
  CHECK(warning ==
        "stream " + server.url() + " stopped delivering frames; gave up after 1 s of retries");
}

TEST_CASE("sources: a 1x1 picture, a 16-bit PNG and a 4-channel PNG read as 8-bit BGR frames") {
  TempFolder folder("sources-depths");
  cv::Mat deep(40, 30, CV_16UC1, cv::Scalar(60000));
  cv::rectangle(deep, cv::Rect(10, 10, 8, 20), cv::Scalar(1000), cv::FILLED);
  cv::Mat alpha(40, 30, CV_8UC4, cv::Scalar(250, 250, 250, 128));
  cv::rectangle(alpha, cv::Rect(10, 10, 8, 20), cv::Scalar(5, 5, 5, 255), cv::FILLED);
  REQUIRE(cv::imwrite((folder / "deep.png").string(), deep));
  REQUIRE(cv::imwrite((folder / "alpha.png").string(), alpha));
  REQUIRE(cv::imwrite((folder / "dot.png").string(), cv::Mat(1, 1, CV_8UC1, cv::Scalar(0))));
  for (const char* name : {"deep.png", "alpha.png", "dot.png"}) {
    CAPTURE(name);
    auto source = open_source((folder / name).string());
    Frame frame;
    REQUIRE(source->read(frame));
    CHECK(frame.image.type() == CV_8UC3);
    CHECK(frame.name == name);
    if (std::string(name) != "dot.png") {
      CHECK(frame.image.size() == cv::Size(30, 40));
      // The dark bar stays dark and the paper light once the depth and alpha are gone.
      CHECK(frame.image.at<cv::Vec3b>(20, 12)[0] < 40);
      CHECK(frame.image.at<cv::Vec3b>(2, 2)[0] > 200);
    } else {
      CHECK(frame.image.size() == cv::Size(1, 1));
    }
    CHECK_FALSE(source->read(frame));
  }
}

TEST_CASE("sources: a 20000x20000 picture is a SourceError naming its size, not 1.2 GB decoded") {
  // 76 KB of PNG that would unpack to 1.2 GB of BGR.
  const auto huge = digitcam::test::source_dir() / "tests/fixtures/images/blank_20000x20000.png";
  const std::string message = open_and_read_error(huge.string());
  CAPTURE(message);
  CHECK(message.find("blank_20000x20000.png") != std::string::npos);
  CHECK(message.find("20000x20000 (400 megapixels)") != std::string::npos);
  CHECK(message.find("scale it down") != std::string::npos);
}

TEST_CASE("sources: a video cut in the middle gives the frames before the cut and says so") {
  TempFolder folder("sources-cut");
  const auto demo = digitcam::test::source_dir() / "samples/demo.avi";
  const auto cut = folder / "cut.avi";
  std::filesystem::copy_file(demo, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(demo) / 2);
  auto source = open_source(cut.string());
  Frame frame;
  std::int64_t frames = 0;
  while (source->read(frame)) {
    CHECK(frame.index == frames);
    ++frames;
  }
  CAPTURE(frames);
  CHECK(frames > 50);
  CHECK(frames < 150);
  const std::string warning = source->warning();
  CHECK(warning.find("cut.avi ended after " + std::to_string(frames) + " of its announced 200") !=
        std::string::npos);
}

TEST_CASE("sources: a video whose header is damaged is read whole or refused with its name") {
  TempFolder folder("sources-header");
  const auto demo = digitcam::test::source_dir() / "samples/demo.avi";
  std::ifstream in(demo, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 4096);
  // The RIFF/AVI chunk headers and the main AVI header (frame count, size, streams).
  std::mt19937 rng(77);
  for (int round = 0; round < 6; ++round) {
    std::string damaged = bytes;
    const std::size_t start = round == 0 ? 0 : 12 + rng() % 200;
    for (std::size_t i = start; i < start + 32; ++i) damaged[i] = static_cast<char>(rng() & 0xFF);
    const auto path = folder / ("damaged" + std::to_string(round) + ".avi");
    std::ofstream(path, std::ios::binary)
        .write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
    CAPTURE(round);
    try {
      auto source = open_source(path.string());
      Frame frame;
      std::int64_t frames = 0;
      while (source->read(frame)) ++frames;
      CHECK(frames > 0);
      CHECK(frames <= 200);
      if (frames < 180)
        CHECK(source->warning().find(path.filename().string()) != std::string::npos);
    } catch (const SourceError& e) {
      CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
    }
  }
}
