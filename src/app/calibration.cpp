#include "digitcam/app/calibration.hpp"

#include <opencv2/core/persistence.hpp>

#include "digitcam/engine/error.hpp"

namespace digitcam::app {

namespace {

namespace fs = std::filesystem;

std::string polarity_name(vision::Polarity p) {
  switch (p) {
    case vision::Polarity::dark_on_light:
      return "dark";
    case vision::Polarity::light_on_dark:
      return "light";
    case vision::Polarity::automatic:
      break;
  }
  return "auto";
}

// Reads node[key] into value when present; checks lo <= value <= hi.
template <class T>
void read(const cv::FileNode& section, const char* key, T& value, double lo, double hi,
          const fs::path& path) {
  const cv::FileNode node = section[key];
  if (node.empty()) return;
  if (!node.isReal() && !node.isInt()) {
    throw UsageError(path.string() + ": " + section.name() + "." + key + " must be a number");
  }
  const double v = static_cast<double>(node);
  if (!(v >= lo && v <= hi)) {
    throw UsageError(path.string() + ": " + section.name() + "." + key + " = " + std::to_string(v) +
                     " is outside " + std::to_string(lo) + " .. " + std::to_string(hi));
  }
  value = static_cast<T>(v);
}

}  // namespace

vision::Polarity parse_polarity(const std::string& text) {
  if (text == "auto" || text == "automatic") return vision::Polarity::automatic;
  if (text == "dark" || text == "dark_on_light") return vision::Polarity::dark_on_light;
  if (text == "light" || text == "light_on_dark") return vision::Polarity::light_on_dark;
  throw UsageError("polarity '" + text + "' is not auto, dark (dark ink on light paper) or light");
}

PipelineSettings load_calibration(const fs::path& path) {
  if (!fs::is_regular_file(path)) {
    throw IoError("calibration file " + path.string() +
                  " does not exist; give another with --calibration, or run digitcam calibrate");
  }
  cv::FileStorage fs;
  try {
    fs.open(path.string(), cv::FileStorage::READ | cv::FileStorage::FORMAT_YAML);
  } catch (const cv::Exception& e) {
    throw IoError("calibration file " + path.string() + " is not valid YAML (" + e.err + ")");
  }
  if (!fs.isOpened()) throw IoError("cannot read calibration file " + path.string());

  PipelineSettings s;
  constexpr double huge = 1e6;
  const cv::FileNode seg = fs["segmentation"];
  if (!seg.empty()) {
    if (!seg["polarity"].empty()) s.segmenter.polarity = parse_polarity(seg["polarity"].string());
    read(seg, "min_height_fraction", s.segmenter.min_height_fraction, 0, 1, path);
    read(seg, "max_height_fraction", s.segmenter.max_height_fraction, 0, 1, path);
    read(seg, "min_aspect", s.segmenter.min_aspect, 0, huge, path);
    read(seg, "max_aspect", s.segmenter.max_aspect, 0, huge, path);
    read(seg, "min_fill", s.segmenter.min_fill, 0, 1, path);
    read(seg, "max_fill", s.segmenter.max_fill, 0, 1, path);
    read(seg, "block_fraction", s.segmenter.block_fraction, 0, 1, path);
    read(seg, "threshold_offset", s.segmenter.threshold_offset, 0, 255, path);
    read(seg, "relative_contrast", s.segmenter.relative_contrast, 0, 1, path);
    read(seg, "max_stroke_fraction", s.segmenter.max_stroke_fraction, 0, 1, path);
    read(seg, "max_paper_variation", s.segmenter.max_paper_variation, 0, huge, path);
    read(seg, "erase_ruled_lines", s.segmenter.erase_ruled_lines, 0, 1, path);
  }
  const cv::FileNode norm = fs["normalization"];
  if (!norm.empty()) read(norm, "match_stroke_width", s.match_stroke_width, 0, 1, path);
  const cv::FileNode dec = fs["decision"];
  if (!dec.empty()) {
    read(dec, "temperature", s.decision.temperature, 1e-3, 1e3, path);
    read(dec, "reject_threshold", s.decision.reject_threshold, 0, 1, path);
  }
  const cv::FileNode trk = fs["tracker"];
  if (!trk.empty()) {
    read(trk, "min_iou", s.tracker.min_iou, 0, 1, path);
    read(trk, "max_missed", s.tracker.max_missed, 0, huge, path);
    read(trk, "evidence_decay", s.tracker.evidence_decay, 0, 1, path);
    read(trk, "switch_margin", s.tracker.switch_margin, 0, 1, path);
  }
  const cv::FileNode rd = fs["reader"];
  if (!rd.empty()) {
    read(rd, "max_gap", s.reader.max_gap, 0, huge, path);
    read(rd, "min_height_ratio", s.reader.min_height_ratio, 0, 1, path);
    read(rd, "min_vertical_overlap", s.reader.min_vertical_overlap, 0, 1, path);
  }
  if (s.segmenter.min_height_fraction >= s.segmenter.max_height_fraction) {
    throw UsageError(path.string() +
                     ": segmentation.min_height_fraction must be below max_height_fraction");
  }
  return s;
}

void save_calibration(const PipelineSettings& s, const fs::path& path) {
  // FileStorage picks the format from the extension, so the temporary name keeps ".yml".
  const fs::path temporary = path.parent_path() / (path.stem().string() + ".tmp.yml");
  {
    cv::FileStorage out(temporary.string(), cv::FileStorage::WRITE | cv::FileStorage::FORMAT_YAML);
    if (!out.isOpened()) throw IoError("cannot write calibration file " + temporary.string());
    out << "segmentation"
        << "{";
    out << "polarity" << polarity_name(s.segmenter.polarity);
    out << "min_height_fraction" << s.segmenter.min_height_fraction;
    out << "max_height_fraction" << s.segmenter.max_height_fraction;
    out << "min_aspect" << s.segmenter.min_aspect << "max_aspect" << s.segmenter.max_aspect;
    out << "min_fill" << s.segmenter.min_fill << "max_fill" << s.segmenter.max_fill;
    out << "block_fraction" << s.segmenter.block_fraction;
    out << "threshold_offset" << s.segmenter.threshold_offset;
    out << "relative_contrast" << s.segmenter.relative_contrast;
    out << "max_stroke_fraction" << s.segmenter.max_stroke_fraction;
    out << "max_paper_variation" << s.segmenter.max_paper_variation;
    out << "erase_ruled_lines" << (s.segmenter.erase_ruled_lines ? 1 : 0) << "}";
    out << "normalization"
        << "{"
        << "match_stroke_width" << (s.match_stroke_width ? 1 : 0) << "}";
    out << "decision"
        << "{"
        << "temperature" << s.decision.temperature;
    out << "reject_threshold" << s.decision.reject_threshold << "}";
    out << "tracker"
        << "{"
        << "min_iou" << s.tracker.min_iou << "max_missed" << s.tracker.max_missed;
    out << "evidence_decay" << s.tracker.evidence_decay;
    out << "switch_margin" << s.tracker.switch_margin << "}";
    out << "reader"
        << "{"
        << "max_gap" << s.reader.max_gap;
    out << "min_height_ratio" << s.reader.min_height_ratio;
    out << "min_vertical_overlap" << s.reader.min_vertical_overlap << "}";
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) throw IoError("cannot write calibration file " + path.string() + ": " + ec.message());
}

}  // namespace digitcam::app
