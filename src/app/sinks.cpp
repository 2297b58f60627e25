#include "digitcam/app/sinks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "digitcam/app/sources.hpp"
#include "digitcam/engine/error.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// --- Output constants -------------------------------------------------------------------------
// JSON precision: a microsecond of video time, and confidences to 1e-4 (calibration resolves
// no finer) -- fixed, so lines diff cleanly between runs.
constexpr int time_ms_decimals = 3;
constexpr int confidence_decimals = 4;
// Videos of image sources (no rate of their own) are written at this rate.
constexpr double default_video_fps = 10.0;
// The summary lists at most this many distinct numbers; the line must stay readable.
constexpr std::size_t summary_numbers_listed = 10;
// -----------------------------------------------------------------------------------------------

void append_fixed(std::string& out, double value, int decimals) {
  if (!std::isfinite(value)) {
    out += "null";  // JSON has no NaN or infinity
    return;
  }
  char buffer[64];
  // to_chars ignores the locale, so a German LC_NUMERIC cannot turn the point into a comma.
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  out.append(buffer, result.ptr);
}

void append_string(std::string& out, const std::string& text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;  // UTF-8 passes through as it is
        }
    }
  }
  out += '"';
}

void append_box(std::string& out, const cv::Rect& box) {
  out += "[" + std::to_string(box.x) + "," + std::to_string(box.y) + "," +
         std::to_string(box.width) + "," + std::to_string(box.height) + "]";
}

// The four-character code for a video extension; 0 when the extension is not a video.
int video_fourcc(const std::string& extension) {
  // MJPG is everywhere and every frame stands alone, so a cut-short .avi still plays up to its
  // last frame; mp4 players expect MPEG-4 part 2 ("mp4v") from OpenCV's FFmpeg build.
  if (extension == ".avi" || extension == ".mkv")
    return cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
  if (extension == ".mp4" || extension == ".mov" || extension == ".m4v") {
    return cv::VideoWriter::fourcc('m', 'p', '4', 'v');
  }
  return 0;
}

}  // namespace

std::string to_json_line(const FrameResult& result) {
  std::string out;
  out.reserve(128 + 96 * result.digits.size() + 64 * result.numbers.size());
  out += "{\"frame\":" + std::to_string(result.frame) + ",\"time_ms\":";
  append_fixed(out, result.time_ms, time_ms_decimals);
  if (!result.name.empty()) {
    out += ",\"file\":";
    append_string(out, result.name);
  }
  out += ",\"digits\":[";
  for (std::size_t i = 0; i < result.digits.size(); ++i) {
    const auto& d = result.digits[i];
    if (i > 0) out += ',';
    out += "{\"label\":" + std::to_string(d.label) + ",\"confidence\":";
    append_fixed(out, d.confidence, confidence_decimals);
    out += ",\"box\":";
    append_box(out, d.box);
    out += ",\"track\":" + std::to_string(d.track) + "}";
  }
  out += "],\"numbers\":[";
  for (std::size_t i = 0; i < result.numbers.size(); ++i) {
    const auto& n = result.numbers[i];
    if (i > 0) out += ',';
    out += "{\"value\":";
    append_string(out, n.value);
    out += ",\"box\":";
    append_box(out, n.box);
    out += '}';
  }
  out += "]}";
  return out;
}

// JsonLinesWriter

JsonLinesWriter::JsonLinesWriter(const std::string& path_or_dash) : path_(path_or_dash) {
  if (path_ == "-") {
    path_ = "stdout";
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
    return;
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw IoError("cannot create JSON lines file " + path_ + ": " + std::strerror(errno) +
                  "; check the folder exists and is writable");
  }
  owns_fd_ = true;
}

JsonLinesWriter::~JsonLinesWriter() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

void JsonLinesWriter::write(const FrameResult& result) {
  if (fd_ < 0) throw IoError("JSON lines file " + path_ + " is already closed");
  write_all(to_json_line(result) + "\n");
}

void JsonLinesWriter::write_all(const std::string& bytes) {
  // One write() call for the whole line in the usual case; the loop only finishes a write the
  // kernel cut short (signals, pipes, a disk filling up).
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      // A file keeps only whole lines: the part of this line that did reach it goes again
      // (a pipe cannot be cut back; its reader sees the line end early).
      if (owns_fd_ && done > 0 && ::ftruncate(fd_, complete_bytes_) == 0) {
        ::lseek(fd_, complete_bytes_, SEEK_SET);
      }
      throw IoError("cannot write JSON lines to " + path_ + ": " + std::strerror(error) +
                    "; the lines of the frames before are complete");
    }
    done += static_cast<std::size_t>(n);
  }
  complete_bytes_ += static_cast<off_t>(bytes.size());
}

void JsonLinesWriter::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (owns_fd_ && ::close(fd) != 0) {
    throw IoError("cannot finish JSON lines file " + path_ + ": " + std::strerror(errno));
  }
}

// AnnotatedVideoWriter

void AnnotatedVideoWriter::check_path(const std::string& path) {
  const bool picture = is_image_path(path);
  if (!picture && video_fourcc(lower_extension(path)) == 0) {
    throw UsageError("annotated output " + path +
                     ": unknown extension; use .avi, .mp4, .mkv, .mov or an image (.png, .jpg)");
  }
  const std::string what = picture ? "picture " : "video ";
  const fs::path target = fs::absolute(fs::path(path));
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    throw IoError("cannot write " + what + path + ": it is a folder; name a file in it");
  }
  // access() says yes to root for a read-only folder and cannot see every filesystem that
  // refuses new files (sysfs), so a file is created and removed as the writer would create one.
  const fs::path folder = target.parent_path();
  const fs::path probe = folder / (".digitcam-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError("cannot write " + what + path + ": cannot create a file in " + folder.string() +
                  " (" + std::strerror(errno) + "); check the folder exists and is writable");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  // An existing file is replaced: it must be writable itself.
  if (fs::exists(target, ec) && ::access(target.c_str(), W_OK) != 0) {
    throw IoError("cannot write " + what + path + ": " + std::strerror(errno) +
                  "; check the file is writable");
  }
}

AnnotatedVideoWriter::AnnotatedVideoWriter(const std::string& path, double fps, cv::Size frame_size)
    : path_(path), size_(frame_size) {
  if (size_.width <= 0 || size_.height <= 0) {
    throw UsageError("annotated output " + path_ + ": frame size " + std::to_string(size_.width) +
                     "x" + std::to_string(size_.height) + " is empty");
  }
  const std::string extension = lower_extension(path_);
  if (is_image_path(path_)) {
    picture_ = true;
    const fs::path folder = fs::absolute(fs::path(path_)).parent_path();
    std::error_code ec;
    if (!fs::is_directory(folder, ec) || ::access(folder.c_str(), W_OK) != 0) {
      throw IoError("cannot write picture " + path_ + ": folder " + folder.string() +
                    " does not exist or is not writable");
    }
    return;
  }
  const int fourcc = video_fourcc(extension);
  if (fourcc == 0) {
    throw UsageError("annotated output " + path_ +
                     ": unknown extension; use .avi, .mp4, .mkv, .mov or an image (.png, .jpg)");
  }
  const double rate = fps > 0 ? fps : default_video_fps;
  try {
    video_.open(path_, cv::CAP_FFMPEG, fourcc, rate, size_, true);
  } catch (const cv::Exception&) {
    video_.release();
  }
  if (!video_.isOpened()) {
    throw IoError("cannot write video " + path_ + "; check the folder exists and is writable");
  }
}

AnnotatedVideoWriter::~AnnotatedVideoWriter() {
  try {
    close();
  } catch (...) {
  }
}

void AnnotatedVideoWriter::write(const cv::Mat& bgr) {
  if (bgr.empty()) return;
  cv::Mat frame = bgr;
  if (frame.channels() == 1) cv::cvtColor(frame, frame, cv::COLOR_GRAY2BGR);
  if (frame.channels() == 4) cv::cvtColor(frame, frame, cv::COLOR_BGRA2BGR);
  if (frame.size() != size_) cv::resize(frame, frame, size_, 0, 0, cv::INTER_AREA);
  if (picture_) {
    // imwrite picks the format from the extension, so the temporary name keeps it.
    const fs::path target(path_);
    const fs::path temporary =
        target.parent_path() / (target.stem().string() + ".tmp-" + std::to_string(::getpid()) +
                                target.extension().string());
    bool ok = false;
    try {
      ok = cv::imwrite(temporary.string(), frame);
    } catch (const cv::Exception&) {
      ok = false;
    }
    std::error_code ec;
    if (ok) fs::rename(temporary, target, ec);
    if (!ok || ec) {
      fs::remove(temporary, ec);
      throw IoError("cannot write picture " + path_ + "; check the folder is writable");
    }
  } else {
    if (!video_.isOpened()) throw IoError("video " + path_ + " is already closed");
    video_.write(frame);
  }
  ++frames_;
}

void AnnotatedVideoWriter::close() {
  if (!video_.isOpened()) return;
  video_.release();
  // OpenCV's writer drops write errors (a disk filling up, a file size limit) without a word;
  // reading the finished file back is the only way to know every frame is in it.
  std::int64_t readable = 0;
  try {
    cv::VideoCapture check(path_, cv::CAP_FFMPEG);
    if (check.isOpened()) readable = static_cast<std::int64_t>(check.get(cv::CAP_PROP_FRAME_COUNT));
  } catch (const cv::Exception&) {
    readable = 0;
  }
  if (frames_ > 0 && readable < frames_) {
    throw IoError("video " + path_ + " is incomplete: " + std::to_string(frames_) +
                  " frames were written but " + std::to_string(readable) +
                  " read back (disk full or a file size limit?); free space and run again");
  }
}

// RunSummary

RunSummary::RunSummary() : start_(Clock::now()), last_(start_) {}

void RunSummary::add(const FrameResult& result) {
  last_ = Clock::now();
  ++frames_;
  latencies_ms_.push_back(result.latency_ms);
  digits_ += static_cast<std::int64_t>(result.digits.size());
  for (const auto& d : result.digits) {
    if (d.track >= 0) tracks_.insert(d.track);
  }
  numbers_ += static_cast<std::int64_t>(result.numbers.size());
  for (const auto& n : result.numbers) {
    if (seen_numbers_.insert(n.value).second) distinct_numbers_.push_back(n.value);
  }
}

double RunSummary::fps() const {
  const double seconds = std::chrono::duration<double>(last_ - start_).count();
  return seconds > 0 ? static_cast<double>(frames_) / seconds : 0.0;
}

double RunSummary::percentile(double p) const {
  return app::percentile(latencies_ms_, p);
}

double percentile(std::vector<double> sorted, double p) {
  if (sorted.empty()) return 0.0;
  std::sort(sorted.begin(), sorted.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(rank));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double share = rank - static_cast<double>(below);
  return sorted[below] + (sorted[above] - sorted[below]) * share;
}

std::string RunSummary::text() const {
  std::string out = "frames " + std::to_string(frames_);
  if (frames_ == 0) return out;
  const auto one_decimal = [](double v) {
    std::string s;
    append_fixed(s, v, 1);
    return s;
  };
  out += ", " + one_decimal(fps()) + " frames/s";
  out += ", latency p50 " + one_decimal(percentile(50)) + " ms p95 " + one_decimal(percentile(95)) +
         " ms p99 " + one_decimal(percentile(99)) + " ms";
  out += ", digits " + std::to_string(digits_) + " (tracks " + std::to_string(tracks_.size()) + ")";
  out += ", numbers " + std::to_string(numbers_);
  if (!distinct_numbers_.empty()) {
    out += " (distinct: ";
    for (std::size_t i = 0; i < distinct_numbers_.size() && i < summary_numbers_listed; ++i) {
      if (i > 0) out += ", ";
      out += distinct_numbers_[i];
    }
    if (distinct_numbers_.size() > summary_numbers_listed) {
      out += ", ... " + std::to_string(distinct_numbers_.size()) + " in all";
    }
    out += ")";
  }
  return out;
}

}  // namespace digitcam::app
