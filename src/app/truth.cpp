#include "digitcam/app/truth.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <vector>

#include "digitcam/engine/error.hpp"

namespace digitcam::app {

namespace {

// A reader for the small JSON subset truth files use: objects, arrays, integers and strings
// without escapes beyond \" and \\. Unknown keys are skipped whatever their value.
class JsonCursor {
 public:
  JsonCursor(const std::string& text, std::string where) : s_(text), where_(std::move(where)) {}

  void expect(char c) {
    skip_space();
    if (i_ >= s_.size() || s_[i_] != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  bool take(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      out += s_[i_++];
    }
    expect('"');
    return out;
  }
  long long integer() {
    skip_space();
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (start == i_ || (s_[start] == '-' && start + 1 == i_)) fail("expected an integer");
    return std::stoll(s_.substr(start, i_ - start));
  }
  // Skips one value of any kind.
  void skip_value() {
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end");
    const char c = s_[i_];
    if (c == '"') {
      string();
    } else if (c == '{') {
      object([&](const std::string&) { skip_value(); });
    } else if (c == '[') {
      array([&] { skip_value(); });
    } else {
      while (i_ < s_.size() &&
             std::string_view(",}] \t\r\n").find(s_[i_]) == std::string_view::npos)
        ++i_;
    }
  }
  // Calls each(key) for every key of an object, with the cursor on its value.
  template <class F>
  void object(F&& each) {
    expect('{');
    if (take('}')) return;
    do {
      const std::string key = string();
      expect(':');
      each(key);
    } while (take(','));
    expect('}');
  }
  // Calls each() for every element of an array.
  template <class F>
  void array(F&& each) {
    expect('[');
    if (take(']')) return;
    do each();
    while (take(','));
    expect(']');
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(where_ + ": " + what + " at character " + std::to_string(i_ + 1) +
                  "; truth files hold {\"frame\":N,\"digits\":[{\"label\":D,\"box\":[x,y,w,h]}]}");
  }

 private:
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  const std::string& s_;
  std::string where_;
  std::size_t i_ = 0;
};

TruthDigit parse_digit(JsonCursor& in) {
  TruthDigit d;
  in.object([&](const std::string& key) {
    if (key == "label") {
      d.label = static_cast<int>(in.integer());
    } else if (key == "box") {
      std::vector<int> v;
      in.array([&] { v.push_back(static_cast<int>(in.integer())); });
      if (v.size() != 4) in.fail("a box needs 4 numbers, x, y, w, h");
      d.box = {v[0], v[1], v[2], v[3]};
    } else {
      in.skip_value();
    }
  });
  return d;
}

TruthFrame parse_frame(const std::string& line, const std::string& where, std::int64_t fallback) {
  JsonCursor in(line, where);
  TruthFrame f;
  f.frame = fallback;
  in.object([&](const std::string& key) {
    if (key == "frame") {
      f.frame = in.integer();
    } else if (key == "digits") {
      in.array([&] { f.digits.push_back(parse_digit(in)); });
    } else if (key == "numbers") {
      in.array([&] { f.numbers.push_back(in.string()); });
    } else {
      in.skip_value();
    }
  });
  return f;
}

double iou(const cv::Rect& a, const cv::Rect& b) {
  const double overlap = (a & b).area();
  const double total = a.area() + b.area() - overlap;
  return total > 0 ? overlap / total : 0.0;
}

}  // namespace

std::map<std::int64_t, TruthFrame> load_truth(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot read truth file " + path.string());
  std::map<std::int64_t, TruthFrame> frames;
  std::string line;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    TruthFrame f = parse_frame(line, path.string() + " line " + std::to_string(number),
                               static_cast<std::int64_t>(frames.size()));
    frames[f.frame] = std::move(f);
  }
  if (frames.empty()) throw IoError("truth file " + path.string() + " holds no frame");
  return frames;
}

void TruthScore::add(const FrameResult& result, const TruthFrame& truth) {
  ++frames_;
  true_digits_ += static_cast<std::int64_t>(truth.digits.size());
  struct Pair {
    double overlap;
    std::size_t t, r;
  };
  std::vector<Pair> pairs;
  std::vector<char> overlaps_truth(result.digits.size(), 0);
  for (std::size_t t = 0; t < truth.digits.size(); ++t) {
    for (std::size_t r = 0; r < result.digits.size(); ++r) {
      if (result.digits[r].label < 0) continue;
      const double o = iou(truth.digits[t].box, result.digits[r].box);
      if (o < min_iou) continue;
      overlaps_truth[r] = 1;
      if (result.digits[r].label == truth.digits[t].label) pairs.push_back({o, t, r});
    }
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const Pair& a, const Pair& b) { return a.overlap > b.overlap; });
  std::vector<char> t_used(truth.digits.size(), 0), r_used(result.digits.size(), 0);
  for (const auto& p : pairs) {
    if (t_used[p.t] || r_used[p.r]) continue;
    t_used[p.t] = r_used[p.r] = 1;
    ++digits_read_;
  }
  for (std::size_t r = 0; r < result.digits.size(); ++r) {
    if (result.digits[r].label >= 0 && !overlaps_truth[r]) ++false_digits_;
  }
  true_numbers_ += static_cast<std::int64_t>(truth.numbers.size());
  std::vector<char> number_used(result.numbers.size(), 0);
  for (const auto& value : truth.numbers) {
    for (std::size_t n = 0; n < result.numbers.size(); ++n) {
      if (!number_used[n] && result.numbers[n].value == value) {
        number_used[n] = 1;
        ++numbers_read_;
        break;
      }
    }
  }
}

double TruthScore::read_rate() const {
  return true_digits_ > 0 ? static_cast<double>(digits_read_) / static_cast<double>(true_digits_)
                          : 0.0;
}

double TruthScore::numbers_rate() const {
  return true_numbers_ > 0 ? static_cast<double>(numbers_read_) / static_cast<double>(true_numbers_)
                           : 0.0;
}

std::string TruthScore::text() const {
  char line[256];
  std::snprintf(
      line, sizeof line,
      "truth: read %lld/%lld digits (%.2f%%), %lld false digits (%.3f per frame), "
      "numbers %lld/%lld (%.2f%%) over %lld frames",
      static_cast<long long>(digits_read_), static_cast<long long>(true_digits_),
      100.0 * read_rate(), static_cast<long long>(false_digits_),
      frames_ > 0 ? static_cast<double>(false_digits_) / static_cast<double>(frames_) : 0.0,
      static_cast<long long>(numbers_read_), static_cast<long long>(true_numbers_),
      100.0 * numbers_rate(), static_cast<long long>(frames_));
  return line;
}

}  // namespace digitcam::app
