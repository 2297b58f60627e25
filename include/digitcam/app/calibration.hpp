#pragma once
// calibration/*.yml: the recognizer's tunables in OpenCV FileStorage YAML. Every key is
// optional; a missing key keeps the built-in default, so an older file still loads. Sections:
//   segmentation: polarity (auto|dark|light), min_height_fraction, max_height_fraction,
//                 min_aspect, max_aspect, min_fill, max_fill, block_fraction, threshold_offset,
//                 relative_contrast, max_stroke_fraction, max_paper_variation,
//                 erase_ruled_lines (0|1)
//   normalization: match_stroke_width (0|1)
//   decision:     temperature, reject_threshold
//   tracker:      min_iou, max_missed, evidence_decay, switch_margin
//   reader:       max_gap, min_height_ratio, min_vertical_overlap

#include <filesystem>

#include "digitcam/app/pipeline.hpp"

namespace digitcam::app {

// IoError naming the file when it is missing or not FileStorage YAML; UsageError naming the key
// when a value is out of range (a threshold outside 0..1, a negative size).
PipelineSettings load_calibration(const std::filesystem::path& path);

// Written atomically (temporary file, then rename).
void save_calibration(const PipelineSettings& settings, const std::filesystem::path& path);

// "auto", "dark" or "light" (also the long names); UsageError otherwise.
vision::Polarity parse_polarity(const std::string& text);

}  // namespace digitcam::app
