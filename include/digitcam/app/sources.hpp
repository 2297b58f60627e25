#pragma once
// Where frames come from: cameras, video files, stream URLs, GStreamer pipelines, single images
// and folders of images, behind one Source interface.
//
// Files (video, image, folder) hand over every frame in order, nothing dropped, unless
// SourceOptions::realtime paces a video to its fps. Live sources (camera, URL, pipeline) run a
// capture thread that keeps only the newest frame (latest wins), so a slow consumer always gets
// the newest frame and latency never grows; the frames it never saw are counted by dropped().

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <opencv2/core.hpp>

namespace digitcam::app {

struct Frame {
  cv::Mat image;           // BGR, 8 bit; owned by this frame (never reused by the source)
  std::int64_t index = 0;  // 0-based position in the source; gaps in live sources are drops
  double time_ms = 0.0;    // video position, or time since the live source's first frame
  std::string name;        // the image's file name for image and folder sources, else empty
  std::chrono::steady_clock::time_point captured;  // when the source got the frame
};

struct SourceOptions {
  int width = 0;  // camera capture size to ask for; 0 keeps the camera's default
  int height = 0;
  double fps = 0;  // camera rate to ask for; for image sources, the rate behind Frame::time_ms
  bool realtime = false;            // video files: pace to the file's fps, skip when behind
  double reconnect_seconds = 10;    // live sources: how long to retry after capture fails
  double open_timeout_seconds = 5;  // stream URLs: how long to wait for an answer (also reads)
};

class Source {
 public:
  virtual ~Source();

  // The next frame. For live sources blocks until a frame newer than the last one handed over
  // is there. False at the end of the source, after stop(), or after a live source gave up
  // reconnecting (then warning() says why). SourceError for a file that cannot be read.
  virtual bool read(Frame& frame) = 0;
  virtual bool live() const = 0;
  // "camera 0", "video clip.mp4", "stream http://...": for messages.
  virtual std::string describe() const = 0;
  // Frames per second of the source; 0 when unknown.
  virtual double fps() const = 0;
  // Frames the consumer never saw: a live source's older frames replaced by newer ones, or a
  // realtime video's frames skipped to keep up.
  virtual std::int64_t dropped() const { return 0; }
  // Asks a live source's capture thread to end; read() then returns false soon.
  virtual void stop() {}

  // Why the source ended early (empty when it ended normally or has not ended).
  std::string warning() const;

 protected:
  void set_warning(std::string warning);

 private:
  mutable std::mutex warning_mutex_;
  std::string warning_;
};

// Decodes a file source on its own thread, up to `depth` frames ahead, so decoding and
// recognition overlap; frames come out in order and none is dropped. An error in the decoding
// thread is rethrown by next(). The destructor stops the thread without reading the rest.
class Prefetcher {
 public:
  explicit Prefetcher(Source& source, std::size_t depth = 4);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next frame in order, waiting for it; false at the source's end.
  bool next(Frame& frame);

 private:
  void run();

  Source& source_;
  const std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Frame> queue_;
  bool done_ = false;
  bool quit_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts after every other member exists
};

// Opens what spec names:
//   all digits          camera index (V4L2, then any backend)
//   contains "://"      stream URL through FFmpeg, with open and read timeouts
//   contains " ! "      GStreamer pipeline ending in appsink
//   existing folder     its images (png jpg jpeg bmp tif tiff webp pgm ppm) sorted by name
//   existing image file that one image
//   other existing file a video file
// SourceError naming the spec and what to do when it cannot be opened.
std::unique_ptr<Source> open_source(const std::string& spec, const SourceOptions& options = {});

// Whether path's extension is one of the image formats a folder source reads (any case).
bool is_image_path(const std::string& path);
// The file name's extension, lower case, with its dot ("" when there is none).
std::string lower_extension(const std::string& path);

}  // namespace digitcam::app
