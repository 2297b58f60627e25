#pragma once
// models/digits.json: what a model is and how it came to be (recipe, data checksums, metrics,
// training time, threads, machine, date). Written next to the ONNX file, atomically.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "digitcam/train/trainer.hpp"

namespace digitcam::train {

struct ModelCard {
  std::string model_file;
  std::string architecture;
  std::string recipe;  // TrainOptions::describe()
  std::string command; // the command line that trained it
  std::size_t parameters = 0;
  std::map<std::string, std::string> data_sha256;  // file name -> digest
  std::vector<EpochStats> history;
  double training_seconds = 0;
  int threads = 0;
  std::string machine;  // CPU model and core count
  std::string date;     // UTC, ISO 8601
  std::string metrics_json;  // the test-set metrics object (train/metrics to_json)
  std::map<std::string, double> figures;  // further named results, e.g. digits_sheet_accuracy
};

std::string to_json(const ModelCard& card);
void write_model_card(const std::filesystem::path& path, const ModelCard& card);

// "AMD EPYC (2 cores)" from /proc/cpuinfo; "unknown" when it cannot be read.
std::string describe_machine();
// Current UTC time as 2026-11-21T15:04:05Z.
std::string utc_now();

}  // namespace digitcam::train
