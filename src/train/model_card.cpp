#include "digitcam/train/model_card.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "digitcam/engine/error.hpp"

namespace digitcam::train {

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

}  // namespace

std::string to_json(const ModelCard& card) {
  std::ostringstream j;
  j << "{\n  \"model_file\": " << quoted(card.model_file)
    << ",\n  \"architecture\": " << quoted(card.architecture)
    << ",\n  \"parameters\": " << card.parameters << ",\n  \"recipe\": " << quoted(card.recipe)
    << ",\n  \"command\": " << quoted(card.command) << ",\n  \"data_sha256\": {";
  bool first = true;
  for (const auto& [file, digest] : card.data_sha256) {
    j << (first ? "\n    " : ",\n    ") << quoted(file) << ": " << quoted(digest);
    first = false;
  }
  j << "\n  },\n  \"training_seconds\": " << number(card.training_seconds)
    << ",\n  \"threads\": " << card.threads << ",\n  \"machine\": " << quoted(card.machine)
    << ",\n  \"date\": " << quoted(card.date) << ",\n  \"epochs\": [";
  first = true;
  for (const auto& e : card.history) {
    j << (first ? "\n    " : ",\n    ") << "{\"epoch\": " << e.epoch
      << ", \"train_loss\": " << number(e.train_loss)
      << ", \"train_accuracy\": " << number(e.train_accuracy)
      << ", \"validation_accuracy\": " << number(e.validation_accuracy)
      << ", \"seconds\": " << number(e.seconds)
      << ", \"images_per_second\": " << number(e.images_per_second) << "}";
    first = false;
  }
  j << "\n  ]";
  for (const auto& [name, value] : card.figures) j << ",\n  " << quoted(name) << ": " << number(value);
  j << ",\n  \"test\": " << (card.metrics_json.empty() ? "null" : card.metrics_json) << "\n}\n";
  return j.str();
}

void write_model_card(const std::filesystem::path& path, const ModelCard& card) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << to_json(card);
    out.flush();
    if (!out) throw IoError("cannot write model card " + temporary.string());
  }
  std::filesystem::rename(temporary, path);
}

std::string describe_machine() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + " (" + std::to_string(std::thread::hardware_concurrency()) + " cores)";
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace digitcam::train
