#pragma once
// ONNX import and export: the only part of digitcam that knows protobuf and ONNX.
//
// save_onnx writes a Network as an opset-13 model: input "input" [N, 1, 28, 28] (N symbolic),
// output "logits" [N, K]; Conv2D->Conv, ReLU->Relu, MaxPool->MaxPool, Dense->Gemm (transB=1),
// BatchNorm->BatchNormalization (inference form, ONNX momentum = 1 - ours), Flatten->Flatten,
// Dropout->Dropout, Softmax->Softmax(axis=1), Transpose4D->Transpose. The file is checked with
// onnx::checker and written atomically (path + ".tmp", flushed to disk, renamed), so a reader
// never sees half a model. OpenCV's dnn reads it as it is.
//
// load_onnx reads chain-shaped classifiers: digitcam's own files, PyTorch's torch.onnx.export
// of nn.Sequential-style CNNs, and Keras models converted by tf2onnx (NHWC input, Transposes,
// MatMul+Add). Constant shape arithmetic (Shape/Gather/Unsqueeze/Concat... feeding a Reshape)
// is folded; adjacent Transposes are merged or dropped. The input may be [N, 1, 28, 28],
// [N, 28, 28, 1], [N, 28, 28] or [N, 784]; all have the memory layout of the [N, 1, 28, 28]
// tensor the returned Network takes, and a leading Flatten or Transpose layer gives the rest of
// the network the layout it was built for. A final LogSoftmax is dropped (it shifts each row by a
// constant, so the Network returns logits whose softmax is the model's probabilities).
//
// Every problem with a file is a ModelError naming the file and, where there is one, the node
// and its op type: missing, empty, truncated or not protobuf, unsupported ops, graphs that are not
// a chain, inputs that are not 28x28 grey crops, weight sizes that disagree with their use,
// NaN/Inf weights, and dimensions beyond the limits below (checked before anything is allocated).

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "digitcam/engine/network.hpp"

namespace digitcam::engine {

// What a model file says about itself besides its weights. save_onnx writes it to the model's
// metadata_props ("classes", "class_names" comma-separated, then every property as it is);
// loading gives it back. Files from other producers usually have neither.
struct OnnxMetadata {
  std::vector<std::string> class_names;           // empty, or one per output; no commas
  std::map<std::string, std::string> properties;  // free-form, e.g. recipe, temperature
};

// Facts about a model file, enough for another runtime (OpenCV's dnn) to feed it.
struct OnnxInfo {
  std::string input_name;
  std::vector<std::int64_t> input_dims;  // as declared; -1 where symbolic (the batch)
  std::string output_name;
  // The output is a probability distribution (the graph ends in Softmax), not logits.
  bool outputs_probabilities = false;
  std::string producer;  // producer_name and version, e.g. "pytorch 1.13.0"
  std::int64_t opset = 0;
  OnnxMetadata metadata;
};

struct OnnxModel {
  Network network;  // inference mode
  OnnxInfo info;
};

// Throws ModelError when a layer or the metadata cannot be expressed (or the ONNX checker
// rejects the result), IoError when the file cannot be written.
void save_onnx(const Network& network, const std::filesystem::path& path,
               const OnnxMetadata& metadata = {});

// Throw ModelError (see above). load_onnx is load_onnx_model(path).network.
OnnxModel load_onnx_model(const std::filesystem::path& path);
Network load_onnx(const std::filesystem::path& path);

// Parses the file and reports what it declares, without building a network. ModelError when it
// is not a readable ONNX model with one input and one output.
OnnxInfo read_onnx_info(const std::filesystem::path& path);

// Runs onnx::checker on a file; ModelError with the checker's words when it objects.
void check_onnx_file(const std::filesystem::path& path);

}  // namespace digitcam::engine
