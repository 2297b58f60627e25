#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/batch_norm.hpp"
#include "digitcam/engine/conv2d.hpp"
#include "digitcam/engine/dense.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/max_pool.hpp"
#include "digitcam/engine/network.hpp"
#include "digitcam/engine/onnx_io.hpp"

using namespace digitcam;
using namespace digitcam::engine;
namespace fs = std::filesystem;

namespace {

// Bounds the comparisons below are held to.
constexpr float round_trip_tolerance = 1e-5f;  // same engine, same weights: only float noise
constexpr float reference_tolerance = 1e-4f;   // against PyTorch / numpy, other summation orders
constexpr int fixture_crop_side = 28;

fs::path fixture(const std::string& name) {
  return fs::path(DIGITCAM_SOURCE_DIR) / "tests" / "fixtures" / "onnx" / name;
}

// A fresh folder per test under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("digitcam_test_onnx_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Tensor random_crops(int n, std::uint32_t seed) {
  Tensor x({n, 1, fixture_crop_side, fixture_crop_side});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (float& v : x.values()) v = u(rng);
  return x;
}

float max_abs_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float worst = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
  }
  return worst;
}

void fill_random(Tensor& t, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  for (float& v : t.values()) v = u(rng);
}

// Every layer kind digitcam has, with odd geometry: asymmetric pads, strides, a transpose.
Network every_layer_network(std::uint64_t seed) {
  Network net({1, 1, 28, 28});
  net.emplace<Conv2D>(Conv2DGeometry{1, 4, 3, 3, 1, 1, 1, 1, 1, 1});  // 4 x 28 x 28
  net.emplace<BatchNorm>(4, 1e-3f, 0.2f);
  net.emplace<ReLU>();
  net.emplace<MaxPool>(PoolGeometry{});                               // 4 x 14 x 14
  net.emplace<Transpose4D>(std::array<int, 4>{0, 1, 3, 2});           // swaps H and W
  net.emplace<Conv2D>(Conv2DGeometry{4, 6, 3, 2, 2, 1, 0, 1, 1, 0});  // 6 x 7 x 14
  net.emplace<ReLU>();
  net.emplace<MaxPool>(PoolGeometry{3, 3, 2, 2, 1, 1, 1, 1});  // 6 x 4 x 7
  net.emplace<Flatten>();
  net.emplace<Dense>(6 * 4 * 7, 16);
  net.emplace<BatchNorm>(16);
  net.emplace<ReLU>();
  net.emplace<Dropout>(0.25f);
  net.emplace<Dense>(16, 10);
  net.emplace<Softmax>();
  net.initialize(seed);
  // Running statistics away from (0, 1), so a mix-up of mean, variance or scale shows.
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  for (auto& p : net.buffers()) {
    fill_random(*p.value, rng, 0.1f, 0.9f);
  }
  for (auto& p : net.params()) {
    if (p.name.find("BatchNorm") != std::string::npos) fill_random(*p.value, rng, 0.5f, 1.5f);
  }
  return net;
}

std::vector<std::string> kinds(const Network& net) {
  std::vector<std::string> out;
  for (const auto& layer : net.layers()) out.emplace_back(layer->kind());
  return out;
}

struct Expected {
  Tensor inputs;   // [N, 1, 28, 28]
  Tensor outputs;  // [N, K, 1, 1]
};

// Reads <name>.expected.bin written by tests/fixtures/make_onnx_fixtures.py.
Expected read_expected(const std::string& name) {
  std::ifstream in(fixture(name), std::ios::binary);
  REQUIRE_MESSAGE(in.good(),
                  "missing fixture " << name << "; run tests/fixtures/make_onnx_fixtures.py");
  std::int32_t n = 0, k = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  in.read(reinterpret_cast<char*>(&k), sizeof k);
  REQUIRE((n > 0 && n < 100 && k > 0 && k < 1000));
  Expected e{Tensor({n, 1, fixture_crop_side, fixture_crop_side}), Tensor({n, k, 1, 1})};
  in.read(reinterpret_cast<char*>(e.inputs.data()),
          static_cast<std::streamsize>(e.inputs.size() * sizeof(float)));
  in.read(reinterpret_cast<char*>(e.outputs.data()),
          static_cast<std::streamsize>(e.outputs.size() * sizeof(float)));
  REQUIRE(in.good());
  return e;
}

// log_softmax per row of [N, K, 1, 1].
Tensor log_softmax(const Tensor& z) {
  Tensor out(z.shape());
  for (int n = 0; n < z.shape().n; ++n) {
    const float* row = z.item(n);
    const int k = z.shape().c;
    const float top = *std::max_element(row, row + k);
    double sum = 0.0;
    for (int j = 0; j < k; ++j) sum += std::exp(double(row[j] - top));
    for (int j = 0; j < k; ++j) out.item(n)[j] = row[j] - top - float(std::log(sum));
  }
  return out;
}

std::string load_error(const fs::path& path) {
  try {
    load_onnx(path);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(no ModelError)";
}

}  // namespace

TEST_CASE("onnx: a saved network with every layer kind loads back with identical outputs") {
  TempDir dir;
  const fs::path path = dir / "every_layer.onnx";
  Network original = every_layer_network(7);
  save_onnx(original, path);
  CHECK_NOTHROW(check_onnx_file(path));

  Network loaded = load_onnx(path);
  CHECK(kinds(loaded) == kinds(original));
  const Tensor x = random_crops(5, 11);
  const Tensor expected = original.forward(x);
  const Tensor got = loaded.forward(x);
  CHECK_MESSAGE(max_abs_difference(expected, got) <= round_trip_tolerance, "seed 7, crops seed 11");
}

TEST_CASE("onnx: a dense layer reading a convolution directly round-trips through a Flatten") {
  TempDir dir;
  Network original({1, 1, 28, 28});
  original.emplace<Conv2D>(Conv2DGeometry{1, 3, 5, 5, 3, 3, 0, 0, 0, 0});  // 3 x 8 x 8
  original.emplace<ReLU>();
  original.emplace<Dense>(3 * 8 * 8, 12);
  original.emplace<Dense>(12, 4);  // ends in logits, no Softmax
  original.initialize(3);
  save_onnx(original, dir / "implicit_flatten.onnx");

  OnnxModel loaded = load_onnx_model(dir / "implicit_flatten.onnx");
  CHECK(kinds(loaded.network) ==
        std::vector<std::string>{"Conv2D", "ReLU", "Flatten", "Dense", "Dense"});
  CHECK_FALSE(loaded.info.outputs_probabilities);
  const Tensor x = random_crops(3, 5);
  const Tensor expected = original.forward(x);
  CHECK(max_abs_difference(expected, loaded.network.forward(x)) <= round_trip_tolerance);
}

TEST_CASE("onnx: metadata written with a model is read back") {
  TempDir dir;
  const fs::path path = dir / "meta.onnx";
  OnnxMetadata metadata;
  for (int i = 0; i < 10; ++i) metadata.class_names.push_back("digit " + std::to_string(i));
  metadata.properties = {{"temperature", "1.25"}, {"recipe", "default; 12 epochs"}, {"note", ""}};
  save_onnx(every_layer_network(1), path, metadata);

  const OnnxInfo info = read_onnx_info(path);
  CHECK(info.producer == "digitcam");
  CHECK(info.opset == 13);
  CHECK(info.input_name == "input");
  CHECK(info.input_dims == std::vector<std::int64_t>{-1, 1, 28, 28});
  CHECK(info.output_name == "logits");
  CHECK(info.outputs_probabilities);
  CHECK(info.metadata.class_names == metadata.class_names);
  CHECK(info.metadata.properties == metadata.properties);

  const OnnxModel model = load_onnx_model(path);
  CHECK(model.info.metadata.class_names == metadata.class_names);
  CHECK(model.info.metadata.properties == metadata.properties);
  CHECK(model.network.classes() == 10);
}

TEST_CASE("onnx: saving refuses metadata it could not give back") {
  TempDir dir;
  const Network net = every_layer_network(2);
  OnnxMetadata too_few;
  too_few.class_names = {"a", "b"};
  CHECK_THROWS_AS(save_onnx(net, dir / "m.onnx", too_few), ModelError);
  OnnxMetadata comma;
  for (int i = 0; i < 10; ++i) comma.class_names.push_back(i == 3 ? "x,y" : "n");
  CHECK_THROWS_AS(save_onnx(net, dir / "m.onnx", comma), ModelError);
  OnnxMetadata reserved;
  reserved.properties = {{"classes", "10"}};
  CHECK_THROWS_AS(save_onnx(net, dir / "m.onnx", reserved), ModelError);
  CHECK_FALSE(fs::exists(dir / "m.onnx"));
}

TEST_CASE("onnx: saving replaces a file whole and leaves no temporary behind") {
  TempDir dir;
  const fs::path path = dir / "model.onnx";
  save_onnx(every_layer_network(1), path);
  Network second({1, 1, 28, 28});
  second.emplace<Flatten>();
  second.emplace<Dense>(784, 3);
  second.initialize(9);
  save_onnx(second, path);
  CHECK_FALSE(fs::exists(dir / "model.onnx.tmp"));
  CHECK(load_onnx(path).classes() == 3);
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("onnx: saving into a folder that does not exist is an IoError naming the path") {
  TempDir dir;
  const fs::path path = dir / "no_such_folder" / "model.onnx";
  try {
    save_onnx(every_layer_network(1), path);
    FAIL("save_onnx did not throw");
  } catch (const IoError& e) {
    CHECK(std::string(e.what()).find("no_such_folder") != std::string::npos);
  }
}

namespace {
// A layer kind the exporter has never heard of.
class Doubler : public Layer {
 public:
  std::string_view kind() const override { return "Doubler"; }
  Shape output_shape(const Shape& x) const override { return x; }
  void forward(const Tensor& x, Tensor& y) override {
    y.resize(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) y.data()[i] = 2.0f * x.data()[i];
  }
  void backward(const Tensor&, Tensor&) override {}
};
}  // namespace

TEST_CASE("onnx: saving a layer ONNX export does not know is a ModelError naming it") {
  TempDir dir;
  Network net({1, 1, 28, 28});
  net.emplace<Flatten>();
  net.emplace<Doubler>();
  net.emplace<Dense>(784, 2);
  CHECK_THROWS_WITH_AS(save_onnx(net, dir / "x.onnx"), doctest::Contains("'Doubler'"), ModelError);
}

TEST_CASE("onnx: PyTorch's export of a small CNN gives PyTorch's logits") {
  OnnxModel model = load_onnx_model(fixture("pytorch_cnn.onnx"));
  CHECK(model.info.producer.rfind("pytorch", 0) == 0);
  CHECK(kinds(model.network) == std::vector<std::string>{"Conv2D", "ReLU", "BatchNorm", "MaxPool",
                                                         "Conv2D", "ReLU", "MaxPool", "Flatten",
                                                         "Dense", "ReLU", "Dense"});
  const Expected e = read_expected("pytorch_cnn.expected.bin");
  const Tensor got = model.network.forward(e.inputs);
  CHECK_MESSAGE(max_abs_difference(got, e.outputs) <= reference_tolerance,
                "tests/fixtures/onnx/pytorch_cnn.onnx against pytorch_cnn.expected.bin");
}

TEST_CASE("onnx: PyTorch's view(x.size(0), -1) and log_softmax export loads with shapes folded") {
  OnnxModel model = load_onnx_model(fixture("pytorch_view.onnx"));
  CHECK(model.info.opset == 11);
  CHECK_FALSE(model.info.outputs_probabilities);
  // The Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain became one Flatten, and the
  // final LogSoftmax is dropped (the network gives logits; log_softmax of them is PyTorch's).
  CHECK(kinds(model.network) == std::vector<std::string>{"Conv2D", "MaxPool", "ReLU", "Conv2D",
                                                         "MaxPool", "ReLU", "Flatten", "Dense",
                                                         "ReLU", "Dense"});
  const Expected e = read_expected("pytorch_view.expected.bin");
  const Tensor got = log_softmax(model.network.forward(e.inputs));
  CHECK_MESSAGE(max_abs_difference(got, e.outputs) <= reference_tolerance,
                "tests/fixtures/onnx/pytorch_view.onnx against pytorch_view.expected.bin");
}

TEST_CASE("onnx: a Keras model converted by tf2onnx gives the numpy reference") {
  OnnxModel model = load_onnx_model(fixture("tf2onnx_keras.onnx"));
  CHECK(model.info.producer == "tf2onnx 1.9.3");
  CHECK(model.info.input_name == "input_1");
  CHECK(model.info.input_dims == std::vector<std::int64_t>{-1, 28, 28, 1});
  CHECK(model.info.outputs_probabilities);
  // NHWC in: the adapter and tf2onnx's first Transpose cancel; the one before the Reshape stays
  // because the dense weights were trained on NHWC order.
  CHECK(kinds(model.network) == std::vector<std::string>{"Conv2D", "ReLU", "MaxPool", "Conv2D",
                                                         "ReLU", "MaxPool", "Transpose", "Flatten",
                                                         "Dense", "ReLU", "Dense", "Softmax"});
  const Expected e = read_expected("tf2onnx_keras.expected.bin");
  const Tensor got = model.network.forward(e.inputs);
  CHECK_MESSAGE(max_abs_difference(got, e.outputs) <= reference_tolerance,
                "tests/fixtures/onnx/tf2onnx_keras.onnx against tf2onnx_keras.expected.bin");
}

TEST_CASE("onnx: PyTorch's ceil-mode max pooling gives PyTorch's logits") {
  // ceil_mode adds a last window that floor mode (all digitcam's MaxPool knows) drops; the
  // importer pads the end instead.
  OnnxModel model = load_onnx_model(fixture("pytorch_ceil.onnx"));
  CHECK(model.network.output_shape(1) == Shape{1, 10, 1, 1});
  const Expected e = read_expected("pytorch_ceil.expected.bin");
  const Tensor got = model.network.forward(e.inputs);
  CHECK_MESSAGE(max_abs_difference(got, e.outputs) <= reference_tolerance,
                "tests/fixtures/onnx/pytorch_ceil.onnx against pytorch_ceil.expected.bin");
}

TEST_CASE("onnx: an MLP on [N, 28, 28] with Constant, Identity and a transposed Gemm loads") {
  OnnxModel model = load_onnx_model(fixture("odd_mlp.onnx"));
  CHECK(model.info.input_dims == std::vector<std::int64_t>{-1, 28, 28});
  CHECK(kinds(model.network) ==
        std::vector<std::string>{"Flatten", "Dense", "ReLU", "Dropout", "Dense", "Softmax"});
  const Expected e = read_expected("odd_mlp.expected.bin");
  const Tensor got = model.network.forward(e.inputs);
  CHECK_MESSAGE(max_abs_difference(got, e.outputs) <= reference_tolerance,
                "tests/fixtures/onnx/odd_mlp.onnx against odd_mlp.expected.bin");
}

TEST_CASE("onnx: a network loaded from another producer saves and loads again unchanged") {
  TempDir dir;
  Network keras = load_onnx(fixture("tf2onnx_keras.onnx"));
  save_onnx(keras, dir / "again.onnx");
  Network again = load_onnx(dir / "again.onnx");
  const Tensor x = random_crops(4, 21);
  const Tensor expected = keras.forward(x);
  CHECK(max_abs_difference(expected, again.forward(x)) <= round_trip_tolerance);
}

TEST_CASE("onnx: every broken file is a ModelError that names the file and the problem") {
  struct Case {
    const char* file;
    std::vector<const char*> says;
  };
  const std::vector<Case> cases = {
      {"does_not_exist.onnx", {"does not exist"}},
      {"empty.onnx", {"is empty"}},
      {"truncated.onnx", {"not a readable ONNX model", "truncated"}},
      {"unsupported_op.onnx",
       {"unsupported ONNX op 'Resize'", "node 'downsample'", "digitcam supports Conv, Relu"}},
      {"wrong_input_shape.onnx", {"graph input 'input'", "[?, 3, 32, 32]", "28x28"}},
      {"absurd_dims.onnx", {"'conv.weight'", "[1000000000, 1, 3, 3]", "100000000 elements"}},
      {"huge_padding.onnx", {"node 'conv' (Conv)", "pad of 100000"}},
      {"nan_weights.onnx", {"'fc.weight'", "NaN", "node 'fc' (Gemm)"}},
      {"not_a_chain.onnx", {"not a chain", "node 'skip' (Add)"}},
      {"size_mismatch.onnx", {"node 'fc' (Gemm)", "for 100 features", "has 98"}},
  };
  for (const auto& c : cases) {
    const std::string message = load_error(fixture(c.file));
    INFO("tests/fixtures/onnx/", c.file, ": ", message);
    CHECK(message.find(c.file) != std::string::npos);
    for (const char* part : c.says) CHECK(message.find(part) != std::string::npos);
  }
}

TEST_CASE("onnx: random bytes are a ModelError naming the file, never a crash") {
  const std::string message = load_error(fixture("random_bytes.onnx"));
  INFO(message);
  CHECK(message.find("random_bytes.onnx") != std::string::npos);
  CHECK_THROWS_AS(read_onnx_info(fixture("random_bytes.onnx")), ModelError);
  CHECK_THROWS_AS(check_onnx_file(fixture("truncated.onnx")), ModelError);
}

TEST_CASE("onnx: every prefix of a valid model is refused cleanly or loads whole") {
  // Cutting a file anywhere must never crash or hang; where protobuf happens to parse a prefix
  // the chain checks refuse it (or, cut after the last field, it is the whole model).
  TempDir dir;
  std::ifstream in(fixture("pytorch_view.onnx"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 1000);
  const fs::path path = dir / "cut.onnx";
  int refused = 0;
  for (std::size_t cut = 1; cut < bytes.size(); cut += 97) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(cut));
    try {
      load_onnx(path);
    } catch (const ModelError&) {
      ++refused;
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("onnx: models with flipped bytes load or give a ModelError, never anything else") {
  // Seeded mutations of real files: protobuf may still parse them, so every later check (chain,
  // sizes, limits, finiteness) gets exercised on nonsense. Any other exception, or a crash, fails.
  TempDir dir;
  const fs::path path = dir / "mutant.onnx";
  std::mt19937 rng(1234);
  int loaded = 0, refused = 0;
  for (const char* name : {"pytorch_cnn.onnx", "pytorch_view.onnx", "tf2onnx_keras.onnx"}) {
    std::ifstream in(fixture(name), std::ios::binary);
    const std::string original((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    REQUIRE(!original.empty());
    for (int round = 0; round < 150; ++round) {
      std::string bytes = original;
      const int flips = 1 + round % 4;
      for (int f = 0; f < flips; ++f) {
        bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xFF);
      }
      std::ofstream(path, std::ios::binary | std::ios::trunc)
          .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      INFO(name, " round ", round, " (seed 1234)");
      try {
        Network net = load_onnx(path);
        net.forward(random_crops(2, 1));
        ++loaded;
      } catch (const ModelError&) {
        ++refused;
      }
    }
  }
  CHECK(loaded + refused == 450);
  CHECK(refused > 0);
}
