#include "runtime/backend.hpp"

#include <cstring>
#include <string>

#include "core/error.hpp"
#include "runtime/backend_util.hpp"

namespace brulee::runtime {

Backend& onnx_opencv_backend();  // onnx_opencv/onnx_backend.cpp
Backend& torchscript_backend();  // torchscript/torchscript_backend.cpp

namespace {
// A new backend: one line here (and its folder). The lookup, the names and the error text
// follow from this table.
constexpr BackendEntry kBackends[] = {
    {"onnx", "model.onnx", &onnx_opencv_backend},
    {"torchscript", "model.pt", &torchscript_backend},
};
}  // namespace

std::span<const BackendEntry> backend_entries() { return kBackends; }

const BackendEntry& find_backend(std::string_view name) {
  for (const auto& entry : kBackends) {
    if (entry.name == name) return entry;
  }
  std::string known;
  for (const auto& entry : kBackends) {
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw UsageError("unknown backend '" + std::string(name) + "' (known: " + known + ")");
}

Backend& backend(std::string_view name) { return find_backend(name).instance(); }

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& entry : kBackends) names.emplace_back(entry.name);
  return names;
}

std::uint64_t element_count(const std::vector<std::int64_t>& shape) {
  const ElementCount counted = count_elements(shape);
  switch (counted.problem) {
    case ShapeProblem::kNone:
      return counted.count;
    case ShapeProblem::kNegativeDimension:
      throw UsageError("shape " + shape_text(shape) + " has a negative dimension");
    case ShapeProblem::kTooLarge:
      break;
  }
  throw UsageError("shape " + shape_text(shape) + " is too large");
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

std::vector<Tensor> sample_inputs(const std::vector<TensorSpec>& specs, std::uint64_t seed) {
  std::vector<Tensor> tensors = warmup_inputs(specs);
  std::uint64_t state = seed;
  auto next = [&state] {  // splitmix64
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (Tensor& tensor : tensors) {
    const std::size_t count = tensor.data.size() / dtype_bytes(tensor.dtype);
    std::byte* out = tensor.data.data();
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t bits = next();
      const double uniform = static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, 1)
      const std::int64_t digit = static_cast<std::int64_t>(bits % 10);
      switch (tensor.dtype) {
        case DType::kFloat32: {
          const float value = static_cast<float>(uniform);
          std::memcpy(out + i * sizeof value, &value, sizeof value);
          break;
        }
        case DType::kFloat64:
          std::memcpy(out + i * sizeof uniform, &uniform, sizeof uniform);
          break;
        case DType::kInt32: {
          const auto value = static_cast<std::int32_t>(digit);
          std::memcpy(out + i * sizeof value, &value, sizeof value);
          break;
        }
        case DType::kInt64:
          std::memcpy(out + i * sizeof digit, &digit, sizeof digit);
          break;
        case DType::kUInt8:
        case DType::kInt8:
          out[i] = static_cast<std::byte>(digit);
          break;
        case DType::kBool:
          out[i] = static_cast<std::byte>(bits & 1);
          break;
      }
    }
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
