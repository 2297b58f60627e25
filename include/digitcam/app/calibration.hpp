#pragma once
// calibration/*.yml: the recognizer's tunables in OpenCV FileStorage YAML. calibration/default.yml
// documents every key. A key another file leaves out takes default.yml's value (one default.yml
// leaves out, the built-in one); run, draw and calibrate warn, naming it. Sections:
//   segmentation: polarity (auto|dark|light), min_height_fraction, max_height_fraction,
//                 min_aspect, max_aspect, min_fill, max_fill, block_fraction, threshold_offset,
//                 relative_contrast, max_stroke_fraction, max_paper_variation,
//                 erase_ruled_lines (0|1)
//   normalization: match_stroke_width (0|1)
//   decision:     temperature, reject_threshold
//   tracker:      min_iou, max_missed, evidence_decay, switch_margin
//   reader:       max_gap, min_height_ratio, min_vertical_overlap

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "digitcam/app/pipeline.hpp"

namespace digitcam::app {

struct CalibrationFile {
  PipelineSettings settings;
  std::vector<std::string> missing;  // "section.key" left out of the file (defaults used)
  std::vector<std::string> unknown;  // sections and keys in the file that no setting reads
};

// IoError naming the file when it is missing or not FileStorage YAML; UsageError naming the key
// ("segmentation.block_fraction") when a value has the wrong type, is out of range (a threshold
// outside 0..1, a negative size), is not a whole number where one is needed, or contradicts its
// pair (min_fill above max_fill), and naming the section when a section is not a mapping.
// Keys the file leaves out keep their values in `base`.
CalibrationFile read_calibration(const std::filesystem::path& path,
                                 const PipelineSettings& base = {});
// read_calibration(path).settings: for callers that report nothing.
PipelineSettings load_calibration(const std::filesystem::path& path);

// --calibration NAME|PATH: PATH when it is an existing file or looks like one (has a folder, ends
// in .yml or .yaml); otherwise calibration/NAME.yml in the resource folder (paths.hpp). IoError
// naming both places when NAME is neither.
std::filesystem::path resolve_calibration(const std::string& name_or_path);

// Where `digitcam calibrate --name NAME` writes: calibration/NAME.yml in the resource folder.
// UsageError for a name that is not letters, digits, '-', '_' and '.'.
std::filesystem::path named_calibration_path(const std::string& name);

// The settings of run, draw and calibrate: --calibration NAME|PATH resolved and read, or, when
// name_or_path is empty, calibration/default.yml (the built-in defaults when there is none).
// Keys the file leaves out take default.yml's values (default.yml's own, the built-in ones).
// Keys left out and unknown keys are named in one warning line each on `warnings`.
PipelineSettings settings_from_calibration(const std::string& name_or_path, std::ostream& warnings);

// Written atomically (temporary file, then rename), each of `comments` as a "# " line on top.
void save_calibration(const PipelineSettings& settings, const std::filesystem::path& path,
                      const std::vector<std::string>& comments = {});

// "auto", "dark" or "light" (also the long names); UsageError otherwise.
vision::Polarity parse_polarity(const std::string& text);

}  // namespace digitcam::app
