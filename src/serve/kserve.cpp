#include "serve/kserve.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/error.hpp"

namespace brulee::serve {

using nlohmann::json;
using runtime::DType;
using runtime::Tensor;

namespace {

struct DTypeName {
  DType dtype;
  const char* name;
  std::size_t bytes;
};
constexpr DTypeName kDTypes[] = {
    {DType::kFloat32, "FP32", 4}, {DType::kFloat64, "FP64", 8}, {DType::kInt32, "INT32", 4},
    {DType::kInt64, "INT64", 8},  {DType::kUInt8, "UINT8", 1},  {DType::kInt8, "INT8", 1},
    {DType::kBool, "BOOL", 1},
};

// Appends the leaves of a (possibly nested) JSON array in row-major order.
void flatten(const json& node, std::vector<const json*>& leaves, int depth) {
  if (depth > 32) throw UsageError("tensor data is nested too deeply");
  if (node.is_array()) {
    for (const auto& child : node) flatten(child, leaves, depth + 1);
  } else {
    leaves.push_back(&node);
  }
}

template <typename T>
void put(std::vector<std::byte>& data, std::size_t index, T value) {
  std::memcpy(data.data() + index * sizeof(T), &value, sizeof(T));
}

template <typename T>
T get(const std::vector<std::byte>& data, std::size_t index) {
  T value;
  std::memcpy(&value, data.data() + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
T integer_leaf(const json& leaf, const std::string& input, std::size_t index) {
  if (!leaf.is_number_integer()) {
    throw UsageError("input " + input + ": element " + std::to_string(index) +
                     " is not an integer");
  }
  if (leaf.is_number_unsigned()) {
    const auto value = leaf.get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      throw UsageError("input " + input + ": element " + std::to_string(index) +
                       " is out of range");
    }
    return static_cast<T>(value);
  }
  const auto value = leaf.get<std::int64_t>();
  if (value < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
      (value > 0 && static_cast<std::uint64_t>(value) >
                        static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
    throw UsageError("input " + input + ": element " + std::to_string(index) + " is out of range");
  }
  return static_cast<T>(value);
}

std::uint64_t element_count(const std::vector<std::int64_t>& shape, const std::string& input) {
  std::uint64_t count = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) throw UsageError("input " + input + ": shape has a negative dimension");
    const auto udim = static_cast<std::uint64_t>(dim);
    if (udim != 0 && count > (std::uint64_t{1} << 40) / udim) {
      throw UsageError("input " + input + ": shape is too large");
    }
    count *= udim;
  }
  return count;
}

void fill_from_json(Tensor& tensor, const json& data) {
  std::vector<const json*> leaves;
  flatten(data, leaves, 0);
  const std::uint64_t count = element_count(tensor.shape, tensor.name);
  if (leaves.size() != count) {
    throw UsageError("input " + tensor.name + ": shape holds " + std::to_string(count) +
                     " elements but data has " + std::to_string(leaves.size()));
  }
  tensor.data.resize(static_cast<std::size_t>(count) * element_bytes(tensor.dtype));
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const json& leaf = *leaves[i];
    switch (tensor.dtype) {
      case DType::kFloat32:
      case DType::kFloat64: {
        if (!leaf.is_number()) {
          throw UsageError("input " + tensor.name + ": element " + std::to_string(i) +
                           " is not a number");
        }
        const double value = leaf.get<double>();
        if (tensor.dtype == DType::kFloat32) {
          put(tensor.data, i, static_cast<float>(value));
        } else {
          put(tensor.data, i, value);
        }
        break;
      }
      case DType::kInt32:
        put(tensor.data, i, integer_leaf<std::int32_t>(leaf, tensor.name, i));
        break;
      case DType::kInt64:
        put(tensor.data, i, integer_leaf<std::int64_t>(leaf, tensor.name, i));
        break;
      case DType::kUInt8:
        put(tensor.data, i, integer_leaf<std::uint8_t>(leaf, tensor.name, i));
        break;
      case DType::kInt8:
        put(tensor.data, i, integer_leaf<std::int8_t>(leaf, tensor.name, i));
        break;
      case DType::kBool:
        if (!leaf.is_boolean()) {
          throw UsageError("input " + tensor.name + ": element " + std::to_string(i) +
                           " is not a boolean");
        }
        put(tensor.data, i, static_cast<std::uint8_t>(leaf.get<bool>() ? 1 : 0));
        break;
    }
  }
}

json data_json(const Tensor& tensor) {
  const std::size_t count = tensor.data.size() / element_bytes(tensor.dtype);
  json data = json::array();
  auto& array = data.get_ref<json::array_t&>();
  array.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    switch (tensor.dtype) {
      case DType::kFloat32: {
        const float value = get<float>(tensor.data, i);
        array.emplace_back(std::isfinite(value) ? json(static_cast<double>(value)) : json(nullptr));
        break;
      }
      case DType::kFloat64: {
        const double value = get<double>(tensor.data, i);
        array.emplace_back(std::isfinite(value) ? json(value) : json(nullptr));
        break;
      }
      case DType::kInt32:
        array.emplace_back(get<std::int32_t>(tensor.data, i));
        break;
      case DType::kInt64:
        array.emplace_back(get<std::int64_t>(tensor.data, i));
        break;
      case DType::kUInt8:
        array.emplace_back(get<std::uint8_t>(tensor.data, i));
        break;
      case DType::kInt8:
        array.emplace_back(get<std::int8_t>(tensor.data, i));
        break;
      case DType::kBool:
        array.emplace_back(get<std::uint8_t>(tensor.data, i) != 0);
        break;
    }
  }
  return data;
}

bool json_flag(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return false;
  const json& value = object[key];
  if (!value.is_boolean()) throw UsageError(std::string("parameter ") + key + " must be a boolean");
  return value.get<bool>();
}

}  // namespace

std::string_view kserve_dtype(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "UNKNOWN";
}

DType parse_kserve_dtype(std::string_view name) {
  for (const auto& entry : kDTypes) {
    if (name == entry.name) return entry.dtype;
  }
  throw UsageError("unsupported datatype \"" + std::string(name) +
                   "\" (supported: FP32, FP64, INT32, INT64, UINT8, INT8, BOOL)");
}

std::size_t element_bytes(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.bytes;
  }
  return 1;
}

InferRequest parse_infer_request(std::string_view body, std::optional<std::size_t> json_bytes) {
  std::string_view header = body;
  std::string_view binary;
  if (json_bytes) {
    if (*json_bytes > body.size()) {
      throw UsageError("Inference-Header-Content-Length " + std::to_string(*json_bytes) +
                       " is larger than the body (" + std::to_string(body.size()) + " bytes)");
    }
    header = body.substr(0, *json_bytes);
    binary = body.substr(*json_bytes);
  }
  json root = json::parse(header.begin(), header.end(), nullptr, false);
  if (root.is_discarded()) throw UsageError("request body is not valid JSON");
  if (!root.is_object()) throw UsageError("request body must be a JSON object");
  InferRequest request;
  if (root.contains("id")) {
    if (!root["id"].is_string()) throw UsageError("\"id\" must be a string");
    request.id = root["id"];
  }
  if (root.contains("parameters")) {
    if (!root["parameters"].is_object()) throw UsageError("\"parameters\" must be an object");
    request.parameters = root["parameters"];
    request.binary_outputs = json_flag(request.parameters, "binary_data_output");
  }
  if (!root.contains("inputs") || !root["inputs"].is_array()) {
    throw UsageError("request needs an \"inputs\" array");
  }
  if (root["inputs"].empty()) throw UsageError("\"inputs\" is empty");
  std::size_t binary_offset = 0;
  for (const json& input : root["inputs"]) {
    if (!input.is_object()) throw UsageError("each input must be a JSON object");
    for (const char* key : {"name", "datatype"}) {
      if (!input.contains(key) || !input[key].is_string()) {
        throw UsageError(std::string("each input needs a string \"") + key + "\"");
      }
    }
    Tensor tensor;
    tensor.name = input["name"].get<std::string>();
    tensor.dtype = parse_kserve_dtype(input["datatype"].get<std::string>());
    if (!input.contains("shape") || !input["shape"].is_array()) {
      throw UsageError("input " + tensor.name + " needs a \"shape\" array");
    }
    for (const json& dim : input["shape"]) {
      if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0) {
        throw UsageError("input " + tensor.name + ": shape must hold non-negative integers");
      }
      tensor.shape.push_back(dim.get<std::int64_t>());
    }
    const std::uint64_t count = element_count(tensor.shape, tensor.name);
    std::optional<std::uint64_t> binary_size;
    if (input.contains("parameters")) {
      const json& params = input["parameters"];
      if (!params.is_object()) throw UsageError("input " + tensor.name + ": bad \"parameters\"");
      if (params.contains("binary_data_size")) {
        if (!params["binary_data_size"].is_number_unsigned()) {
          throw UsageError("input " + tensor.name + ": binary_data_size must be an integer");
        }
        binary_size = params["binary_data_size"].get<std::uint64_t>();
      }
    }
    if (binary_size) {
      if (!json_bytes) {
        throw UsageError("input " + tensor.name +
                         " has binary_data_size but no Inference-Header-Content-Length header");
      }
      if (*binary_size != count * element_bytes(tensor.dtype)) {
        throw UsageError("input " + tensor.name + ": binary_data_size " +
                         std::to_string(*binary_size) + " does not match shape and datatype (" +
                         std::to_string(count * element_bytes(tensor.dtype)) + " bytes)");
      }
      if (binary_offset + *binary_size > binary.size()) {
        throw UsageError("input " + tensor.name + ": binary data is shorter than announced");
      }
      tensor.data.resize(static_cast<std::size_t>(*binary_size));
      std::memcpy(tensor.data.data(), binary.data() + binary_offset, tensor.data.size());
      binary_offset += static_cast<std::size_t>(*binary_size);
    } else {
      if (!input.contains("data")) throw UsageError("input " + tensor.name + " has no \"data\"");
      fill_from_json(tensor, input["data"]);
    }
    request.inputs.push_back(std::move(tensor));
  }
  if (binary_offset != binary.size()) {
    throw UsageError("body has " + std::to_string(binary.size() - binary_offset) +
                     " bytes of binary data that no input claims");
  }
  if (root.contains("outputs")) {
    if (!root["outputs"].is_array()) throw UsageError("\"outputs\" must be an array");
    for (const json& output : root["outputs"]) {
      if (!output.is_object() || !output.contains("name") || !output["name"].is_string()) {
        throw UsageError("each requested output needs a string \"name\"");
      }
      RequestedOutput wanted;
      wanted.name = output["name"].get<std::string>();
      if (output.contains("parameters")) {
        wanted.binary = json_flag(output["parameters"], "binary_data");
      }
      request.outputs.push_back(std::move(wanted));
    }
  }
  return request;
}

EncodedResponse encode_infer_response(const std::string& model_name, const std::string& version,
                                      const InferRequest& request,
                                      const std::vector<Tensor>& outputs, const json& parameters) {
  json root;
  root["model_name"] = model_name;
  root["model_version"] = version;
  if (!request.id.is_null()) root["id"] = request.id;
  if (!parameters.is_null()) root["parameters"] = parameters;
  root["outputs"] = json::array();
  std::string binary;
  auto emit = [&](const Tensor& tensor, bool as_binary) {
    json out;
    out["name"] = tensor.name;
    out["datatype"] = std::string(kserve_dtype(tensor.dtype));
    out["shape"] = tensor.shape;
    if (as_binary) {
      out["parameters"] = {{"binary_data_size", tensor.data.size()}};
      binary.append(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size());
    } else {
      out["data"] = data_json(tensor);
    }
    root["outputs"].push_back(std::move(out));
  };
  if (request.outputs.empty()) {
    for (const auto& tensor : outputs) emit(tensor, request.binary_outputs);
  } else {
    for (const auto& wanted : request.outputs) {
      const Tensor* found = nullptr;
      for (const auto& tensor : outputs) {
        if (tensor.name == wanted.name) found = &tensor;
      }
      if (!found) throw UsageError("model " + model_name + " has no output named " + wanted.name);
      emit(*found, wanted.binary || request.binary_outputs);
    }
  }
  EncodedResponse response;
  response.body = root.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!binary.empty()) {
    response.json_bytes = response.body.size();
    response.body += binary;
  }
  return response;
}

json tensor_spec_json(const runtime::TensorSpec& spec) {
  return {{"name", spec.name},
          {"datatype", std::string(kserve_dtype(spec.dtype))},
          {"shape", spec.shape}};
}

std::string error_json(std::string_view message) {
  return json{{"error", std::string(message)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace brulee::serve
