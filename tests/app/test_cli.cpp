#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "support/data_paths.hpp"
#include "support/run_binary.hpp"

using digitcam::test::run_digitcam;
using digitcam::test::TempFolder;

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

TEST_CASE("cli: an output folder that cannot be written fails before training starts") {
  const auto r = run_digitcam("train --limit 200 --epochs 1 --output /proc/digitcam/model.onnx");
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("/proc/digitcam") != std::string::npos);
  CHECK(r.err.find("epoch") == std::string::npos);
}

TEST_CASE("cli: bench --json prints every figure, side by side, as numbers") {
  const auto r = run_digitcam("bench --quick --json --threads 2");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (const char* key : {"native_b1_us", "opencv_b1_us", "native_b64_per_s", "opencv_b64_per_s",
                          "decode_fps", "pipeline_fps", "pipeline_p99_ms", "pipeline_720p_fps",
                          "pipeline_720p_p99_ms", "soak_rss_end_kib"}) {
    const std::string quoted = std::string("\"") + key + "\": ";
    const auto at = r.out.find(quoted);
    REQUIRE_MESSAGE(at != std::string::npos, "bench --json lacks " << key << ": " << r.out);
    CHECK_MESSAGE(std::stod(r.out.substr(at + quoted.size())) > 0.0, key);
  }
}
