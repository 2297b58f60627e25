#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

using digitcam::test::run_digitcam;
using digitcam::test::slurp;
using digitcam::test::TempFolder;

namespace {

// "... test 93.21%" at the end of train's closing line; -1 when absent.
double test_accuracy_of(const std::string& err) {
  std::smatch m;
  if (!std::regex_search(err, m, std::regex(R"(; test ([0-9.]+)%)"))) return -1.0;
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("cli: --help lists the commands and exits 0; --version prints the version") {
  auto r = run_digitcam("--help");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("train") != std::string::npos);
  CHECK(r.out.find("eval") != std::string::npos);
  CHECK(r.out.find("bench") != std::string::npos);
  r = run_digitcam("--version");
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("digitcam ", 0) == 0);
  r = run_digitcam("train --help");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--epochs") != std::string::npos);
  CHECK(r.out.find("--resume") != std::string::npos);
}

TEST_CASE("cli: an unknown command or option gives a usage message and exit code 2") {
  auto r = run_digitcam("frobnicate");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown command or option 'frobnicate'") != std::string::npos);
  r = run_digitcam("eval --no-such-option");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no-such-option") != std::string::npos);
  CHECK(r.err.find("digitcam eval --help") != std::string::npos);
  r = run_digitcam("train --epochs many");
  CHECK(r.exit_code == 2);
  r = run_digitcam("eval --engine tensorflow");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("tensorflow") != std::string::npos);
}

TEST_CASE("cli: a missing or corrupt model is exit code 4 with a message naming the file") {
  TempFolder folder("cli-model");
  auto r = run_digitcam("eval --model '" + (folder / "nope.onnx").string() + "'");
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("nope.onnx") != std::string::npos);
  {
    std::ofstream junk(folder / "junk.onnx");
    junk << "this is not a protobuf";
  }
  r = run_digitcam("eval --model '" + (folder / "junk.onnx").string() + "'");
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("junk.onnx") != std::string::npos);
}

TEST_CASE("cli: a truncated MNIST file is exit code 3 and names the file") {
  TempFolder folder("cli-mnist");
  for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    std::filesystem::copy_file(digitcam::test::mnist_folder() / name, folder / name);
  }
  std::filesystem::resize_file(folder / "t10k-images-idx3-ubyte", 5000);
  const auto r = run_digitcam("eval --mnist '" + folder.path().string() + "'");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("t10k-images-idx3-ubyte") != std::string::npos);
}

TEST_CASE("cli: train writes the model, its card and the report; eval reads the model back") {
  TempFolder folder("cli-train");
  const auto model = folder / "small.onnx";
  auto r = run_digitcam(
      "train --limit 1200 --epochs 1 --batch 32 --augment none --threads 2 "
      "--output '" +
      model.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(std::filesystem::exists(model));
  CHECK_FALSE(std::filesystem::exists(model.string() + ".ckpt"));
  const auto card = digitcam::test::slurp(folder / "small.json");
  for (const char* key : {"\"recipe\"", "\"data_sha256\"", "\"training_seconds\"", "\"threads\"",
                          "\"machine\"", "\"date\"", "\"test\"", "\"accuracy\"",
                          "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"}) {
    CHECK_MESSAGE(card.find(key) != std::string::npos, "model card lacks " << key);
  }
  for (const char* picture : {"training_curves.png", "confusion.png", "misclassified.png",
                              "samples.png", "gallery.png", "reliability.png", "report.html"}) {
    CHECK_MESSAGE(std::filesystem::file_size(folder / "small.onnx-report" / picture) > 1000,
                  picture);
  }
  CHECK(r.err.find("epoch 1/1") != std::string::npos);

  r = run_digitcam("eval --json --limit 1000 --model '" + model.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (const char* key : {"\"accuracy\"", "\"precision_macro\"", "\"recall_macro\"", "\"f1_macro\"",
                          "\"count\": 1000", "\"confusion\""}) {
    CHECK_MESSAGE(r.out.find(key) != std::string::npos,
                  "eval --json lacks " << key << ": " << r.out);
  }
}

TEST_CASE("cli: train without a validation split prints no validation figure") {
  TempFolder folder("cli-train-no-validation");
  const auto r = run_digitcam(
      "train --limit 600 --epochs 1 --batch 32 --augment none --validation 0 --no-negatives "
      "--threads 2 --no-checkpoint --output '" +
      (folder / "small.onnx").string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto epoch_line = r.err.find("epoch 1/1:");
  REQUIRE(epoch_line != std::string::npos);
  const std::string line = r.err.substr(epoch_line, r.err.find('\n', epoch_line) - epoch_line);
  CHECK_MESSAGE(line.find("validation") == std::string::npos, line);
  CHECK_MESSAGE(line.find("nan") == std::string::npos, line);
  CHECK_MESSAGE(line.find("train ") != std::string::npos, line);
}

TEST_CASE("cli: an output folder that cannot be written fails before training starts") {
  const auto r = run_digitcam("train --limit 200 --epochs 1 --output /proc/digitcam/model.onnx");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("/proc/digitcam") != std::string::npos);
  CHECK(r.err.find("epoch") == std::string::npos);
}

TEST_CASE("cli: bench --json prints every figure, side by side, as numbers") {
  const auto r = run_digitcam("bench --quick --json --threads 2");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (const char* key :
       {"native_b1_us", "opencv_b1_us", "native_b64_per_s", "opencv_b64_per_s", "decode_fps",
        "pipeline_fps", "pipeline_live_fps", "pipeline_p99_ms", "pipeline_720p_fps",
        "pipeline_720p_live_fps", "pipeline_720p_p99_ms", "end_to_end_fps", "end_to_end_vs_decode",
        "end_to_end_vs_slower_stage", "soak_rss_end_kib"}) {
    const std::string quoted = std::string("\"") + key + "\": ";
    const auto at = r.out.find(quoted);
    REQUIRE_MESSAGE(at != std::string::npos, "bench --json lacks " << key << ": " << r.out);
    CHECK_MESSAGE(std::stod(r.out.substr(at + quoted.size())) > 0.0, key);
  }
}

TEST_CASE("cli: MNIST files whose image and label counts differ are exit code 3 naming both") {
  if (!digitcam::test::have_mnist()) {
    MESSAGE("MNIST absent (run tools/setup.sh): skipped");
    return;
  }
  TempFolder folder("cli-mismatch");
  for (const char* name : digitcam::test::mnist_file_names) {
    std::filesystem::copy_file(digitcam::test::mnist_folder() / name, folder / name);
  }
  // The test labels of another set: a valid IDX label file with 9999 labels.
  {
    std::ifstream in(digitcam::test::mnist_folder() / "t10k-labels-idx1-ubyte", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes.resize(bytes.size() - 1);
    bytes[6] = static_cast<char>(9999 >> 8);
    bytes[7] = static_cast<char>(9999 & 0xFF);
    std::ofstream(folder / "t10k-labels-idx1-ubyte", std::ios::binary | std::ios::trunc) << bytes;
  }
  const auto r = run_digitcam("eval --mnist '" + folder.path().string() + "'");
  CAPTURE(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("t10k-images-idx3-ubyte (10000 images)") != std::string::npos);
  CHECK(r.err.find("t10k-labels-idx1-ubyte (9999 labels)") != std::string::npos);
}

TEST_CASE("cli: a digits sheet of the wrong size is exit code 3 naming its size") {
  TempFolder folder("cli-sheet");
  const auto sheet = folder / "digits.png";
  REQUIRE(cv::imwrite(sheet.string(), cv::Mat(500, 1000, CV_8UC1, cv::Scalar(0))));
  const auto r = run_digitcam("eval --digits-png '" + sheet.string() + "'");
  CAPTURE(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("digits.png is 1000x500, expected 2000x1000") != std::string::npos);
}

TEST_CASE("cli: a huge digits sheet or labelled picture is refused from its header, not decoded") {
  // 76 KB of PNG that decodes to 400 MB of grey: eval must say so from the header, as run does.
  const auto huge = digitcam::test::source_dir() / "tests/fixtures/images/blank_20000x20000.png";
  TempFolder folder("cli-huge");
  const auto report = folder / "report";
  const auto out = folder / "stdout", err = folder / "stderr";
  const auto eval_peak_kib = [&](const std::string& arguments, int& exit_code) {
    const pid_t pid = digitcam::test::spawn_digitcam(arguments, out, err);
    int status = 0;
    struct rusage use {};
    REQUIRE(::wait4(pid, &status, 0, &use) == pid);
    exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return use.ru_maxrss;  // KiB, digitcam's own peak (spawn_digitcam execs it)
  };
  // The whole run stays far below the decoded picture (400,000 KiB), even in a sanitizer build.
  constexpr long max_peak_kib = 300'000;

  int exit_code = -1;
  long peak = eval_peak_kib(
      "eval --digits-png '" + huge.string() + "' --report '" + report.string() + "'", exit_code);
  std::string message = slurp(err);
  CAPTURE(message);
  CHECK(exit_code == 3);
  CHECK(message.rfind("digitcam: image ", 0) == 0);
  CHECK(message.find("blank_20000x20000.png is 20000x20000 (400 megapixels); digitcam reads "
                     "pictures up to 120 megapixels") != std::string::npos);
  CHECK(message.find('\n') == message.size() - 1);  // one line
  CHECK(slurp(out).empty());
  CHECK_FALSE(std::filesystem::exists(report));  // nothing written
  CHECK(peak > 0);
  CHECK(peak < max_peak_kib);

  // The same picture inside a labelled folder (--images DIR, DIR/<digit>/...).
  const auto labelled = folder / "labelled";
  std::filesystem::create_directories(labelled / "3");
  std::filesystem::copy_file(huge, labelled / "3" / "huge.png");
  peak = eval_peak_kib("eval --images '" + labelled.string() + "'", exit_code);
  message = slurp(err);
  CHECK(exit_code == 3);
  CHECK(message.find("huge.png is 20000x20000 (400 megapixels)") != std::string::npos);
  CHECK(peak < max_peak_kib);
}

TEST_CASE(
    "cli: train killed mid-epoch leaves no half model; --resume ends where a whole run does") {
  if (!digitcam::test::have_mnist()) {
    MESSAGE("MNIST absent (run tools/setup.sh): skipped");
    return;
  }
  TempFolder folder("cli-kill");
  const std::string recipe = "train --limit 2000 --epochs 3 --batch 32 --augment none --threads 2 ";
  const auto whole = folder / "whole.onnx", model = folder / "model.onnx";
  auto r = run_digitcam(recipe + "--output '" + whole.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const double whole_accuracy = test_accuracy_of(r.err);
  REQUIRE(whole_accuracy > 0);

  // SIGKILL (no handler can run) once the first epoch's checkpoint is written and the second
  // epoch is under way.
  const auto out = folder / "stdout", err = folder / "stderr";
  const pid_t pid =
      digitcam::test::spawn_digitcam(recipe + "--output '" + model.string() + "'", out, err);
  const auto start = std::chrono::steady_clock::now();
  while (slurp(err).find("epoch 1/3:") == std::string::npos) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() - start < std::chrono::minutes(10),
                    slurp(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  CHECK(digitcam::test::wait_digitcam(pid) == 128 + SIGKILL);
  CHECK(slurp(err).find("epoch 2/3:") == std::string::npos);  // killed inside epoch 2
  CHECK_FALSE(std::filesystem::exists(model));                // never half-written
  CHECK_FALSE(std::filesystem::exists(folder / "model.json"));
  REQUIRE(std::filesystem::exists(model.string() + ".ckpt"));
  for (const auto& entry : std::filesystem::directory_iterator(folder.path())) {
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp") == std::string::npos,
                  "temporary file left: " << entry.path());
  }

  r = run_digitcam(recipe + "--resume --output '" + model.string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("epoch 1/3:") == std::string::npos);  // not trained again
  CHECK(r.err.find("epoch 3/3:") != std::string::npos);
  const double resumed_accuracy = test_accuracy_of(r.err);
  CAPTURE(whole_accuracy);
  CAPTURE(resumed_accuracy);
  // Resuming restores weights, optimizer state and the data order, so the runs agree; 0.5 points
  // leaves room for the noise of a different thread schedule.
  CHECK(std::abs(resumed_accuracy - whole_accuracy) < 0.5);
  CHECK_FALSE(std::filesystem::exists(model.string() + ".ckpt"));
  r = run_digitcam("eval --limit 500 --model '" + model.string() + "'");
  CHECK(r.exit_code == 0);
}
