#include "digitcam/app/calibration.hpp"

#include <opencv2/core/persistence.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <sstream>
#include <type_traits>

#include "digitcam/app/paths.hpp"
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

// The calibration file as text, written with FileStorage's `out << key << value` and "{" "}"
// for sections, but with values as short as they read back exactly (FileStorage writes every
// double with 16 digits) and with comment lines on top (what calibrate fitted, and why).
class YamlText {
 public:
  explicit YamlText(const std::vector<std::string>& comments) {
    text_ << "%YAML:1.0\n---\n";
    for (const std::string& c : comments) text_ << "# " << c << '\n';
  }
  YamlText& operator<<(const std::string& word) {
    if (word == "{") {
      text_ << key_ << ":\n";
      key_.clear();
    } else if (word == "}") {
      key_.clear();
    } else if (key_.empty()) {
      key_ = word;
    } else {
      value(word);
    }
    return *this;
  }
  YamlText& operator<<(const char* word) { return *this << std::string(word); }
  // Doubles to 6 significant digits (more than any setting needs; FileStorage would write 16),
  // floats in their shortest form that reads back to the same float.
  YamlText& operator<<(double v) { return value(number_text(v, 6)); }
  YamlText& operator<<(float v) {
    for (int digits = 6;; ++digits) {
      const std::string text = number_text(v, digits);
      if (digits >= 9 || std::strtof(text.c_str(), nullptr) == v) return value(text);
    }
  }
  YamlText& operator<<(int v) { return value(std::to_string(v)); }
  std::string text() const { return text_.str(); }

 private:
  static std::string number_text(double v, int digits) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*g", digits, v);
    return text;
  }
  YamlText& value(const std::string& v) {
    text_ << "   " << key_ << ": " << v << '\n';
    key_.clear();
    return *this;
  }
  std::ostringstream text_;
  std::string key_;
};

// Reads a file's sections and keys, checking each value's type and range, and keeps the list of
// keys it looked for, so keys left out (defaults used) and keys it does not know (a typo, a
// newer file) can be reported.
class FileReader {
 public:
  FileReader(const cv::FileStorage& storage, const fs::path& path)
      : storage_(storage), path_(path.string()) {}

  struct Section {
    cv::FileNode node;  // none when the file leaves the section out
    std::string name;
  };

  // The named top-level section; UsageError when it is there but is not a mapping.
  Section section(const char* name) {
    sections_.insert(name);
    const cv::FileNode node = storage_[name];
    if (!node.empty() && !node.isMap() && !node.isNone()) {
      throw UsageError(path_ + ": " + name +
                       " must be a section of 'key: value' lines (see calibration/default.yml)");
    }
    return {node, name};
  }

  // node[key] into value when present, checking lo <= value <= hi (and a whole number for
  // integer and 0|1 fields); the key is recorded as missing otherwise.
  template <class T>
  void read(const Section& section, const char* key, T& value, double lo, double hi) {
    const std::string name = section.name + "." + key;
    const cv::FileNode node = lookup(section, key, name);
    if (node.empty()) return;
    if (!node.isReal() && !node.isInt()) {
      throw UsageError(path_ + ": " + name + " must be a number" + range_text(lo, hi) +
                       (node.isString() ? ", not '" + node.string() + "'" : std::string()));
    }
    const double v = static_cast<double>(node);
    if (!(v >= lo && v <= hi)) {
      throw UsageError(path_ + ": " + name + " = " + number_text(v) + " is outside" +
                       range_text(lo, hi));
    }
    if constexpr (std::is_integral_v<T>) {
      if (v != std::floor(v)) {
        throw UsageError(path_ + ": " + name + " = " + number_text(v) + " must be a whole number" +
                         range_text(lo, hi));
      }
    }
    value = static_cast<T>(v);
  }

  // segmentation.polarity: a string, auto|dark|light.
  void read_polarity(const Section& section, const char* key, vision::Polarity& value) {
    const std::string name = section.name + "." + key;
    const cv::FileNode node = lookup(section, key, name);
    if (node.empty()) return;
    if (!node.isString()) {
      throw UsageError(path_ + ": " + name + " must be auto, dark or light");
    }
    try {
      value = parse_polarity(node.string());
    } catch (const UsageError& e) {
      throw UsageError(path_ + ": " + name + ": " + e.what());
    }
  }

  // Keys looked for but absent, "section.key", in the order they were looked for.
  const std::vector<std::string>& missing() const { return missing_; }

  // Sections and keys in the file that nothing looked for.
  std::vector<std::string> unknown() const {
    std::vector<std::string> out;
    const cv::FileNode root = storage_.root();
    for (const cv::FileNode section : root) {
      const std::string name = section.name();
      if (sections_.count(name) == 0) {
        out.push_back(name);
        continue;
      }
      if (!section.isMap()) continue;
      for (const cv::FileNode key : section) {
        if (keys_.count(name + "." + key.name()) == 0) out.push_back(name + "." + key.name());
      }
    }
    return out;
  }

 private:
  cv::FileNode lookup(const Section& section, const char* key, const std::string& name) {
    keys_.insert(name);
    // A section left out (or empty) leaves each of its keys out.
    const cv::FileNode node = section.node.isMap() ? section.node[key] : cv::FileNode();
    if (node.empty() || node.isNone()) {
      missing_.push_back(name);
      return cv::FileNode();
    }
    return node;
  }
  static std::string number_text(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
  }
  static std::string range_text(double lo, double hi) {
    return " (" + number_text(lo) + " .. " + number_text(hi) + ")";
  }

  const cv::FileStorage& storage_;
  std::string path_;
  std::set<std::string> sections_, keys_;
  std::vector<std::string> missing_;
};

}  // namespace

vision::Polarity parse_polarity(const std::string& text) {
  if (text == "auto" || text == "automatic") return vision::Polarity::automatic;
  if (text == "dark" || text == "dark_on_light") return vision::Polarity::dark_on_light;
  if (text == "light" || text == "light_on_dark") return vision::Polarity::light_on_dark;
  throw UsageError("polarity '" + text + "' is not auto, dark (dark ink on light paper) or light");
}

namespace {

// The file's bytes, checked to be text first: OpenCV's YAML parser never returns from some
// files with NUL bytes in them (found by fuzzing), and no calibration file is binary or large.
std::string calibration_text(const fs::path& path) {
  constexpr std::uintmax_t largest_calibration_bytes = 1 << 20;  // default.yml is about 4 KB
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw IoError("cannot read calibration file " + path.string() + ": " + ec.message());
  if (size > largest_calibration_bytes) {
    throw IoError("calibration file " + path.string() + " is " + std::to_string(size) +
                  " bytes, too large for a calibration file; see calibration/default.yml");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw IoError("cannot read calibration file " + path.string());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      throw IoError("calibration file " + path.string() + " is not text (control byte " +
                    std::to_string(c) + " at byte " + std::to_string(i) +
                    "); see calibration/default.yml");
    }
  }
  return text;
}

bool is_key_character(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

// The file's lines checked against the layout digitcam writes and reads (calibration/
// default.yml): the %YAML directive and document markers, comments, blank lines, `section:` at
// the line's start, and `key: value` lines indented alike under their section (or `key: value`
// at the start). OpenCV's YAML parser never returns from some files outside it (found by
// fuzzing: keys indented under no section, then lines of another indentation), so nothing else
// reaches it. IoError naming the file and the line.
void check_layout(const std::string& text, const fs::path& path) {
  const auto refuse = [&](std::size_t line, const std::string& why) {
    throw IoError("calibration file " + path.string() + " line " + std::to_string(line) + " " +
                  why + "; see calibration/default.yml for the layout");
  };
  std::size_t number = 0, section_indent = 0;
  bool in_section = false;  // after a `section:` line with no value
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line[indent] == '#') continue;  // blank, comment
    if (line[indent] == '\t') refuse(number, "is indented with a tab; indent with spaces");
    if (indent == 0 && (line.rfind("%YAML", 0) == 0 || line == "---" || line == "...")) continue;
    std::size_t end = indent;
    while (end < line.size() && is_key_character(line[end])) ++end;
    if (end == indent || end == line.size() || line[end] != ':' ||
        (end + 1 < line.size() && line[end + 1] != ' ')) {
      refuse(number, "is not 'key: value', a section or a comment");
    }
    const std::size_t value = line.find_first_not_of(' ', end + 1);
    const bool has_value = value != std::string::npos && line[value] != '#';
    if (indent == 0) {
      in_section = !has_value;
      section_indent = 0;
    } else if (!in_section) {
      refuse(number, "is indented, but no section comes before it");
    } else if (section_indent == 0) {
      section_indent = indent;  // the section's first key sets its indentation
    } else if (indent != section_indent) {
      refuse(number, "is indented unlike the lines before it in its section");
    }
    if (indent > 0 && !has_value) refuse(number, "holds a key with no value");
    if (has_value) {
      int depth = 0;  // a [list] opens and closes on its line, and holds no list
      for (std::size_t i = value; i < line.size() && line[i] != '#'; ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        depth += c == '[' ? 1 : c == ']' ? -1 : 0;
        if (c >= 0x7f || c == '{' || c == '}' || c == '&' || c == '*' || c == '!' || c == '|' ||
            c == '>' || depth < 0 || depth > 1) {
          refuse(number, "has a value that is not a number, a word or a [list]");
        }
      }
      if (depth != 0) refuse(number, "has a value that is not a number, a word or a [list]");
    }
  }
}

}  // namespace

CalibrationFile read_calibration(const fs::path& path, const PipelineSettings& base) {
  if (!fs::is_regular_file(path)) {
    throw IoError("calibration file " + path.string() +
                  " does not exist; give another with --calibration, or run digitcam calibrate");
  }
  const std::string text = calibration_text(path);
  check_layout(text, path);
  cv::FileStorage fs;
  try {
    fs.open(text, cv::FileStorage::READ | cv::FileStorage::MEMORY | cv::FileStorage::FORMAT_YAML);
  } catch (const cv::Exception& e) {
    throw IoError("calibration file " + path.string() + " is not valid YAML (" + e.err + ")");
  } catch (const std::exception& e) {
    // OpenCV's parser lets some damage out as a standard exception (found by fuzzing: a mangled
    // key ends in std::length_error); the file is just as unreadable.
    throw IoError("calibration file " + path.string() + " is not valid YAML (" + e.what() + ")");
  }
  if (!fs.isOpened()) throw IoError("cannot read calibration file " + path.string());
  if (!fs.root().isMap() && !fs.root().empty()) {
    throw IoError("calibration file " + path.string() +
                  " holds no sections; see calibration/default.yml for the layout");
  }

  FileReader r(fs, path);
  PipelineSettings s = base;
  constexpr double huge = 1e6;
  const auto seg = r.section("segmentation");
  r.read_polarity(seg, "polarity", s.segmenter.polarity);
  r.read(seg, "min_height_fraction", s.segmenter.min_height_fraction, 0, 1);
  r.read(seg, "max_height_fraction", s.segmenter.max_height_fraction, 0, 1);
  r.read(seg, "min_aspect", s.segmenter.min_aspect, 0, huge);
  r.read(seg, "max_aspect", s.segmenter.max_aspect, 0, huge);
  r.read(seg, "min_fill", s.segmenter.min_fill, 0, 1);
  r.read(seg, "max_fill", s.segmenter.max_fill, 0, 1);
  r.read(seg, "block_fraction", s.segmenter.block_fraction, 0, 1);
  r.read(seg, "threshold_offset", s.segmenter.threshold_offset, 0, 255);
  r.read(seg, "relative_contrast", s.segmenter.relative_contrast, 0, 1);
  r.read(seg, "max_stroke_fraction", s.segmenter.max_stroke_fraction, 0, 1);
  r.read(seg, "max_paper_variation", s.segmenter.max_paper_variation, 0, huge);
  r.read(seg, "erase_ruled_lines", s.segmenter.erase_ruled_lines, 0, 1);
  const auto norm = r.section("normalization");
  r.read(norm, "match_stroke_width", s.match_stroke_width, 0, 1);
  const auto dec = r.section("decision");
  r.read(dec, "temperature", s.decision.temperature, 1e-3, 1e3);
  r.read(dec, "reject_threshold", s.decision.reject_threshold, 0, 1);
  const auto trk = r.section("tracker");
  r.read(trk, "min_iou", s.tracker.min_iou, 0, 1);
  r.read(trk, "max_missed", s.tracker.max_missed, 0, huge);
  r.read(trk, "evidence_decay", s.tracker.evidence_decay, 0, 1);
  r.read(trk, "switch_margin", s.tracker.switch_margin, 0, 1);
  r.read(trk, "confirm_frames", s.tracker.confirm_frames, 1, huge);
  const auto rd = r.section("reader");
  r.read(rd, "max_gap", s.reader.max_gap, 0, huge);
  r.read(rd, "min_height_ratio", s.reader.min_height_ratio, 0, 1);
  r.read(rd, "min_vertical_overlap", s.reader.min_vertical_overlap, 0, 1);

  // Pairs and positive sizes, named here rather than left to the segmenter's general message.
  const auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw UsageError(path.string() + ": " + what);
  };
  const vision::SegmenterOptions& o = s.segmenter;
  require(o.min_height_fraction > 0, "segmentation.min_height_fraction must be above 0");
  require(o.block_fraction > 0, "segmentation.block_fraction must be above 0");
  require(o.max_stroke_fraction > 0, "segmentation.max_stroke_fraction must be above 0");
  require(o.max_paper_variation > 0, "segmentation.max_paper_variation must be above 0");
  require(o.min_height_fraction < o.max_height_fraction,
          "segmentation.min_height_fraction must be below max_height_fraction");
  require(o.min_aspect > 0 && o.min_aspect < o.max_aspect,
          "segmentation.min_aspect must be above 0 and below max_aspect");
  require(o.min_fill < o.max_fill, "segmentation.min_fill must be below max_fill");
  return {s, r.missing(), r.unknown()};
}

PipelineSettings load_calibration(const fs::path& path) {
  return read_calibration(path).settings;
}

fs::path resolve_calibration(const std::string& name_or_path) {
  if (name_or_path.empty()) throw UsageError("--calibration needs a name or a file");
  const fs::path given(name_or_path);
  const std::string extension = given.extension().string();
  const bool path_like = given.has_parent_path() || extension == ".yml" || extension == ".yaml";
  std::error_code ec;
  if (path_like || fs::is_regular_file(given, ec)) return given;
  const fs::path named = resource_paths().calibration / (name_or_path + ".yml");
  if (fs::is_regular_file(named, ec)) return named;
  throw IoError("calibration '" + name_or_path + "' not found: neither a file of that name nor " +
                named.string() + "; run 'digitcam calibrate SOURCE --name " + name_or_path +
                "' to make it");
}

fs::path named_calibration_path(const std::string& name) {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  }) && name.front() != '.';
  if (!plain) {
    throw UsageError("calibration name '" + name +
                     "' must be letters, digits, '-', '_' or '.'; give a file with --output");
  }
  return resource_paths().calibration / (name + ".yml");
}

PipelineSettings settings_from_calibration(const std::string& name_or_path,
                                           std::ostream& warnings) {
  const fs::path default_path = default_calibration_path();
  std::error_code ec;
  const bool have_default = fs::is_regular_file(default_path, ec);
  const auto list = [](const std::vector<std::string>& keys) {
    std::string text;
    for (const std::string& k : keys) text += (text.empty() ? "" : ", ") + k;
    return text;
  };
  const auto warn = [&](const fs::path& path, const CalibrationFile& file, const char* fallback) {
    if (!file.missing.empty()) {
      warnings << "digitcam: warning: " << path.string() << " leaves out " << list(file.missing)
               << "; using " << fallback << " for " << (file.missing.size() == 1 ? "it" : "them")
               << '\n';
    }
    if (!file.unknown.empty()) {
      warnings << "digitcam: warning: " << path.string() << " has unknown "
               << (file.unknown.size() == 1 ? "key " : "keys ") << list(file.unknown)
               << " (ignored; see calibration/default.yml for the names)\n";
    }
  };
  // Keys a file leaves out come from default.yml (which holds the trained model's temperature
  // and reject threshold), and those default.yml leaves out from the built-in values.
  PipelineSettings base;
  if (have_default) {
    const CalibrationFile defaults = read_calibration(default_path);
    const fs::path path = name_or_path.empty() ? default_path : resolve_calibration(name_or_path);
    if (fs::equivalent(path, default_path, ec)) {
      warn(default_path, defaults, "the built-in values");
      return defaults.settings;
    }
    base = defaults.settings;
  }
  if (name_or_path.empty()) return base;
  const fs::path path = resolve_calibration(name_or_path);
  const CalibrationFile file = read_calibration(path, base);
  warn(path, file, have_default ? "calibration/default.yml's values" : "the built-in values");
  return file.settings;
}

void save_calibration(const PipelineSettings& s, const fs::path& path,
                      const std::vector<std::string>& comments) {
  const fs::path temporary = path.parent_path() / (path.stem().string() + ".tmp.yml");
  {
    YamlText out(comments);
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
    out << "switch_margin" << s.tracker.switch_margin;
    out << "confirm_frames" << s.tracker.confirm_frames << "}";
    out << "reader"
        << "{"
        << "max_gap" << s.reader.max_gap;
    out << "min_height_ratio" << s.reader.min_height_ratio;
    out << "min_vertical_overlap" << s.reader.min_vertical_overlap << "}";
    std::ofstream file(temporary, std::ios::trunc);
    file << out.text();
    file.close();
    if (!file) {
      throw IoError("cannot write calibration file " + temporary.string() +
                    "; check the folder exists and is writable");
    }
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) throw IoError("cannot write calibration file " + path.string() + ": " + ec.message());
}

}  // namespace digitcam::app
