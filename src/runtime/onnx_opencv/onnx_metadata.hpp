#pragma once
// Reads the graph inputs and outputs (names, element types, shapes) of an ONNX model straight
// from its protobuf bytes, without the ONNX library: OpenCV's DNN module does not expose them.
#include <string_view>
#include <vector>

#include "runtime/backend.hpp"

namespace brulee::runtime::onnx {

struct GraphSignature {
  std::vector<TensorSpec> inputs;  // graph inputs that are not initializers
  std::vector<TensorSpec> outputs;
};

// Throws std::runtime_error if the bytes are not a well-formed ONNX ModelProto with a graph.
// Symbolic dimensions (dim_param) become -1.
GraphSignature read_signature(std::string_view model_bytes);

}  // namespace brulee::runtime::onnx
