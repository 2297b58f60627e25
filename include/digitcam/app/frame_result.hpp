#pragma once
// What the recognizer made of one frame: the value handed from the pipeline to every sink.

#include <cstdint>
#include <string>
#include <vector>

#include "digitcam/vision/decision.hpp"
#include "digitcam/vision/reader.hpp"

namespace digitcam::app {

struct FrameResult {
  std::int64_t frame = 0;  // 0-based index of the processed frame in its source
  double time_ms = 0.0;    // the frame's time in the source (video position, or since start)
  std::string name;        // the file the frame came from, for image and folder sources
  std::vector<vision::Detection> digits;
  std::vector<vision::Number> numbers;
  double latency_ms = 0.0;  // from the frame's capture to the end of processing
};

}  // namespace digitcam::app
