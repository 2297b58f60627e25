#include "digitcam/engine/onnx_io.hpp"

#include <fcntl.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "digitcam/engine/activations.hpp"
#include "digitcam/engine/batch_norm.hpp"
#include "digitcam/engine/conv2d.hpp"
#include "digitcam/engine/dense.hpp"
#include "digitcam/engine/error.hpp"
#include "digitcam/engine/max_pool.hpp"

namespace digitcam::engine {

namespace {

namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; this file copies it as it is");

// ---- Fixed choices and limits ----
// What we write: opset 13 is fully known to libonnx 1.12's checker and to OpenCV 4.6's importer;
// IR version 7 is the one released alongside opset 13.
constexpr std::int64_t export_opset = 13;
constexpr std::int64_t export_ir_version = 7;
constexpr const char* producer_name = "digitcam";
constexpr const char* graph_input_name = "input";
constexpr const char* graph_output_name = "logits";
constexpr const char* batch_dim_name = "N";
// Metadata keys digitcam itself fills; free-form properties may not take them.
constexpr const char* classes_key = "classes";
constexpr const char* class_names_key = "class_names";
// What we read: the opsets whose semantics for the supported ops this file handles.
constexpr std::int64_t min_opset = 7;
constexpr std::int64_t max_opset = 18;
// Guards against corrupt or hostile files, checked before the engine allocates anything. A digit
// classifier has well under a million weights; these sit orders of magnitude above that.
constexpr std::int64_t max_parameters = 100'000'000;    // weight elements in the whole model
constexpr std::int64_t max_activation_items = 1 << 24;  // one crop's activation or im2col
constexpr std::int64_t max_dimension = 1 << 16;         // any one kernel size, pad or stride
constexpr std::uintmax_t max_file_bytes = std::uintmax_t{1} << 31;  // protobuf's own limit
// The crop every model is fed: one grey 28x28 image per item.
constexpr int crop_side = 28;
constexpr std::int64_t crop_pixels = crop_side * crop_side;
// Stands for the batch size inside folded shape arithmetic (Shape -> Gather -> Concat ...).
constexpr std::int64_t batch_symbol = std::numeric_limits<std::int64_t>::min();

const char* const supported_ops =
    "Conv, Relu, MaxPool, Gemm, MatMul, Add (as a bias), Flatten, Reshape, "
    "BatchNormalization, Dropout, Softmax, LogSoftmax (last), Identity, Transpose, Constant, and "
    "constant shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Cast)";

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += ", ";
    s += dims[i] == batch_symbol ? std::string("N") : std::to_string(dims[i]);
  }
  return s + "]";
}

template <class Container>
std::vector<std::int64_t> to_vector(const Container& c) {
  return std::vector<std::int64_t>(c.begin(), c.end());
}

// ======================================================================================
// Export
// ======================================================================================

void add_attribute(onnx::NodeProto& node, const char* name, std::int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void add_attribute(onnx::NodeProto& node, const char* name, float value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void add_attribute(onnx::NodeProto& node, const char* name,
                   const std::vector<std::int64_t>& values) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (std::int64_t v : values) a->add_ints(v);
}

void set_float_tensor_type(onnx::ValueInfoProto& info, const std::vector<std::int64_t>& dims) {
  auto* type = info.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = type->mutable_shape();
  for (std::int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d == batch_symbol) {
      dim->set_dim_param(batch_dim_name);
    } else {
      dim->set_dim_value(d);
    }
  }
}

// Builds the graph node by node while tracking the rank of the tensor the chain has reached:
// the engine keeps everything 4-D, ONNX's Gemm wants 2-D.
class GraphWriter {
 public:
  explicit GraphWriter(onnx::GraphProto& graph, Shape input)
      : graph_(graph), shape_(input), rank_(4), current_(graph_input_name) {}

  void write(const Layer& layer, int index);
  // Ends the chain in a 2-D [N, K] tensor named "logits".
  void finish();
  const Shape& shape() const { return shape_; }

 private:
  onnx::NodeProto& node(const std::string& op, const std::string& name,
                        std::vector<std::string> extra_inputs = {}) {
    auto& n = *graph_.add_node();
    n.set_op_type(op);
    n.set_name(name);
    n.add_input(current_);
    for (auto& input : extra_inputs) n.add_input(std::move(input));
    current_ = name + "_output";
    n.add_output(current_);
    return n;
  }

  std::string initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                          const float* data, std::size_t count) {
    auto& t = *graph_.add_initializer();
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (std::int64_t d : dims) t.add_dims(d);
    t.set_raw_data(data, count * sizeof(float));
    return name;
  }

  std::string initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                          const Tensor& values) {
    return initializer(name, dims, values.data(), values.size());
  }

  void to_rank2(const std::string& name) {
    if (rank_ == 2) return;
    add_attribute(node("Flatten", name + "_flatten"), "axis", std::int64_t{1});
    rank_ = 2;
  }

  void to_rank4(const std::string& name) {
    if (rank_ == 4) return;
    // Back to [N, K, 1, 1] for a layer that needs 4-D input after a Flatten or Gemm.
    auto& t = *graph_.add_initializer();
    t.set_name(name + "_shape");
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(4);
    for (std::int64_t d :
         {std::int64_t{-1}, std::int64_t{shape_.c}, std::int64_t{1}, std::int64_t{1}}) {
      t.add_int64_data(d);
    }
    node("Reshape", name + "_reshape", {t.name()});
    rank_ = 4;
  }

  onnx::GraphProto& graph_;
  Shape shape_;  // engine shape of current_ (batch 1)
  int rank_;     // ONNX rank of current_: 4, or 2 after Flatten/Gemm
  std::string current_;
};

void GraphWriter::write(const Layer& layer, int index) {
  const Shape next = layer.output_shape(shape_);
  std::string name(layer.kind());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  name += "_" + std::to_string(index);

  if (const auto* conv = dynamic_cast<const Conv2D*>(&layer)) {
    const Conv2DGeometry& g = conv->geometry();
    to_rank4(name);
    const std::string w = initializer(
        name + ".weight", {g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, conv->weight());
    const std::string b = initializer(name + ".bias", {g.out_channels}, conv->bias());
    auto& n = node("Conv", name, {w, b});
    add_attribute(n, "kernel_shape", {g.kernel_h, g.kernel_w});
    add_attribute(n, "strides", {g.stride_h, g.stride_w});
    add_attribute(n, "pads", {g.pad_top, g.pad_left, g.pad_bottom, g.pad_right});
    add_attribute(n, "dilations", {1, 1});
    add_attribute(n, "group", std::int64_t{1});
  } else if (const auto* dense = dynamic_cast<const Dense*>(&layer)) {
    to_rank2(name);
    const std::string w = initializer(
        name + ".weight", {dense->out_features(), dense->in_features()}, dense->weight());
    const std::string b = initializer(name + ".bias", {dense->out_features()}, dense->bias());
    auto& n = node("Gemm", name, {w, b});
    add_attribute(n, "transB", std::int64_t{1});
  } else if (const auto* pool = dynamic_cast<const MaxPool*>(&layer)) {
    const PoolGeometry& g = pool->geometry();
    to_rank4(name);
    auto& n = node("MaxPool", name);
    add_attribute(n, "kernel_shape", {g.kernel_h, g.kernel_w});
    add_attribute(n, "strides", {g.stride_h, g.stride_w});
    add_attribute(n, "pads", {g.pad_top, g.pad_left, g.pad_bottom, g.pad_right});
  } else if (const auto* bn = dynamic_cast<const BatchNorm*>(&layer)) {
    const std::int64_t c = bn->channels();
    const std::string gamma = initializer(name + ".gamma", {c}, bn->gamma());
    const std::string beta = initializer(name + ".beta", {c}, bn->beta());
    const std::string mean = initializer(name + ".running_mean", {c}, bn->running_mean());
    const std::string var = initializer(name + ".running_var", {c}, bn->running_var());
    auto& n = node("BatchNormalization", name, {gamma, beta, mean, var});
    add_attribute(n, "epsilon", bn->epsilon());
    // ONNX weighs the old running value by momentum; digitcam (like PyTorch) the new one.
    add_attribute(n, "momentum", 1.0f - bn->momentum());
  } else if (dynamic_cast<const ReLU*>(&layer) != nullptr) {
    node("Relu", name);
  } else if (dynamic_cast<const Flatten*>(&layer) != nullptr) {
    to_rank2(name);  // a Flatten of something already flat writes nothing
  } else if (const auto* dropout = dynamic_cast<const Dropout*>(&layer)) {
    const float rate = dropout->rate();
    const std::string ratio = initializer(name + ".ratio", {}, &rate, 1);
    node("Dropout", name, {ratio});
  } else if (dynamic_cast<const Softmax*>(&layer) != nullptr) {
    add_attribute(node("Softmax", name), "axis", std::int64_t{1});
  } else if (const auto* transpose = dynamic_cast<const Transpose4D*>(&layer)) {
    to_rank4(name);
    const auto& p = transpose->perm();
    add_attribute(node("Transpose", name), "perm", {p[0], p[1], p[2], p[3]});
  } else {
    throw ModelError("cannot save layer " + std::to_string(index) + " ('" +
                     std::string(layer.kind()) +
                     "') as ONNX: digitcam's exporter knows Conv2D, Dense, MaxPool, BatchNorm, "
                     "ReLU, Flatten, Dropout, Softmax and Transpose");
  }
  shape_ = next;
}

void GraphWriter::finish() {
  if (shape_.h != 1 || shape_.w != 1) {
    throw ModelError("cannot save the network as a classifier: its output " + shape_.str() +
                     " is not [N, K, 1, 1]; end it with a Dense layer");
  }
  to_rank2("output");
  if (graph_.node_size() == 0) node("Identity", "output_identity");
  graph_.mutable_node(graph_.node_size() - 1)->set_output(0, graph_output_name);
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  auto* entry = model.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

onnx::ModelProto build_model(const Network& network, const OnnxMetadata& metadata) {
  const int classes = network.classes();
  if (!metadata.class_names.empty() &&
      metadata.class_names.size() != static_cast<std::size_t>(classes)) {
    throw ModelError("cannot save the model: " + std::to_string(metadata.class_names.size()) +
                     " class names for a network with " + std::to_string(classes) +
                     " outputs; give one name per output or none");
  }
  for (const auto& name : metadata.class_names) {
    if (name.empty() || name.find(',') != std::string::npos) {
      throw ModelError("cannot save the model: class name '" + name +
                       "' is empty or contains a comma (names are stored comma-separated)");
    }
  }
  for (const auto& [key, value] : metadata.properties) {
    if (key.empty() || key == classes_key || key == class_names_key) {
      throw ModelError("cannot save the model: metadata key '" + key +
                       "' is empty or reserved by digitcam (classes, class_names)");
    }
  }

  onnx::ModelProto model;
  model.set_ir_version(export_ir_version);
  model.set_producer_name(producer_name);
  model.set_doc_string(
      "digitcam digit classifier. Input: [N, 1, 28, 28] float crops in 0..1, white ink on black "
      "(MNIST style). Output: logits [N, K] (softmax gives the class probabilities), unless the "
      "graph itself ends in Softmax.");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(export_opset);

  auto& graph = *model.mutable_graph();
  graph.set_name("digitcam");
  Shape input = network.input_item();
  GraphWriter writer(graph, input);
  const auto layers = network.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) writer.write(*layers[i], static_cast<int>(i));
  writer.finish();

  set_float_tensor_type(*graph.add_input(), {batch_symbol, input.c, input.h, input.w});
  graph.mutable_input(0)->set_name(graph_input_name);
  set_float_tensor_type(*graph.add_output(), {batch_symbol, writer.shape().c});
  graph.mutable_output(0)->set_name(graph_output_name);

  add_metadata(model, classes_key, std::to_string(classes));
  if (!metadata.class_names.empty()) {
    std::string joined;
    for (const auto& name : metadata.class_names) joined += (joined.empty() ? "" : ",") + name;
    add_metadata(model, class_names_key, joined);
  }
  for (const auto& [key, value] : metadata.properties) add_metadata(model, key, value);
  return model;
}

// Writes path + ".tmp", flushes it to the disk, then renames it over path, so a reader sees the
// old file or the new one, never half of one.
void write_atomically(const fs::path& path, const std::string& bytes) {
  fs::path tmp = path;
  tmp += ".tmp";
  const auto failure = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return IoError("cannot " + what + " '" + tmp.string() + "': " + reason +
                   "; check that the folder exists, is writable and has space");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw failure("create");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw failure("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    throw failure("flush");
  }
  if (::close(fd) != 0) throw failure("close");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError("cannot move the new model into place at '" + path.string() +
                  "': " + ec.message() + "; check that the folder is writable");
  }
}

// ======================================================================================
// Import
// ======================================================================================

onnx::ModelProto parse_file(const fs::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    throw ModelError("model file '" + file +
                     "' does not exist; check the path (digitcam train writes models)");
  }
  if (fs::is_directory(status)) {
    throw ModelError("model path '" + file + "' is a folder; give the .onnx file itself");
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw ModelError("cannot read model file '" + file + "': " + ec.message());
  if (size == 0) {
    throw ModelError(
        "model file '" + file +
        "' is empty; it was cut short while being written: re-export or copy it again");
  }
  if (size > max_file_bytes) {
    throw ModelError("model file '" + file + "' is " + std::to_string(size) +
                     " bytes, larger than any ONNX model can be; it is not a digit classifier");
  }
  std::string bytes(static_cast<std::size_t>(size), '\0');
  std::ifstream in(path, std::ios::binary);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    throw ModelError("cannot read model file '" + file + "': " + std::strerror(errno));
  }
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    throw ModelError("model file '" + file +
                     "' is not a readable ONNX model (protobuf parsing failed: the file is "
                     "truncated or not ONNX); re-export it or copy it again");
  }
  if (!model.has_graph() || model.graph().node_size() == 0) {
    throw ModelError("model file '" + file +
                     "' holds no ONNX graph (it parsed, but has no nodes); it is not an ONNX "
                     "model or it is damaged");
  }
  return model;
}

std::int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  }
  return 0;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, ',')) parts.push_back(part);
  return parts;
}

bool is_initializer(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto& t : graph.initializer()) {
    if (t.name() == name) return true;
  }
  return false;
}

// The graph's inputs that are fed at run time (IR < 4 also lists every initializer as input).
std::vector<const onnx::ValueInfoProto*> runtime_inputs(const onnx::GraphProto& graph) {
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& in : graph.input()) {
    if (!is_initializer(graph, in.name())) inputs.push_back(&in);
  }
  return inputs;
}

OnnxInfo describe(const onnx::ModelProto& model, const std::string& file) {
  const auto& graph = model.graph();
  OnnxInfo info;
  info.producer = model.producer_name();
  if (!model.producer_version().empty()) info.producer += " " + model.producer_version();
  info.opset = default_opset(model);
  if (info.opset == 0) {
    throw ModelError("model file '" + file +
                     "' declares no ONNX opset; it is damaged or not an ONNX model");
  }
  const auto inputs = runtime_inputs(graph);
  if (inputs.size() != 1 || graph.output_size() != 1) {
    throw ModelError("model '" + file + "' has " + std::to_string(inputs.size()) + " inputs and " +
                     std::to_string(graph.output_size()) +
                     " outputs; digitcam reads classifiers with one image input and one output");
  }
  info.input_name = inputs[0]->name();
  if (inputs[0]->type().has_tensor_type() && inputs[0]->type().tensor_type().has_shape()) {
    for (const auto& d : inputs[0]->type().tensor_type().shape().dim()) {
      info.input_dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
  }
  info.output_name = graph.output(0).name();

  // Walks back from the output through ops that keep values as they are.
  std::unordered_map<std::string, const onnx::NodeProto*> producer;
  for (const auto& node : graph.node()) {
    for (const auto& out : node.output()) producer[out] = &node;
  }
  std::string name = info.output_name;
  for (int steps = 0; steps < graph.node_size(); ++steps) {
    const auto it = producer.find(name);
    if (it == producer.end()) break;
    const auto& op = it->second->op_type();
    if ((op == "Identity" || op == "Dropout" || op == "Reshape" || op == "Flatten") &&
        it->second->input_size() > 0) {
      name = it->second->input(0);
      continue;
    }
    info.outputs_probabilities = op == "Softmax";
    break;
  }

  for (const auto& entry : model.metadata_props()) {
    if (entry.key() == classes_key) continue;  // the network itself says how many
    if (entry.key() == class_names_key) {
      info.metadata.class_names = split_commas(entry.value());
    } else {
      info.metadata.properties[entry.key()] = entry.value();
    }
  }
  return info;
}

// A tensor whose value is known while loading: an initializer, a Constant node's value, or the
// result of folding shape arithmetic. Integers may hold batch_symbol.
struct Constant {
  std::vector<std::int64_t> dims;
  bool is_float = true;
  std::vector<float> f;
  std::vector<std::int64_t> i;

  std::size_t count() const { return is_float ? f.size() : i.size(); }
  static Constant ints(std::vector<std::int64_t> values, std::vector<std::int64_t> dims) {
    Constant c;
    c.is_float = false;
    c.i = std::move(values);
    c.dims = std::move(dims);
    return c;
  }
};

std::int64_t product(const std::vector<std::int64_t>& dims, std::size_t from = 0) {
  std::int64_t p = 1;
  for (std::size_t k = from; k < dims.size(); ++k) p *= dims[k];
  return p;
}

// The engine shape (batch 1) that holds an ONNX activation of these dims, first dim the batch:
// trailing axes are padded with 1, so the memory order is the same.
Shape engine_shape(const std::vector<std::int64_t>& dims) {
  std::array<int, 3> d{1, 1, 1};
  for (std::size_t k = 1; k < dims.size() && k <= 3; ++k) d[k - 1] = static_cast<int>(dims[k]);
  return {1, d[0], d[1], d[2]};
}

// True when a and b hold their values in the same memory order: the same sizes once axes of
// size 1 are ignored.
bool same_order(const Shape& a, const Shape& b) {
  std::vector<int> big_a, big_b;
  for (int d : {a.c, a.h, a.w}) {
    if (d != 1) big_a.push_back(d);
  }
  for (int d : {b.c, b.h, b.w}) {
    if (d != 1) big_b.push_back(d);
  }
  return big_a == big_b;
}

// True when permuting x by perm keeps its values in memory order: the axes of size > 1 stay in
// their order and only axes of size 1 move.
bool moves_only_ones(const std::array<int, 4>& perm, const Shape& x) {
  const std::array<int, 4> dims{x.n, x.c, x.h, x.w};
  int last = -1;
  for (int k = 0; k < 4; ++k) {
    if (dims[perm[k]] == 1) continue;
    if (perm[k] < last) return false;
    last = perm[k];
  }
  return true;
}

bool is_identity(const std::array<int, 4>& perm) {
  return perm == std::array<int, 4>{0, 1, 2, 3};
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string file)
      : model_(model), graph_(model.graph()), file_(std::move(file)) {}

  OnnxModel run();

 private:
  // ---- messages ----
  // "<file>: node '<name>' (<op>) <problem>; <advice>", without the node part when the
  // problem is not in a node. Problems read as predicates of the node ("has a pad of ...").
  [[noreturn]] void fail(const std::string& problem, const std::string& advice = "") const {
    std::string where = file_ + ": ";
    if (node_ != nullptr) where += "node '" + node_name() + "' (" + node_->op_type() + ") ";
    throw ModelError(where + problem + (advice.empty() ? "" : "; " + advice));
  }
  [[noreturn]] void unsupported() const {
    const std::string domain = node_->domain().empty() ? "" : node_->domain() + ".";
    throw ModelError("unsupported ONNX op '" + domain + node_->op_type() + "' at node '" +
                     node_name() + "' in " + file_ + "; digitcam supports " + supported_ops);
  }
  std::string node_name() const {
    return node_->name().empty() ? "#" + std::to_string(node_index_) : node_->name();
  }

  // ---- node access ----
  const std::string& input(int k) const {
    static const std::string none;
    return k < node_->input_size() ? node_->input(k) : none;
  }
  const onnx::AttributeProto* attribute(const char* name,
                                        onnx::AttributeProto::AttributeType type) const {
    for (const auto& a : node_->attribute()) {
      if (a.name() != name) continue;
      if (a.type() != type) {
        fail(std::string("has attribute '") + name + "' of the wrong type", "the file is damaged");
      }
      return &a;
    }
    return nullptr;
  }
  std::int64_t attr_int(const char* name, std::int64_t fallback) const {
    const auto* a = attribute(name, onnx::AttributeProto::INT);
    return a != nullptr ? a->i() : fallback;
  }
  float attr_float(const char* name, float fallback) const {
    const auto* a = attribute(name, onnx::AttributeProto::FLOAT);
    return a != nullptr ? a->f() : fallback;
  }
  std::vector<std::int64_t> attr_ints(const char* name, std::vector<std::int64_t> fallback) const {
    const auto* a = attribute(name, onnx::AttributeProto::INTS);
    return a != nullptr ? to_vector(a->ints()) : fallback;
  }
  std::string attr_string(const char* name, std::string fallback) const {
    const auto* a = attribute(name, onnx::AttributeProto::STRING);
    return a != nullptr ? a->s() : fallback;
  }

  // ---- constants ----
  bool is_constant(const std::string& name) const {
    return constants_.count(name) > 0 || initializers_.count(name) > 0;
  }
  const Constant& constant(const std::string& name);
  Constant decode(const onnx::TensorProto& t, const std::string& name);
  // Float weights, all finite, with the given number of elements.
  const std::vector<float>& weights(const std::string& name, std::int64_t expected,
                                    const std::string& role);
  std::vector<std::int64_t> int_values(const std::string& name);

  // ---- the walk ----
  void start(const onnx::ValueInfoProto& in);
  std::vector<bool> live_nodes();
  void visit();
  void fold();
  void constant_node();
  void set_dims(std::vector<std::int64_t> dims);
  std::int64_t item_count() const { return product(dims_, 1); }
  void require_rank4() const {
    if (dims_.size() != 4) {
      fail("needs a 4-D [N, C, H, W] activation but gets " + dims_text(dims_),
           "digitcam runs convolutions and pooling before any Flatten or Reshape");
    }
  }
  void push(std::unique_ptr<Layer> layer) { layers_.push_back(std::move(layer)); }
  void add_transpose(std::array<int, 4> perm);
  bool reinterpret(const Shape& from, const Shape& to);
  void reshape_to(std::vector<std::int64_t> dims);
  std::array<std::int64_t, 4> window_pads(std::int64_t kh, std::int64_t kw, std::int64_t sh,
                                          std::int64_t sw);
  void check_window(std::int64_t k, std::int64_t s, const char* what) const;

  void conv();
  void max_pool();
  void gemm();
  void matmul();
  void add_bias();
  void batch_norm();
  void dropout();
  void softmax(bool log);
  void transpose();
  void flatten();
  void reshape();

  const onnx::ModelProto& model_;
  const onnx::GraphProto& graph_;
  std::string file_;
  std::int64_t opset_ = 0;
  const onnx::NodeProto* node_ = nullptr;  // the node being read, for messages
  int node_index_ = -1;

  std::unordered_map<std::string, const onnx::TensorProto*> initializers_;
  std::unordered_map<std::string, Constant> constants_;
  std::unordered_set<std::string> live_tensors_;
  std::int64_t parameters_ = 0;  // elements decoded so far

  // The chain: every activation seen (for Shape nodes) and where the chain has got to.
  std::unordered_map<std::string, std::vector<std::int64_t>> activations_;
  std::string head_;
  std::vector<std::int64_t> dims_;  // ONNX dims of head_, dims_[0] == batch_symbol
  std::int64_t fixed_batch_ = 0;    // the input's batch dim when declared as a number
  std::vector<std::unique_ptr<Layer>> layers_;
  bool bias_site_ = false;  // head_ is the direct output of the last Conv2D or Dense
  bool ended_ = false;      // a LogSoftmax was dropped: nothing but Identity may follow
};

Constant Importer::decode(const onnx::TensorProto& t, const std::string& name) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    fail("reads tensor '" + name + "', which keeps its values in an external file",
         "re-export the model with the weights inside the .onnx file");
  }
  const auto dims = to_vector(t.dims());
  std::int64_t count = 1;
  for (std::int64_t d : dims) {
    if (d < 0) fail("reads tensor '" + name + "' with a negative dimension " + dims_text(dims));
    if (count > 0 && d > max_parameters / count) {
      fail("reads tensor '" + name + "' of dims " + dims_text(dims) + ", more than the " +
               std::to_string(max_parameters) + " elements digitcam accepts in a model",
           "the file is damaged or not a digit classifier");
    }
    count *= d;
  }
  parameters_ += count;
  if (parameters_ > max_parameters) {
    fail("reads weights beyond the " + std::to_string(max_parameters) +
             " elements digitcam accepts in a model",
         "digitcam refuses models this large; a digit classifier needs far fewer weights");
  }
  const auto n = static_cast<std::size_t>(count);
  Constant c;
  c.dims = dims;
  std::size_t held = 0;
  // Copies raw little-endian values or the typed repeated field; false when the count is off.
  const auto unpack = [&](auto stored, const auto& typed, auto& out) {
    using Stored = decltype(stored);
    using Out = typename std::remove_reference_t<decltype(out)>::value_type;
    const std::string& raw = t.raw_data();
    if (!raw.empty() || typed.empty()) {
      held = raw.size() / sizeof(Stored);
      if (raw.size() != n * sizeof(Stored)) return false;
      out.resize(n);
      for (std::size_t k = 0; k < n; ++k) {
        Stored v;
        std::memcpy(&v, raw.data() + k * sizeof(Stored), sizeof(Stored));
        out[k] = static_cast<Out>(v);
      }
      return true;
    }
    held = static_cast<std::size_t>(typed.size());
    if (held != n) return false;
    out.resize(n);
    for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<Out>(typed[static_cast<int>(k)]);
    return true;
  };
  bool ok = false;
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      ok = unpack(float{}, t.float_data(), c.f);
      break;
    case onnx::TensorProto::DOUBLE:
      ok = unpack(double{}, t.double_data(), c.f);
      break;
    case onnx::TensorProto::INT64:
      c.is_float = false;
      ok = unpack(std::int64_t{}, t.int64_data(), c.i);
      break;
    case onnx::TensorProto::INT32:
      c.is_float = false;
      ok = unpack(std::int32_t{}, t.int32_data(), c.i);
      break;
    case onnx::TensorProto::INT8:
      c.is_float = false;
      ok = unpack(std::int8_t{}, t.int32_data(), c.i);
      break;
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      c.is_float = false;
      ok = unpack(std::uint8_t{}, t.int32_data(), c.i);
      break;
    default:
      fail("reads tensor '" + name + "' of data type " +
               onnx::TensorProto_DataType_Name(
                   static_cast<onnx::TensorProto_DataType>(t.data_type())),
           "digitcam reads float32 weights (and integer shapes); re-export in float32");
  }
  if (!ok) {
    fail("reads tensor '" + name + "', which declares dims " + dims_text(dims) + " (" +
             std::to_string(count) + " values) but holds " + std::to_string(held),
         "the file is damaged");
  }
  return c;
}

const Constant& Importer::constant(const std::string& name) {
  if (const auto it = constants_.find(name); it != constants_.end()) return it->second;
  const auto it = initializers_.find(name);
  if (it == initializers_.end()) {
    fail("needs input '" + name + "' to be a constant (an initializer or Constant node)",
         "digitcam reads weights and shapes stored in the model, not computed at run time");
  }
  return constants_.emplace(name, decode(*it->second, name)).first->second;
}

const std::vector<float>& Importer::weights(const std::string& name, std::int64_t expected,
                                            const std::string& role) {
  const Constant& c = constant(name);
  if (!c.is_float) fail("has a " + role + " '" + name + "' that is not float");
  if (static_cast<std::int64_t>(c.f.size()) != expected) {
    fail("has a " + role + " '" + name + "' of " + std::to_string(c.f.size()) + " values " +
             dims_text(c.dims) + " where " + std::to_string(expected) + " are needed",
         "the weights do not fit the layer; the file is damaged or was edited");
  }
  const auto bad = std::find_if(c.f.begin(), c.f.end(), [](float v) { return !std::isfinite(v); });
  if (bad != c.f.end()) {
    fail("has a " + role + " '" + name + "' holding NaN or infinite values (first at element " +
             std::to_string(bad - c.f.begin()) + ")",
         "the weights are corrupt (training diverged?); retrain or re-export the model");
  }
  return c.f;
}

std::vector<std::int64_t> Importer::int_values(const std::string& name) {
  const Constant& c = constant(name);
  if (c.is_float) {
    std::vector<std::int64_t> out;
    for (float v : c.f) out.push_back(static_cast<std::int64_t>(v));
    return out;
  }
  return c.i;
}

void Importer::set_dims(std::vector<std::int64_t> dims) {
  for (std::size_t k = 1; k < dims.size(); ++k) {
    if (dims[k] < 1) fail("would make an activation of shape " + dims_text(dims));
  }
  std::int64_t count = 1;
  for (std::size_t k = 1; k < dims.size(); ++k) {
    if (dims[k] > max_activation_items / count) {
      fail("would make an activation of shape " + dims_text(dims) + ", more than " +
               std::to_string(max_activation_items) + " values per crop",
           "the file is damaged or not a digit classifier");
    }
    count *= dims[k];
  }
  dims_ = std::move(dims);
}

void Importer::add_transpose(std::array<int, 4> perm) {
  if (is_identity(perm)) return;
  if (!layers_.empty()) {
    if (const auto* last = dynamic_cast<const Transpose4D*>(layers_.back().get())) {
      // Two transposes in a row are one: y axis i = t axis perm[i] = x axis last[perm[i]].
      std::array<int, 4> composed{};
      for (int k = 0; k < 4; ++k) composed[k] = last->perm()[perm[k]];
      layers_.pop_back();
      if (is_identity(composed)) return;
      perm = composed;
    }
  }
  push(std::make_unique<Transpose4D>(perm));
}

// Adds the layers that present an engine tensor of shape `from` as shape `to`, the same values
// in the same memory order (an ONNX reshape). False when that needs reordering.
bool Importer::reinterpret(const Shape& from, const Shape& to) {
  if (from == to) return true;
  if (to.h == 1 && to.w == 1 && static_cast<std::size_t>(to.c) == from.item_count()) {
    // A transpose that only moved axes of size 1 changed nothing a Flatten can see.
    if (const auto* last =
            layers_.empty() ? nullptr : dynamic_cast<const Transpose4D*>(layers_.back().get())) {
      Shape before{1, 1, crop_side, crop_side};
      for (std::size_t k = 0; k + 1 < layers_.size(); ++k) {
        before = layers_[k]->output_shape(before);
      }
      if (moves_only_ones(last->perm(), before)) layers_.pop_back();
    }
    push(std::make_unique<Flatten>());
    return true;
  }
  // Moving only axes of size 1 keeps the memory order: a Transpose4D does it.
  if (!same_order(from, to)) return false;
  const std::array<int, 4> a{from.n, from.c, from.h, from.w}, b{to.n, to.c, to.h, to.w};
  std::vector<int> big, ones;  // axes of from, in order
  for (int k = 1; k < 4; ++k) (a[k] == 1 ? ones : big).push_back(k);
  std::array<int, 4> perm{0, 0, 0, 0};
  std::size_t next_big = 0, next_one = 0;
  for (int k = 1; k < 4; ++k) perm[k] = b[k] != 1 ? big[next_big++] : ones[next_one++];
  add_transpose(perm);
  return true;
}

void Importer::reshape_to(std::vector<std::int64_t> dims) {
  if (dims.size() < 2 || dims.size() > 4) {
    fail("reshapes " + dims_text(dims_) + " to " + dims_text(dims) +
             ", which the engine's 4-D tensors cannot hold",
         "digitcam supports reshapes that flatten to [N, -1]");
  }
  if (!reinterpret(engine_shape(dims_), engine_shape(dims))) {
    fail("reshapes " + dims_text(dims_) + " to " + dims_text(dims) +
             ", which would reorder data in a way digitcam does not support",
         "digitcam supports reshapes that flatten to [N, -1]");
  }
  set_dims(std::move(dims));
}

void Importer::start(const onnx::ValueInfoProto& in) {
  const std::string& name = in.name();
  if (!in.type().has_tensor_type()) fail("graph input '" + name + "' is not a tensor");
  const auto& type = in.type().tensor_type();
  if (type.elem_type() != onnx::TensorProto::FLOAT) {
    fail("graph input '" + name + "' is not float32",
         "digitcam feeds float crops in 0..1; re-export the model with a float input");
  }
  std::vector<std::int64_t> dims;
  if (type.has_shape()) {
    for (const auto& d : type.shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  const auto matches = [&](std::vector<std::int64_t> item) {
    if (dims.size() != item.size() + 1) return false;
    return std::equal(item.begin(), item.end(), dims.begin() + 1);
  };
  const bool known = matches({1, crop_side, crop_side}) || matches({crop_side, crop_side, 1}) ||
                     matches({crop_side, crop_side}) || matches({crop_pixels});
  if (!known || dims[0] == 0 || dims[0] < -1) {
    std::string shown = "[";
    for (std::size_t k = 0; k < dims.size(); ++k) {
      shown += (k > 0 ? ", " : "") + (dims[k] < 0 ? std::string("?") : std::to_string(dims[k]));
    }
    fail("graph input '" + name + "' has shape " + shown +
             "]; digitcam feeds one 28x28 grey crop per item: [N, 1, 28, 28], [N, 28, 28, 1], "
             "[N, 28, 28] or [N, 784]",
         "use a model trained on MNIST-style 28x28 single-channel digits");
  }
  if (dims[0] > 0) fixed_batch_ = dims[0];
  dims[0] = batch_symbol;
  head_ = name;
  dims_ = dims;
  activations_[head_] = dims_;
  // The Network takes [N, 1, 28, 28]; every accepted layout has that memory order.
  reinterpret({1, 1, crop_side, crop_side}, engine_shape(dims_));
}

std::vector<bool> Importer::live_nodes() {
  std::unordered_map<std::string, int> producer;
  for (int k = 0; k < graph_.node_size(); ++k) {
    for (const auto& out : graph_.node(k).output()) {
      if (out.empty()) continue;
      if (!producer.emplace(out, k).second) {
        node_ = &graph_.node(k);
        node_index_ = k;
        fail("writes '" + out + "', which another node also writes", "the file is damaged");
      }
    }
  }
  std::vector<bool> live(static_cast<std::size_t>(graph_.node_size()), false);
  std::vector<std::string> pending{graph_.output(0).name()};
  while (!pending.empty()) {
    const std::string name = std::move(pending.back());
    pending.pop_back();
    if (!live_tensors_.insert(name).second) continue;
    const auto it = producer.find(name);
    if (it == producer.end() || live[static_cast<std::size_t>(it->second)]) continue;
    live[static_cast<std::size_t>(it->second)] = true;
    for (const auto& in : graph_.node(it->second).input()) {
      if (!in.empty()) pending.push_back(in);
    }
  }
  return live;
}

OnnxModel Importer::run() {
  OnnxModel result{Network({1, 1, crop_side, crop_side}), describe(model_, file_)};
  opset_ = result.info.opset;
  if (opset_ < min_opset || opset_ > max_opset) {
    fail("the model uses ONNX opset " + std::to_string(opset_),
         "digitcam reads opsets " + std::to_string(min_opset) + " to " + std::to_string(max_opset) +
             "; re-export with one of them (13 is a safe choice)");
  }
  for (const auto& t : graph_.initializer()) initializers_[t.name()] = &t;
  start(*runtime_inputs(graph_)[0]);
  const std::vector<bool> live = live_nodes();
  for (int k = 0; k < graph_.node_size(); ++k) {
    if (!live[static_cast<std::size_t>(k)]) continue;
    node_ = &graph_.node(k);
    node_index_ = k;
    try {
      visit();
    } catch (const ModelError&) {
      throw;
    } catch (const ShapeError& e) {
      fail(e.what());
    }
  }
  node_ = nullptr;

  const std::string& output = graph_.output(0).name();
  if (head_ != output) {
    fail("the graph output '" + output + "' is not the end of its chain of layers (that is '" +
             head_ + "')",
         "digitcam reads classifiers whose output is computed from the input");
  }
  if (!(dims_.size() == 2 || (dims_.size() == 4 && dims_[2] == 1 && dims_[3] == 1))) {
    fail("the model outputs " + dims_text(dims_) + ", not class scores [N, K]",
         "digitcam reads classifiers");
  }
  const int classes = static_cast<int>(dims_[1]);
  Network& network = result.network;
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    try {
      network.add(std::move(layers_[k]));
    } catch (const ShapeError& e) {
      fail(std::string("internal error building layer ") + std::to_string(k) + ": " + e.what(),
           "please report this model to digitcam's developers");
    }
  }
  if (network.output_shape(1) != Shape{1, classes, 1, 1}) {
    fail("internal error: the built network outputs " + network.output_shape(1).str() +
             " instead of [1, " + std::to_string(classes) + ", 1, 1]",
         "please report this model to digitcam's developers");
  }
  network.set_mode(Mode::inference);
  if (!result.info.metadata.class_names.empty() &&
      result.info.metadata.class_names.size() != static_cast<std::size_t>(classes)) {
    fail("the metadata names " + std::to_string(result.info.metadata.class_names.size()) +
             " classes but the network has " + std::to_string(classes) + " outputs",
         "the file is damaged or was edited");
  }
  const auto& all = network.layers();
  result.info.outputs_probabilities =
      !all.empty() && dynamic_cast<const Softmax*>(all.back().get()) != nullptr;
  return result;
}

void Importer::visit() {
  const auto& node = *node_;
  if (!node.domain().empty() && node.domain() != "ai.onnx") unsupported();
  if (node.output_size() == 0 || node.output(0).empty()) fail("has no output");
  const std::string& op = node.op_type();
  if (op == "Constant") {
    constant_node();
    return;
  }
  // Sort the inputs: activations on the chain, constants, or nothing known (an error).
  std::vector<std::string> dynamic;
  for (const auto& in : node.input()) {
    if (in.empty()) continue;
    if (activations_.count(in) > 0) {
      dynamic.push_back(in);
    } else if (!is_constant(in)) {
      fail("reads '" + in + "', which no earlier node, initializer or graph input provides",
           "the graph is damaged (not topologically sorted, or an initializer is missing)");
    }
  }
  if (dynamic.empty()) {
    fold();
    return;
  }
  if (op == "Shape") {
    const auto& dims = activations_.at(dynamic[0]);
    std::int64_t rank = static_cast<std::int64_t>(dims.size());
    std::int64_t begin = attr_int("start", 0), end = attr_int("end", rank);
    begin = std::clamp(begin < 0 ? begin + rank : begin, std::int64_t{0}, rank);
    end = std::clamp(end < 0 ? end + rank : end, std::int64_t{0}, rank);
    std::vector<std::int64_t> values(dims.begin() + begin, dims.begin() + std::max(begin, end));
    const auto n = static_cast<std::int64_t>(values.size());
    constants_[node.output(0)] = Constant::ints(std::move(values), {n});
    return;
  }
  if (dynamic.size() > 1) {
    fail("combines two activations ('" + dynamic[0] + "' and '" + dynamic[1] +
             "'), so the graph is not a chain",
         "digitcam runs plain chains of layers, without residual or parallel branches");
  }
  if (dynamic[0] != head_) {
    fail("reads '" + dynamic[0] +
             "', which another node has already consumed, so the graph is not a chain (it had "
             "reached '" +
             head_ + "')",
         "digitcam runs plain chains of layers, without residual or parallel branches");
  }
  for (int k = 1; k < node.output_size(); ++k) {
    if (!node.output(k).empty() && live_tensors_.count(node.output(k)) > 0) {
      fail("has its output #" + std::to_string(k) + " ('" + node.output(k) + "') in use",
           "digitcam computes only the first output of " + op);
    }
  }
  if (ended_ && op != "Identity") {
    fail("follows a LogSoftmax", "digitcam supports LogSoftmax only as the model's last node");
  }

  bool keeps_bias_site = false;
  if (op == "Conv") {
    conv();
  } else if (op == "Relu") {
    push(std::make_unique<ReLU>());
  } else if (op == "MaxPool") {
    max_pool();
  } else if (op == "Gemm") {
    gemm();
  } else if (op == "MatMul") {
    matmul();
  } else if (op == "Add") {
    add_bias();
  } else if (op == "BatchNormalization") {
    batch_norm();
  } else if (op == "Dropout") {
    dropout();
  } else if (op == "Softmax") {
    softmax(false);
  } else if (op == "LogSoftmax") {
    softmax(true);
  } else if (op == "Transpose") {
    transpose();
  } else if (op == "Flatten") {
    flatten();
  } else if (op == "Reshape") {
    reshape();
  } else if (op == "Identity") {
    keeps_bias_site = true;
  } else {
    unsupported();
  }
  const bool made_bias_site = op == "Conv" || op == "Gemm" || op == "MatMul" || op == "Add";
  bias_site_ = made_bias_site || (keeps_bias_site && bias_site_);
  head_ = node.output(0);
  activations_[head_] = dims_;
}

// ---- constant folding ----

void Importer::constant_node() {
  const auto& out = node_->output(0);
  Constant c;
  if (const auto* a = attribute("value", onnx::AttributeProto::TENSOR)) {
    c = decode(a->t(), out);
  } else if (const auto* f = attribute("value_float", onnx::AttributeProto::FLOAT)) {
    c.f = {f->f()};
  } else if (const auto* fs = attribute("value_floats", onnx::AttributeProto::FLOATS)) {
    c.f.assign(fs->floats().begin(), fs->floats().end());
    c.dims = {static_cast<std::int64_t>(c.f.size())};
  } else if (const auto* i = attribute("value_int", onnx::AttributeProto::INT)) {
    c = Constant::ints({i->i()}, {});
  } else if (const auto* is = attribute("value_ints", onnx::AttributeProto::INTS)) {
    c = Constant::ints(to_vector(is->ints()), {is->ints_size()});
  } else {
    fail("holds no value digitcam can read (sparse or string constants are not supported)");
  }
  constants_[out] = std::move(c);
}

void Importer::fold() {
  const std::string& op = node_->op_type();
  const std::string& out = node_->output(0);
  const auto axes_of = [&](int input_index) {
    // Before opset 13 axes are an attribute; from 13 on an optional input.
    if (opset_ < 13) return attr_ints("axes", {});
    return input(input_index).empty() ? std::vector<std::int64_t>{}
                                      : int_values(input(input_index));
  };
  if (op == "Identity") {
    Constant c = constant(input(0));
    constants_[out] = std::move(c);
  } else if (op == "Cast") {
    Constant c = constant(input(0));
    const auto to = attr_int("to", onnx::TensorProto::FLOAT);
    const bool to_float = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
    if (to_float && !c.is_float) {
      for (std::int64_t v : c.i) {
        if (v == batch_symbol) fail("casts the batch size to a float");
        c.f.push_back(static_cast<float>(v));
      }
      c.i.clear();
      c.is_float = true;
    } else if (!to_float && c.is_float) {
      for (float v : c.f) c.i.push_back(static_cast<std::int64_t>(v));
      c.f.clear();
      c.is_float = false;
    }
    constants_[out] = std::move(c);
  } else if (op == "Shape") {
    const Constant& c = constant(input(0));
    constants_[out] = Constant::ints(c.dims, {static_cast<std::int64_t>(c.dims.size())});
  } else if (op == "Gather") {
    const Constant& data = constant(input(0));
    const Constant& index = constant(input(1));
    if (data.dims.size() != 1 || data.is_float || attr_int("axis", 0) != 0 || index.is_float) {
      fail("gathers from something other than a 1-D integer constant",
           "digitcam folds only shape arithmetic");
    }
    std::vector<std::int64_t> values;
    const auto size = static_cast<std::int64_t>(data.i.size());
    for (std::int64_t k : index.i) {
      const std::int64_t at = k < 0 ? k + size : k;
      if (at < 0 || at >= size) fail("gathers index " + std::to_string(k) + " out of range");
      values.push_back(data.i[static_cast<std::size_t>(at)]);
    }
    constants_[out] = Constant::ints(std::move(values), index.dims);
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    Constant c = constant(input(0));
    std::vector<std::int64_t> axes = axes_of(1);
    if (op == "Unsqueeze") {
      const auto rank = static_cast<std::int64_t>(c.dims.size() + axes.size());
      for (auto& a : axes) a = a < 0 ? a + rank : a;
      std::sort(axes.begin(), axes.end());
      for (std::int64_t a : axes) {
        if (a < 0 || a > static_cast<std::int64_t>(c.dims.size())) fail("has an axis out of range");
        c.dims.insert(c.dims.begin() + a, 1);
      }
    } else {
      const auto rank = static_cast<std::int64_t>(c.dims.size());
      std::vector<std::int64_t> kept;
      for (std::int64_t k = 0; k < rank; ++k) {
        const bool listed = std::any_of(
            axes.begin(), axes.end(), [&](std::int64_t a) { return (a < 0 ? a + rank : a) == k; });
        const bool drop = axes.empty() ? c.dims[static_cast<std::size_t>(k)] == 1 : listed;
        if (!drop) kept.push_back(c.dims[static_cast<std::size_t>(k)]);
      }
      c.dims = kept;
    }
    constants_[out] = std::move(c);
  } else if (op == "Concat") {
    Constant joined;
    bool first = true;
    for (const auto& name : node_->input()) {
      const Constant& part = constant(name);
      if (part.dims.size() != 1) fail("concatenates constants that are not 1-D");
      if (first) {
        joined.is_float = part.is_float;
        first = false;
      } else if (joined.is_float != part.is_float) {
        fail("concatenates floats with integers");
      }
      joined.f.insert(joined.f.end(), part.f.begin(), part.f.end());
      joined.i.insert(joined.i.end(), part.i.begin(), part.i.end());
    }
    joined.dims = {static_cast<std::int64_t>(joined.count())};
    constants_[out] = std::move(joined);
  } else if (op == "Slice") {
    const Constant& data = constant(input(0));
    if (data.dims.size() != 1) fail("slices a constant that is not 1-D");
    std::vector<std::int64_t> starts, ends, steps{1};
    if (opset_ < 10) {
      starts = attr_ints("starts", {});
      ends = attr_ints("ends", {});
    } else {
      starts = int_values(input(1));
      ends = int_values(input(2));
      if (!input(4).empty()) steps = int_values(input(4));
    }
    if (starts.size() != 1 || ends.size() != 1 || steps.size() != 1 || steps[0] != 1) {
      fail("is a slice digitcam cannot fold (only one axis, step 1)");
    }
    const auto size = static_cast<std::int64_t>(data.count());
    const auto clamp = [&](std::int64_t v) {
      return std::clamp(v < 0 ? v + size : v, std::int64_t{0}, size);
    };
    const std::int64_t b = clamp(starts[0]), e = std::max(b, clamp(ends[0]));
    Constant c;
    c.is_float = data.is_float;
    if (data.is_float) {
      c.f.assign(data.f.begin() + b, data.f.begin() + e);
    } else {
      c.i.assign(data.i.begin() + b, data.i.begin() + e);
    }
    c.dims = {e - b};
    constants_[out] = std::move(c);
  } else if (op == "Transpose") {
    const Constant& data = constant(input(0));
    const auto rank = data.dims.size();
    std::vector<std::int64_t> perm = attr_ints("perm", {});
    if (perm.empty()) {
      for (std::size_t k = rank; k-- > 0;) perm.push_back(static_cast<std::int64_t>(k));
    }
    std::vector<std::int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::int64_t> expected(rank);
    std::iota(expected.begin(), expected.end(), 0);
    if (sorted != expected) fail("has a perm that is not a permutation of the axes");
    std::vector<std::int64_t> in_stride(rank, 1), out_dims(rank);
    for (std::size_t k = rank; k-- > 1;) in_stride[k - 1] = in_stride[k] * data.dims[k];
    for (std::size_t k = 0; k < rank; ++k)
      out_dims[k] = data.dims[static_cast<std::size_t>(perm[k])];
    Constant c;
    c.is_float = data.is_float;
    c.dims = out_dims;
    const std::size_t count = data.count();
    std::vector<std::int64_t> index(rank, 0);
    for (std::size_t flat = 0; flat < count; ++flat) {
      std::int64_t from = 0;
      for (std::size_t k = 0; k < rank; ++k) {
        from += index[k] * in_stride[static_cast<std::size_t>(perm[k])];
      }
      if (data.is_float) {
        c.f.push_back(data.f[static_cast<std::size_t>(from)]);
      } else {
        c.i.push_back(data.i[static_cast<std::size_t>(from)]);
      }
      for (std::size_t k = rank; k-- > 0;) {  // odometer over the output index
        if (++index[k] < out_dims[k]) break;
        index[k] = 0;
      }
    }
    constants_[out] = std::move(c);
  } else if (op == "Reshape") {
    Constant c = constant(input(0));
    std::vector<std::int64_t> dims = int_values(input(1));
    std::int64_t known = 1;
    int infer = -1;
    for (std::size_t k = 0; k < dims.size(); ++k) {
      if (dims[k] == 0 && k < c.dims.size()) dims[k] = c.dims[k];
      if (dims[k] == -1 && infer < 0) {
        infer = static_cast<int>(k);
      } else if (dims[k] < 1) {
        fail("reshapes a constant to " + dims_text(dims));
      } else {
        known *= dims[k];
      }
    }
    const auto count = static_cast<std::int64_t>(c.count());
    if (infer >= 0 && known > 0) dims[static_cast<std::size_t>(infer)] = count / known;
    if (product(dims) != count)
      fail("reshapes a constant of " + dims_text(c.dims) + " to " + dims_text(dims));
    c.dims = dims;
    constants_[out] = std::move(c);
  } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    const Constant& a = constant(input(0));
    const Constant& b = constant(input(1));
    if (a.is_float != b.is_float) fail("mixes float and integer constants");
    const std::size_t n = std::max(a.count(), b.count());
    if ((a.count() != n && a.count() != 1) || (b.count() != n && b.count() != 1)) {
      fail("combines constants of shapes " + dims_text(a.dims) + " and " + dims_text(b.dims) +
           " that digitcam cannot broadcast");
    }
    Constant c;
    c.is_float = a.is_float;
    c.dims = a.count() == n ? a.dims : b.dims;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t ka = a.count() == 1 ? 0 : k, kb = b.count() == 1 ? 0 : k;
      if (c.is_float) {
        const float x = a.f[ka], y = b.f[kb];
        c.f.push_back(op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y);
      } else {
        const std::int64_t x = a.i[ka], y = b.i[kb];
        if (x == batch_symbol || y == batch_symbol) fail("computes with the batch size");
        if (op == "Div" && y == 0) fail("divides by zero");
        c.i.push_back(op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y);
      }
    }
    constants_[out] = std::move(c);
  } else {
    unsupported();
  }
}

// ---- layers ----

void Importer::check_window(std::int64_t k, std::int64_t s, const char* what) const {
  if (k < 1 || k > max_dimension || s < 1 || s > max_dimension) {
    fail(std::string("has a ") + what + " with kernel " + std::to_string(k) + " and stride " +
             std::to_string(s) + " outside 1.." + std::to_string(max_dimension),
         "the file is damaged");
  }
}

// Pads [top, left, bottom, right] from auto_pad and pads, for a window of kh x kw moving by sh,
// sw over the current activation.
std::array<std::int64_t, 4> Importer::window_pads(std::int64_t kh, std::int64_t kw, std::int64_t sh,
                                                  std::int64_t sw) {
  const std::string mode = attr_string("auto_pad", "NOTSET");
  std::array<std::int64_t, 4> pads{0, 0, 0, 0};
  if (mode == "NOTSET") {
    const auto given = attr_ints("pads", {0, 0, 0, 0});
    if (given.size() != 4) fail("has pads of length " + std::to_string(given.size()) + ", not 4");
    std::copy(given.begin(), given.end(), pads.begin());
  } else if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    // Output ceil(in / stride); the odd pad goes after (UPPER) or before (LOWER).
    const std::array<std::int64_t, 2> in{dims_[2], dims_[3]}, k{kh, kw}, s{sh, sw};
    for (int a = 0; a < 2; ++a) {
      const std::int64_t out = (in[a] + s[a] - 1) / s[a];
      const std::int64_t total = std::max<std::int64_t>((out - 1) * s[a] + k[a] - in[a], 0);
      const std::int64_t small = total / 2, big = total - small;
      pads[a] = mode == "SAME_UPPER" ? small : big;
      pads[a + 2] = mode == "SAME_UPPER" ? big : small;
    }
  } else if (mode != "VALID") {
    fail("has auto_pad '" + mode + "'", "digitcam supports NOTSET, VALID, SAME_UPPER, SAME_LOWER");
  }
  for (std::int64_t p : pads) {
    if (p < 0 || p > max_dimension) {
      fail("has a pad of " + std::to_string(p) + ", outside 0.." + std::to_string(max_dimension),
           "the file is damaged");
    }
  }
  return pads;
}

void Importer::conv() {
  require_rank4();
  const Constant& w = constant(input(1));
  if (w.dims.size() != 4) fail("has a weight of shape " + dims_text(w.dims) + ", not 4-D");
  const std::int64_t oc = w.dims[0], ic = w.dims[1], kh = w.dims[2], kw = w.dims[3];
  if (const auto group = attr_int("group", 1); group != 1) {
    fail("is a grouped convolution (group " + std::to_string(group) + ")",
         "digitcam supports group 1 only");
  }
  for (std::int64_t d : attr_ints("dilations", {1, 1})) {
    if (d != 1) fail("is dilated", "digitcam supports dilation 1 only");
  }
  const auto kernel = attr_ints("kernel_shape", {kh, kw});
  if (kernel != std::vector<std::int64_t>{kh, kw}) {
    fail("declares kernel_shape " + dims_text(kernel) + " but its weight is " + dims_text(w.dims));
  }
  const auto strides = attr_ints("strides", {1, 1});
  if (strides.size() != 2) fail("has strides of length " + std::to_string(strides.size()));
  check_window(kh, strides[0], "window");
  check_window(kw, strides[1], "window");
  if (oc < 1 || oc > max_dimension) {
    fail("has " + std::to_string(oc) + " output channels", "the file is damaged");
  }
  if (ic != dims_[1]) {
    fail("has a weight for " + std::to_string(ic) + " input channels but its input " +
             dims_text(dims_) + " has " + std::to_string(dims_[1]),
         "the weights do not fit the layer; the file is damaged or was edited");
  }
  const auto pads = window_pads(kh, kw, strides[0], strides[1]);
  const std::int64_t oh = (dims_[2] + pads[0] + pads[2] - kh) / strides[0] + 1;
  const std::int64_t ow = (dims_[3] + pads[1] + pads[3] - kw) / strides[1] + 1;
  if (dims_[2] + pads[0] + pads[2] < kh || dims_[3] + pads[1] + pads[3] < kw) {
    fail("has a " + std::to_string(kh) + "x" + std::to_string(kw) +
         " kernel larger than its input " + dims_text(dims_));
  }
  set_dims({batch_symbol, oc, oh, ow});  // checks the activation size before anything allocates
  // The engine unfolds each crop's input into an [IC*KH*KW, OH*OW] matrix (im2col); a tiny
  // weight with a huge kernel could make that gigabytes.
  if (ic * kh * kw > max_activation_items / (oh * ow)) {
    fail("would unfold its input into " + std::to_string(ic * kh * kw) + " x " +
             std::to_string(oh * ow) + " values per crop, more than " +
             std::to_string(max_activation_items),
         "the file is damaged or not a digit classifier");
  }

  const auto& weight = weights(input(1), oc * ic * kh * kw, "weight");
  const std::vector<float> zeros(static_cast<std::size_t>(oc), 0.0f);
  const auto& bias = input(2).empty() ? zeros : weights(input(2), oc, "bias");
  Conv2DGeometry g;
  g.in_channels = static_cast<int>(ic);
  g.out_channels = static_cast<int>(oc);
  g.kernel_h = static_cast<int>(kh);
  g.kernel_w = static_cast<int>(kw);
  g.stride_h = static_cast<int>(strides[0]);
  g.stride_w = static_cast<int>(strides[1]);
  g.pad_top = static_cast<int>(pads[0]);
  g.pad_left = static_cast<int>(pads[1]);
  g.pad_bottom = static_cast<int>(pads[2]);
  g.pad_right = static_cast<int>(pads[3]);
  auto layer = std::make_unique<Conv2D>(g);
  if (layer->weight().size() != weight.size()) layer->initialize(0);  // allocate if lazy
  if (layer->weight().size() != weight.size() || layer->bias().size() != bias.size()) {
    fail("internal error: Conv2D holds " + layer->weight().shape().str() + " weights",
         "please report this to digitcam's developers");
  }
  std::copy(weight.begin(), weight.end(), layer->weight().data());
  std::copy(bias.begin(), bias.end(), layer->bias().data());
  push(std::move(layer));
}

void Importer::max_pool() {
  require_rank4();
  const auto kernel = attr_ints("kernel_shape", {});
  if (kernel.size() != 2) fail("needs a 2-D kernel_shape");
  const auto strides = attr_ints("strides", {1, 1});
  if (strides.size() != 2) fail("has strides of length " + std::to_string(strides.size()));
  for (std::int64_t d : attr_ints("dilations", {1, 1})) {
    if (d != 1) fail("is dilated", "digitcam supports dilation 1 only");
  }
  check_window(kernel[0], strides[0], "window");
  check_window(kernel[1], strides[1], "window");
  auto pads = window_pads(kernel[0], kernel[1], strides[0], strides[1]);
  std::array<std::int64_t, 2> out{};
  for (int a = 0; a < 2; ++a) {
    const std::int64_t in = dims_[2 + a], k = kernel[a], s = strides[a];
    const std::int64_t span = in + pads[a] + pads[a + 2] - k;
    if (span < 0) fail("has a window larger than its input " + dims_text(dims_));
    out[a] = span / s + 1;
    if (attr_int("ceil_mode", 0) != 0 && span % s != 0) {
      // Ceil mode adds one more window when it starts inside the input or the leading pad
      // (as PyTorch counts); floor mode with that much more trailing pad gives the same.
      if (out[a] * s < in + pads[a]) {
        pads[a + 2] += (out[a] * s + k) - (in + pads[a] + pads[a + 2]);
        out[a] += 1;
      }
    }
  }
  set_dims({batch_symbol, dims_[1], out[0], out[1]});
  PoolGeometry g;
  g.kernel_h = static_cast<int>(kernel[0]);
  g.kernel_w = static_cast<int>(kernel[1]);
  g.stride_h = static_cast<int>(strides[0]);
  g.stride_w = static_cast<int>(strides[1]);
  g.pad_top = static_cast<int>(pads[0]);
  g.pad_left = static_cast<int>(pads[1]);
  g.pad_bottom = static_cast<int>(pads[2]);
  g.pad_right = static_cast<int>(pads[3]);
  push(std::make_unique<MaxPool>(g));
}

// Shared by Gemm and MatMul: weight [out, in] row-major, bias [out].
void make_dense(std::vector<std::unique_ptr<Layer>>& layers, std::int64_t in, std::int64_t out,
                const std::vector<float>& weight, const std::vector<float>& bias) {
  auto layer = std::make_unique<Dense>(static_cast<int>(in), static_cast<int>(out));
  if (layer->weight().size() != weight.size()) layer->initialize(0);  // allocate if lazy
  if (layer->weight().size() != weight.size() || layer->bias().size() != bias.size()) {
    throw ShapeError("internal error: Dense holds " + layer->weight().shape().str() + " weights");
  }
  std::copy(weight.begin(), weight.end(), layer->weight().data());
  std::copy(bias.begin(), bias.end(), layer->bias().data());
  layers.push_back(std::move(layer));
}

void Importer::gemm() {
  if (input(0) != head_)
    fail("multiplies a constant by the activation", "put the activation first (A)");
  if (dims_.size() != 2) {
    fail("needs a 2-D [N, features] input but gets " + dims_text(dims_), "add a Flatten before it");
  }
  if (attr_int("transA", 0) != 0) fail("has transA = 1", "digitcam supports transA = 0");
  const bool trans_b = attr_int("transB", 0) != 0;
  const float alpha = attr_float("alpha", 1.0f), beta = attr_float("beta", 1.0f);
  const Constant& b = constant(input(1));
  if (b.dims.size() != 2) fail("has a weight of shape " + dims_text(b.dims) + ", not 2-D");
  const std::int64_t in = trans_b ? b.dims[1] : b.dims[0];
  const std::int64_t out = trans_b ? b.dims[0] : b.dims[1];
  if (in != dims_[1]) {
    fail("has a weight " + dims_text(b.dims) + " for " + std::to_string(in) +
             " features but its input " + dims_text(dims_) + " has " + std::to_string(dims_[1]),
         "the weights do not fit the layer; the file is damaged or was edited");
  }
  set_dims({batch_symbol, out});
  const auto& raw = weights(input(1), in * out, "weight");
  std::vector<float> weight(raw.size());
  for (std::int64_t o = 0; o < out; ++o) {
    for (std::int64_t i = 0; i < in; ++i) {
      weight[static_cast<std::size_t>(o * in + i)] =
          alpha * raw[static_cast<std::size_t>(trans_b ? o * in + i : i * out + o)];
    }
  }
  std::vector<float> bias(static_cast<std::size_t>(out), 0.0f);
  if (!input(2).empty()) {
    const Constant& c = constant(input(2));
    const auto n = static_cast<std::int64_t>(c.count());
    if (n != 1 && n != out) {
      fail("has a bias of shape " + dims_text(c.dims) + " for " + std::to_string(out) + " outputs",
           "digitcam supports a bias per output or a single number");
    }
    const auto& values = weights(input(2), n, "bias");
    for (std::int64_t o = 0; o < out; ++o) {
      bias[static_cast<std::size_t>(o)] = beta * values[static_cast<std::size_t>(n == 1 ? 0 : o)];
    }
  }
  for (float v : weight) {
    if (!std::isfinite(v)) fail("has weights that overflow when scaled by alpha");
  }
  make_dense(layers_, in, out, weight, bias);
}

void Importer::matmul() {
  if (input(0) != head_)
    fail("multiplies a constant by the activation", "put the activation first (A)");
  if (dims_.size() != 2) {
    fail("needs a 2-D [N, features] input but gets " + dims_text(dims_),
         "add a Flatten or Reshape before it");
  }
  const Constant& b = constant(input(1));
  if (b.dims.size() != 2) fail("has a weight of shape " + dims_text(b.dims) + ", not 2-D");
  const std::int64_t in = b.dims[0], out = b.dims[1];
  if (in != dims_[1]) {
    fail("has a weight " + dims_text(b.dims) + " for " + std::to_string(in) +
             " features but its input " + dims_text(dims_) + " has " + std::to_string(dims_[1]),
         "the weights do not fit the layer; the file is damaged or was edited");
  }
  set_dims({batch_symbol, out});
  const auto& raw = weights(input(1), in * out, "weight");
  std::vector<float> weight(raw.size());
  for (std::int64_t o = 0; o < out; ++o) {
    for (std::int64_t i = 0; i < in; ++i) {
      weight[static_cast<std::size_t>(o * in + i)] = raw[static_cast<std::size_t>(i * out + o)];
    }
  }
  make_dense(layers_, in, out, weight, std::vector<float>(static_cast<std::size_t>(out), 0.0f));
}

// Add of a constant right after Conv/Gemm/MatMul: the bias (tf2onnx's MatMul + Add).
void Importer::add_bias() {
  const std::string& other = input(0) == head_ ? input(1) : input(0);
  Tensor* bias = nullptr;
  if (bias_site_ && !layers_.empty()) {
    if (auto* dense = dynamic_cast<Dense*>(layers_.back().get())) bias = &dense->bias();
    if (auto* conv2d = dynamic_cast<Conv2D*>(layers_.back().get())) bias = &conv2d->bias();
  }
  if (bias == nullptr) {
    fail("adds a constant to an activation that is not the output of Conv, Gemm or MatMul",
         "digitcam supports Add only as a bias right after those");
  }
  const Constant& c = constant(other);
  const auto channels = static_cast<std::int64_t>(bias->size());
  const auto n = static_cast<std::int64_t>(c.count());
  // Per channel means the constant's only non-1 axis is the channel axis once broadcast.
  bool per_channel = n == 1;
  if (n == channels) {
    const auto rank = static_cast<std::int64_t>(dims_.size());
    const auto crank = static_cast<std::int64_t>(c.dims.size());
    per_channel = crank <= rank;
    for (std::int64_t k = 0; k < crank && per_channel; ++k) {
      const std::int64_t axis = rank - crank + k;  // numpy broadcasting aligns the ends
      if (c.dims[static_cast<std::size_t>(k)] != 1 && axis != 1) per_channel = false;
    }
  }
  if (!per_channel) {
    fail("adds a constant of shape " + dims_text(c.dims) + " to " + dims_text(dims_) +
             ", which is not a bias per channel",
         "digitcam supports Add only as a bias right after Conv, Gemm or MatMul");
  }
  const auto& values = weights(other, n, "bias");
  for (std::int64_t k = 0; k < channels; ++k) {
    bias->data()[k] += values[static_cast<std::size_t>(n == 1 ? 0 : k)];
  }
}

void Importer::batch_norm() {
  if (dims_.size() < 2) fail("needs a channel axis");
  if (attr_int("training_mode", 0) != 0)
    fail("is in training mode", "export the model in eval mode");
  if (opset_ < 9 && attr_int("spatial", 1) != 1)
    fail("is not spatial", "digitcam normalises per channel");
  const std::int64_t c = dims_[1];
  const auto& gamma = weights(input(1), c, "scale");
  const auto& beta = weights(input(2), c, "bias");
  const auto& mean = weights(input(3), c, "mean");
  const auto& var = weights(input(4), c, "variance");
  if (std::any_of(var.begin(), var.end(), [](float v) { return v < 0.0f; })) {
    fail("has a negative variance", "the file is damaged");
  }
  const float epsilon = attr_float("epsilon", 1e-5f);
  const float momentum = std::clamp(1.0f - attr_float("momentum", 0.9f), 0.0f, 1.0f);
  auto layer = std::make_unique<BatchNorm>(static_cast<int>(c), epsilon, momentum);
  std::copy(gamma.begin(), gamma.end(), layer->gamma().data());
  std::copy(beta.begin(), beta.end(), layer->beta().data());
  std::copy(mean.begin(), mean.end(), layer->running_mean().data());
  std::copy(var.begin(), var.end(), layer->running_var().data());
  push(std::move(layer));
}

void Importer::dropout() {
  float ratio = 0.5f;
  if (opset_ < 12) {
    ratio = attr_float("ratio", 0.5f);
  } else {
    if (!input(1).empty()) {
      const Constant& r = constant(input(1));
      if (!r.is_float || r.count() != 1) fail("has a ratio that is not one float");
      ratio = r.f[0];
    }
    if (!input(2).empty()) {
      const auto mode = int_values(input(2));
      if (mode.size() != 1 || mode[0] != 0)
        fail("is in training mode", "export the model in eval mode");
    }
  }
  if (!(ratio >= 0.0f && ratio < 1.0f))
    fail("has a ratio " + std::to_string(ratio) + " outside [0, 1)");
  push(std::make_unique<Dropout>(ratio));
}

void Importer::softmax(bool log) {
  const auto rank = static_cast<std::int64_t>(dims_.size());
  std::int64_t axis = attr_int("axis", opset_ < 13 ? 1 : -1);
  if (axis < 0) axis += rank;
  // Before opset 13 Softmax flattens from axis on; from 13 it works along axis alone. Both are
  // digitcam's softmax over C when axis is 1 and nothing follows C but ones.
  const bool over_classes =
      axis == 1 && (rank == 2 || (rank == 4 && dims_[2] == 1 && dims_[3] == 1));
  if (!over_classes) {
    fail("works along axis " + std::to_string(axis) + " of " + dims_text(dims_),
         "digitcam supports softmax over the classes of [N, K]");
  }
  if (log) {
    ended_ = true;  // dropped: a shift per row, which softmax ignores
  } else {
    push(std::make_unique<Softmax>());
  }
}

void Importer::transpose() {
  const auto rank = dims_.size();
  const auto perm = attr_ints("perm", {});
  std::vector<std::int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> expected(rank);
  std::iota(expected.begin(), expected.end(), 0);
  if (perm.empty() || sorted != expected) {
    fail("has perm " + dims_text(perm) + ", not a permutation of the axes of " + dims_text(dims_));
  }
  if (perm[0] != 0) fail("moves the batch axis", "digitcam transposes only the axes of one item");
  std::array<int, 4> perm4{0, 1, 2, 3};
  std::vector<std::int64_t> dims(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    perm4[k] = static_cast<int>(perm[k]);
    dims[k] = dims_[static_cast<std::size_t>(perm[k])];
  }
  add_transpose(perm4);
  set_dims(std::move(dims));
}

void Importer::flatten() {
  const auto rank = static_cast<std::int64_t>(dims_.size());
  std::int64_t axis = attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis != 1) {
    fail("flattens from axis " + std::to_string(axis), "digitcam supports Flatten with axis 1");
  }
  reshape_to({batch_symbol, item_count()});
}

void Importer::reshape() {
  if (input(0) != head_) fail("reshapes a constant by the activation");
  std::vector<std::int64_t> shape = int_values(input(1));
  const bool allow_zero = attr_int("allowzero", 0) != 0;
  std::vector<std::int64_t> dims(shape.size());
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    std::int64_t v = shape[k];
    if (v == 0 && !allow_zero) {
      if (k >= dims_.size())
        fail("copies dimension " + std::to_string(k) + ", which its input lacks");
      v = dims_[k];
    }
    if (k == 0 && fixed_batch_ > 0 && v == fixed_batch_) v = batch_symbol;
    if (v == -1) {
      if (infer >= 0) fail("has two -1 in its shape " + dims_text(shape));
      infer = static_cast<int>(k);
    } else if (v != batch_symbol && v < 1) {
      fail("reshapes to " + dims_text(shape));
    } else if (v != batch_symbol) {
      known *= v;
      if (known > max_activation_items) fail("reshapes to " + dims_text(shape));
    }
    dims[k] = v;
  }
  if (dims.empty() || !(dims[0] == batch_symbol || infer == 0)) {
    fail("reshapes " + dims_text(dims_) + " to " + dims_text(shape) + ", changing the batch size",
         "reshape to [N, -1] (keep the batch axis first)");
  }
  const std::int64_t items = item_count();
  if (infer == 0) {
    if (known != items) fail("reshapes " + dims_text(dims_) + " to " + dims_text(shape));
    dims[0] = batch_symbol;
  } else if (infer > 0) {
    if (items % known != 0) fail("reshapes " + dims_text(dims_) + " to " + dims_text(shape));
    dims[static_cast<std::size_t>(infer)] = items / known;
  } else if (known != items) {
    fail("reshapes " + dims_text(dims_) + " to " + dims_text(shape));
  }
  for (std::size_t k = 1; k < dims.size(); ++k) {
    if (dims[k] == batch_symbol) fail("puts the batch size on axis " + std::to_string(k));
  }
  reshape_to(std::move(dims));
}

template <class F>
auto guarded(const fs::path& path, F&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw ModelError("ran out of memory reading model file '" + path.string() +
                     "'; it is too large or damaged");
  } catch (const std::exception& e) {
    throw ModelError("cannot read model file '" + path.string() + "': " + e.what());
  }
}

}  // namespace

// ======================================================================================
// Public entry points
// ======================================================================================

void save_onnx(const Network& network, const fs::path& path, const OnnxMetadata& metadata) {
  onnx::ModelProto model = build_model(network, metadata);
  try {
    onnx::checker::check_model(model);
    // Strict shape inference also proves the declared [N, K] output is what the graph makes.
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw ModelError("internal error: the ONNX model made for '" + path.string() +
                     "' fails the ONNX checker: " + e.what() +
                     "; please report this to digitcam's developers");
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    throw ModelError("cannot serialise the model for '" + path.string() +
                     "' (larger than protobuf's 2 GB limit?)");
  }
  write_atomically(path, bytes);
}

OnnxModel load_onnx_model(const fs::path& path) {
  return guarded(path, [&] {
    const onnx::ModelProto model = parse_file(path);
    return Importer(model, path.string()).run();
  });
}

Network load_onnx(const fs::path& path) {
  return std::move(load_onnx_model(path).network);
}

OnnxInfo read_onnx_info(const fs::path& path) {
  return guarded(path, [&] { return describe(parse_file(path), path.string()); });
}

void check_onnx_file(const fs::path& path) {
  guarded(path, [&] {
    const onnx::ModelProto model = parse_file(path);
    try {
      onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      throw ModelError("the ONNX checker rejects '" + path.string() + "': " + e.what());
    }
    return 0;
  });
}

}  // namespace digitcam::engine
