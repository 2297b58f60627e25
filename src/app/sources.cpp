#include "digitcam/app/sources.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/picture_size.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;
using Milliseconds = std::chrono::duration<double, std::milli>;

// --- Tuning constants -------------------------------------------------------------------------
// Reconnect backoff of live sources: the first retry comes quickly (a USB hiccup or a restarted
// server is usually back within a fraction of a second), later ones ease off so a dead device is
// not hammered; the total is bounded by SourceOptions::reconnect_seconds.
constexpr double initial_backoff_seconds = 0.1;
constexpr double max_backoff_seconds = 2.0;
// A live source whose capture call hangs (a stalled GStreamer pipeline has no read timeout) is
// given up after reconnect_seconds plus this many open timeouts without a new frame.
constexpr double stall_open_timeouts = 2.0;
// ... but never waits longer than a day, whatever the options say (keeps clock arithmetic finite).
constexpr double max_stall_seconds = 24 * 3600.0;
// How long a destroyed live source waits for its capture thread before leaving it detached
// (it may be stuck inside a backend call that cannot be interrupted).
constexpr double join_grace_seconds = 2.0;
// Drivers queue frames; one buffered frame keeps camera latency at a frame interval.
constexpr double camera_buffer_frames = 1;
// A video that ends before this share of its announced frame count was probably cut short.
// (FFmpeg estimates the count from duration and rate, so it is not exact.)
constexpr double truncated_video_share = 0.9;
// Image formats a folder source reads (lower case, with the dot).
constexpr const char* image_extensions[] = {".png",  ".jpg",  ".jpeg", ".bmp", ".tif",
                                            ".tiff", ".webp", ".pgm",  ".ppm"};
// -----------------------------------------------------------------------------------------------

std::string seconds_text(double seconds) {
  std::ostringstream s;
  s << seconds;
  return s.str();
}

bool all_digits(const std::string& spec) {
  return !spec.empty() &&
         std::all_of(spec.begin(), spec.end(), [](unsigned char c) { return std::isdigit(c); });
}

// cv::imread with the size checked first; SourceError naming the file when it is too large to
// read or does not decode.
cv::Mat read_image(const fs::path& path) {
  train::CheckedPicture picture = train::read_picture(path, cv::IMREAD_COLOR);
  if (picture.too_large) throw SourceError(train::too_large_message(path, *picture.too_large));
  if (picture.image.empty()) {
    throw SourceError("cannot read image " + path.string() +
                      " (damaged, or not an image); fix or remove it");
  }
  return picture.image;
}

// Files: every frame in order, nothing dropped.

class ImageFilesSource final : public Source {
 public:
  ImageFilesSource(std::vector<fs::path> files, std::string what, double fps)
      : files_(std::move(files)), what_(std::move(what)), fps_(fps) {}

  bool read(Frame& frame) override {
    if (next_ >= files_.size()) return false;
    const fs::path& path = files_[next_];
    cv::Mat image = read_image(path);
    const auto index = static_cast<std::int64_t>(next_++);
    frame.image = std::move(image);
    frame.index = index;
    frame.time_ms = fps_ > 0 ? static_cast<double>(index) * 1000.0 / fps_ : 0.0;
    frame.name = path.filename().string();
    frame.captured = Clock::now();
    return true;
  }
  bool live() const override { return false; }
  std::string describe() const override { return what_; }
  double fps() const override { return fps_; }

 private:
  std::vector<fs::path> files_;
  std::string what_;
  double fps_ = 0;
  std::size_t next_ = 0;
};

class VideoFileSource final : public Source {
 public:
  VideoFileSource(const std::string& path, const SourceOptions& options)
      : path_(path), realtime_(options.realtime) {
    // FFmpeg only: it reads nearly every container, and the other backends' guesses (an image
    // sequence pattern, a GStreamer pipeline) fail on a broken file with confusing messages.
    try {
      capture_.open(path, cv::CAP_FFMPEG);
    } catch (const cv::Exception&) {
      capture_.release();
    }
    if (!capture_.isOpened()) {
      throw SourceError("cannot open video " + path +
                        " (not a video, or a codec FFmpeg lacks); convert it with ffmpeg or give "
                        "another file");
    }
    fps_ = capture_.get(cv::CAP_PROP_FPS);
    if (!(fps_ > 0)) fps_ = 0;
    announced_frames_ = capture_.get(cv::CAP_PROP_FRAME_COUNT);
    // Grab the first frame now so an empty or undecodable file fails at open, not mid-run.
    if (!capture_.grab()) throw SourceError("video " + path + " has no frames");
    grabbed_ = true;
  }

  bool read(Frame& frame) override {
    for (;;) {
      if (!grabbed_ && !capture_.grab()) {
        note_if_cut_short();
        return false;
      }
      grabbed_ = false;
      const std::int64_t index = next_index_++;
      double time_ms = capture_.get(cv::CAP_PROP_POS_MSEC);
      if (!(time_ms > 0) && index > 0 && fps_ > 0) {
        time_ms = static_cast<double>(index) * 1000.0 / fps_;
      }
      if (realtime_ && !keep_pace(time_ms)) {
        ++dropped_;
        continue;
      }
      cv::Mat image;
      if (!capture_.retrieve(image) || image.empty()) {
        throw SourceError("video " + path_ + ": frame " + std::to_string(index) +
                          " cannot be decoded (damaged file?)");
      }
      frame.image = std::move(image);
      frame.index = index;
      frame.time_ms = time_ms;
      frame.name.clear();
      frame.captured = Clock::now();
      return true;
    }
  }
  bool live() const override { return false; }
  std::string describe() const override { return "video " + path_; }
  double fps() const override { return fps_; }
  std::int64_t dropped() const override { return dropped_; }

 private:
  // Realtime: the frame at time_ms is due at start_ + time_ms. Sleeps until it is due and says
  // true, or says false when it is already more than a frame interval late (skip it; latest wins).
  bool keep_pace(double time_ms) {
    const auto now = Clock::now();
    const auto at = std::chrono::duration_cast<Clock::duration>(Milliseconds(time_ms));
    if (!started_) {
      start_ = now - at;
      started_ = true;
    }
    const auto due = start_ + at;
    const double interval_ms = fps_ > 0 ? 1000.0 / fps_ : 0.0;
    if (now > due + std::chrono::duration_cast<Clock::duration>(Milliseconds(interval_ms))) {
      return false;
    }
    std::this_thread::sleep_until(due);
    return true;
  }

  void note_if_cut_short() {
    const auto read = static_cast<double>(next_index_);
    if (announced_frames_ > 0 && read < announced_frames_ * truncated_video_share - 1) {
      set_warning("video " + path_ + " ended after " + std::to_string(next_index_) +
                  " of its announced " +
                  std::to_string(static_cast<std::int64_t>(announced_frames_)) +
                  " frames; the file may be cut short or damaged");
    }
  }

  std::string path_;
  bool realtime_ = false;
  cv::VideoCapture capture_;
  double fps_ = 0;
  double announced_frames_ = 0;
  bool grabbed_ = false;  // a frame is grabbed and waits for retrieve
  std::int64_t next_index_ = 0;
  std::int64_t dropped_ = 0;
  bool started_ = false;
  Clock::time_point start_;
};

// Live sources: a capture thread keeps only the newest frame.

// Held by unique_ptr because cv::VideoCapture copies share their backend: the backend closes
// only when the last copy goes, and a failed camera must really close before it is reopened.
using Capture = std::unique_ptr<cv::VideoCapture>;
// Opens (or reopens) a live source; null when it does not open. Must not throw.
using Opener = std::function<Capture()>;

// What the capture thread and the consumer share. Owned jointly, so a capture thread that has
// to be left detached (stuck in a backend call) never touches freed memory.
struct LiveState {
  std::mutex mutex;
  std::condition_variable changed;
  cv::Mat latest;  // the newest frame, not yet handed over when index > given
  std::int64_t latest_index = -1;
  Clock::time_point latest_captured;
  Clock::time_point first_captured;
  std::int64_t given_index = -1;  // the last frame handed to the consumer
  std::int64_t dropped = 0;
  bool stop = false;   // asked to end
  bool ended = false;  // no more frames will come
  bool thread_done = false;
  std::string end_reason;
};

void capture_loop(const std::shared_ptr<LiveState>& state, const Opener& opener, Capture capture,
                  const std::string& what, double reconnect_seconds) {
  std::int64_t next_index = 0;
  std::optional<Clock::time_point> failing_since;  // set while capture fails, until a frame
  double backoff = initial_backoff_seconds;
  const auto stopping = [&] {
    std::lock_guard lock(state->mutex);
    return state->stop;
  };
  while (!stopping()) {
    cv::Mat image;  // fresh each time: the consumer may still hold the previous frame's pixels
    bool ok = false;
    try {
      ok = capture && capture->read(image) && !image.empty();
    } catch (const cv::Exception&) {
      ok = false;
    }
    if (ok) {
      const auto now = Clock::now();
      failing_since.reset();
      backoff = initial_backoff_seconds;
      std::lock_guard lock(state->mutex);
      if (state->latest_index > state->given_index) ++state->dropped;  // never handed over
      if (state->latest_index < 0) state->first_captured = now;
      state->latest = std::move(image);
      state->latest_index = next_index++;
      state->latest_captured = now;
      state->changed.notify_all();
      continue;
    }
    // Capture failed: reopen with exponential backoff, for reconnect_seconds in total since the
    // last good frame (a source that reopens but never delivers does not reset the budget).
    const auto now = Clock::now();
    if (!failing_since) failing_since = now;
    const double failing = Seconds(now - *failing_since).count();
    if (failing >= reconnect_seconds) {
      std::lock_guard lock(state->mutex);
      if (!state->stop) {
        state->end_reason = what + " stopped delivering frames; gave up after " +
                            seconds_text(reconnect_seconds) + " s of retries";
      }
      break;
    }
    capture.reset();
    {
      std::unique_lock lock(state->mutex);
      const double wait = std::min(backoff, reconnect_seconds - failing);
      if (state->changed.wait_for(lock, Seconds(wait), [&] { return state->stop; })) break;
    }
    backoff = std::min(backoff * 2, max_backoff_seconds);
    capture = opener();
  }
  std::lock_guard lock(state->mutex);
  state->ended = true;
  state->thread_done = true;
  state->changed.notify_all();
}

class LiveSource final : public Source {
 public:
  // capture is the first, already opened capture; opener reopens after a failure.
  LiveSource(Capture capture, Opener opener, std::string what, const SourceOptions& options)
      : what_(std::move(what)),
        state_(std::make_shared<LiveState>()),
        stall_limit_seconds_(std::clamp(
            options.reconnect_seconds + stall_open_timeouts * options.open_timeout_seconds, 0.0,
            max_stall_seconds)),
        join_seconds_(options.open_timeout_seconds + join_grace_seconds) {
    fps_ = capture->get(cv::CAP_PROP_FPS);
    if (!(fps_ > 0) || fps_ > 1000) fps_ = 0;  // some backends report nonsense for live feeds
    thread_ = std::thread(capture_loop, state_, std::move(opener), std::move(capture), what_,
                          options.reconnect_seconds);
  }

  ~LiveSource() override {
    stop();
    std::unique_lock lock(state_->mutex);
    const bool done =
        state_->changed.wait_for(lock, Seconds(join_seconds_), [&] { return state_->thread_done; });
    lock.unlock();
    if (done) {
      thread_.join();
    } else {
      thread_.detach();  // stuck in the backend; it owns its share of the state
    }
  }

  bool read(Frame& frame) override {
    std::unique_lock lock(state_->mutex);
    const auto fresh = [&] { return state_->latest_index > state_->given_index; };
    const bool woke = state_->changed.wait_for(lock, Seconds(stall_limit_seconds_), [&] {
      return fresh() || state_->ended || state_->stop;
    });
    if (state_->stop) return false;
    if (fresh()) {
      frame.image = std::move(state_->latest);
      frame.index = state_->latest_index;
      frame.captured = state_->latest_captured;
      frame.time_ms = Milliseconds(state_->latest_captured - state_->first_captured).count();
      frame.name.clear();
      state_->given_index = state_->latest_index;
      return true;
    }
    if (!woke) {
      state_->end_reason =
          what_ + " delivered no frame for " + seconds_text(stall_limit_seconds_) + " s; gave up";
      state_->stop = true;
      state_->changed.notify_all();
    }
    const std::string reason = state_->end_reason;
    lock.unlock();
    if (!reason.empty()) set_warning(reason);
    return false;
  }

  bool live() const override { return true; }
  std::string describe() const override { return what_; }
  double fps() const override { return fps_; }
  std::int64_t dropped() const override {
    std::lock_guard lock(state_->mutex);
    return state_->dropped;
  }
  void stop() override {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
    state_->changed.notify_all();
  }

 private:
  std::string what_;
  std::shared_ptr<LiveState> state_;
  double stall_limit_seconds_ = 0;
  double join_seconds_ = 0;
  double fps_ = 0;
  std::thread thread_;
};

// Tries each backend in turn; null when none opens.
template <typename Device>
Capture open_with(const Device& device, std::initializer_list<int> apis,
                  const std::vector<int>& params = {}) {
  for (const int api : apis) {
    auto capture = std::make_unique<cv::VideoCapture>();
    try {
      if (capture->open(device, api, params)) return capture;
    } catch (const cv::Exception&) {
    }
  }
  return nullptr;
}

void configure_camera(cv::VideoCapture& capture, const SourceOptions& options) {
  // Requests, not demands: a camera that cannot do them keeps its own settings.
  if (options.width > 0) capture.set(cv::CAP_PROP_FRAME_WIDTH, options.width);
  if (options.height > 0) capture.set(cv::CAP_PROP_FRAME_HEIGHT, options.height);
  if (options.fps > 0) capture.set(cv::CAP_PROP_FPS, options.fps);
  capture.set(cv::CAP_PROP_BUFFERSIZE, camera_buffer_frames);
}

// Opens a live source once now (a SourceError with `hint` when it does not open) and hands the
// opener to the capture thread, which calls it again to reconnect.
std::unique_ptr<Source> open_live(const std::string& what, Opener opener, const std::string& hint,
                                  const SourceOptions& options) {
  auto capture = opener();
  if (!capture) throw SourceError(what + hint);
  return std::make_unique<LiveSource>(std::move(capture), std::move(opener), what, options);
}

// A camera by index or device path, V4L2 first, with the size and rate asked for.
template <class Device>
Opener camera_opener(Device device, const SourceOptions& options) {
  return [device, options] {
    auto capture = open_with(device, {cv::CAP_V4L2, cv::CAP_ANY});
    if (capture) configure_camera(*capture, options);
    return capture;
  };
}

std::unique_ptr<Source> open_camera(const std::string& spec, const SourceOptions& options) {
  int index = 0;
  if (std::from_chars(spec.data(), spec.data() + spec.size(), index).ec != std::errc()) {
    throw SourceError("camera index " + spec + " is out of range; give a small number like 0");
  }
  return open_live("camera " + spec, camera_opener(index, options),
                   " did not open (tried V4L2, ANY); check it is connected and not used by "
                   "another program, or give a video file",
                   options);
}

std::unique_ptr<Source> open_device(const std::string& path, const SourceOptions& options) {
  return open_live("camera " + path, camera_opener(path, options),
                   " did not open (tried V4L2, ANY); check it is a camera and not used by "
                   "another program",
                   options);
}

std::unique_ptr<Source> open_stream(const std::string& url, const SourceOptions& options) {
  const int timeout_ms = static_cast<int>(std::max(options.open_timeout_seconds, 0.001) * 1000);
  Opener opener = [url, timeout_ms] {
    return open_with(
        url, {cv::CAP_FFMPEG},
        {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv::CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms});
  };
  return open_live("stream " + url, std::move(opener),
                   " did not answer within " + seconds_text(options.open_timeout_seconds) +
                       " s (or refused); check the address and that the server is running",
                   options);
}

std::unique_ptr<Source> open_pipeline(const std::string& pipeline, const SourceOptions& options) {
  // No timeouts here: OpenCV's GStreamer backend refuses the timeout properties.
  return open_live(
      "GStreamer pipeline '" + pipeline + "'",
      [pipeline] { return open_with(pipeline, {cv::CAP_GSTREAMER}); },
      " did not start; check its elements exist (gst-inspect-1.0) and that it "
      "ends in appsink",
      options);
}

std::unique_ptr<Source> open_folder(const fs::path& folder, const SourceOptions& options) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && is_image_path(it->path().string())) files.push_back(it->path());
  }
  if (ec) throw SourceError("cannot list folder " + folder.string() + ": " + ec.message());
  if (files.empty()) {
    throw SourceError("folder " + folder.string() +
                      " holds no images (png, jpg, jpeg, bmp, tif, tiff, webp, pgm, ppm)");
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });
  const std::string what =
      "folder " + folder.string() + " (" + std::to_string(files.size()) + " images)";
  return std::make_unique<ImageFilesSource>(std::move(files), what, options.fps);
}

}  // namespace

Source::~Source() = default;

std::string Source::warning() const {
  std::lock_guard lock(warning_mutex_);
  return warning_;
}

void Source::set_warning(std::string warning) {
  std::lock_guard lock(warning_mutex_);
  warning_ = std::move(warning);
}

std::string lower_extension(const std::string& path) {
  std::string extension = fs::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

bool is_image_path(const std::string& path) {
  const std::string extension = lower_extension(path);
  return std::any_of(std::begin(image_extensions), std::end(image_extensions),
                     [&](const char* e) { return extension == e; });
}

Prefetcher::Prefetcher(Source& source, std::size_t depth)
    : source_(source), depth_(std::max<std::size_t>(depth, 1)), thread_([this] { run(); }) {}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

bool Prefetcher::next(Frame& frame) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return false;
  }
  frame = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  return true;
}

void Prefetcher::run() {
  try {
    for (;;) {
      Frame frame;
      if (!source_.read(frame)) break;
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return queue_.size() < depth_ || quit_; });
      if (quit_) break;
      queue_.push_back(std::move(frame));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

std::unique_ptr<Source> open_source(const std::string& spec, const SourceOptions& options) {
  if (all_digits(spec)) return open_camera(spec, options);
  if (spec.find("://") != std::string::npos) return open_stream(spec, options);
  if (spec.find(" ! ") != std::string::npos) return open_pipeline(spec, options);

  std::error_code ec;
  const fs::path path(spec);
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw SourceError("no such file or folder: " + spec);
  if (fs::is_directory(status)) return open_folder(path, options);
  if (fs::is_character_file(status)) return open_device(spec, options);  // /dev/video0
  if (is_image_path(spec)) {
    return std::make_unique<ImageFilesSource>(std::vector<fs::path>{path}, "image " + spec,
                                              options.fps);
  }
  return std::make_unique<VideoFileSource>(spec, options);
}

}  // namespace digitcam::app
