#include "runtime/backend.hpp"

#include <array>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "runtime/backend_util.hpp"

namespace brulee::runtime {

namespace {
struct DTypeName {
  DType dtype;
  std::string_view name;
  std::size_t bytes;
};
constexpr std::array<DTypeName, 7> kDTypes{{{DType::kFloat32, "FP32", 4},
                                            {DType::kFloat64, "FP64", 8},
                                            {DType::kInt32, "INT32", 4},
                                            {DType::kInt64, "INT64", 8},
                                            {DType::kUInt8, "UINT8", 1},
                                            {DType::kInt8, "INT8", 1},
                                            {DType::kBool, "BOOL", 1}}};
}  // namespace

std::string_view dtype_name(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "UNKNOWN";
}

DType parse_dtype(std::string_view kserve_name) {
  for (const auto& entry : kDTypes) {
    if (entry.name == kserve_name) return entry.dtype;
  }
  throw UsageError("unknown data type '" + std::string(kserve_name) +
                   "' (known: FP32, FP64, INT32, INT64, UINT8, INT8, BOOL)");
}

std::size_t dtype_bytes(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.bytes;
  }
  return 0;
}

Backend& backend(std::string_view name) {
  if (name == "onnx") return onnx_opencv_backend();
  if (name == "torchscript") return torchscript_backend();
  throw UsageError("unknown backend '" + std::string(name) + "' (known: onnx, torchscript)");
}

std::vector<std::string> backend_names() { return {"onnx", "torchscript"}; }

std::uint64_t element_count(const std::vector<std::int64_t>& shape) {
  std::uint64_t count = 1;
  for (const auto dim : shape) {
    if (dim < 0) throw UsageError("shape " + shape_text(shape) + " has a negative dimension");
    const auto size = static_cast<std::uint64_t>(dim);
    if (size != 0 && count > std::numeric_limits<std::uint64_t>::max() / size) {
      throw UsageError("shape " + shape_text(shape) + " is too large");
    }
    count *= size;
  }
  return count;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::vector<std::size_t> match_inputs(const std::vector<TensorSpec>& specs,
                                      const std::vector<Tensor>& inputs) {
  if (inputs.size() != specs.size()) {
    throw UsageError("model takes " + std::to_string(specs.size()) + " input(s), got " +
                     std::to_string(inputs.size()));
  }
  std::vector<std::size_t> order(specs.size());
  for (std::size_t s = 0; s < specs.size(); ++s) {
    const auto& spec = specs[s];
    std::size_t found = inputs.size();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      // A single unnamed input matches a single-input model.
      if (inputs[i].name == spec.name || (specs.size() == 1 && inputs[i].name.empty())) found = i;
    }
    if (found == inputs.size()) throw UsageError("missing input '" + spec.name + "'");
    const Tensor& tensor = inputs[found];
    if (tensor.dtype != spec.dtype) {
      throw UsageError("input '" + spec.name + "' must be " + std::string(dtype_name(spec.dtype)) +
                       ", got " + std::string(dtype_name(tensor.dtype)));
    }
    bool shape_ok = tensor.shape.size() == spec.shape.size();
    for (std::size_t d = 0; shape_ok && d < spec.shape.size(); ++d) {
      shape_ok = spec.shape[d] < 0 || spec.shape[d] == tensor.shape[d];
    }
    if (!shape_ok) {
      throw UsageError("input '" + spec.name + "' must have shape " + shape_text(spec.shape) +
                       ", got " + shape_text(tensor.shape));
    }
    const std::uint64_t expected_bytes = element_count(tensor.shape) * dtype_bytes(tensor.dtype);
    if (tensor.data.size() != expected_bytes) {
      throw UsageError("input '" + spec.name + "' holds " + std::to_string(tensor.data.size()) +
                       " bytes, shape " + shape_text(tensor.shape) + " needs " +
                       std::to_string(expected_bytes));
    }
    order[s] = found;
  }
  return order;
}

std::vector<Tensor> warmup_inputs(const std::vector<TensorSpec>& specs) {
  std::vector<Tensor> tensors;
  for (const auto& spec : specs) {
    Tensor tensor;
    tensor.name = spec.name;
    tensor.dtype = spec.dtype;
    tensor.shape = spec.shape;
    for (auto& dim : tensor.shape) {
      if (dim < 0) dim = 1;
    }
    tensor.data.assign(element_count(tensor.shape) * dtype_bytes(tensor.dtype), std::byte{0});
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

bool fully_known(const std::vector<TensorSpec>& specs) {
  if (specs.empty()) return false;
  for (const auto& spec : specs) {
    for (const auto dim : spec.shape) {
      if (dim < 0) return false;
    }
  }
  return true;
}

}  // namespace brulee::runtime
