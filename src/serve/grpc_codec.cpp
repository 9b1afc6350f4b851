#include "serve/grpc_codec.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

#include "core/error.hpp"
#include "serve/service.hpp"

namespace brulee::serve {

using inference::InferParameter;
using inference::InferTensorContents;
using inference::ModelInferRequest;
using runtime::DType;
using runtime::Tensor;

namespace {

// Per tensor: the vector and string headers the copy allocates besides the data.
constexpr std::uint64_t kTensorOverheadBytes = 128;
// The parse's fixed costs: the inputs' vector, and an error's message (names in messages are
// cut to 64 bytes, so a message is short).
constexpr std::uint64_t kRequestOverheadBytes = 1024;
// The response's parameters (nine map entries with their keys, the map's table) and its fixed
// members.
constexpr std::uint64_t kResponseOverheadBytes = 4096;
// Per output in the response: the output's message, its datatype, the repeated fields' arrays
// (grown by doubling).
constexpr std::uint64_t kOutputOverheadBytes = 512;

// A name as quoted in an error message: at most 64 bytes of it.
std::string shown(std::string_view name) {
  constexpr std::size_t kShownBytes = 64;
  if (name.size() <= kShownBytes) return std::string(name);
  return std::string(name.substr(0, kShownBytes)) + "...";
}

std::uint64_t typed_values(const InferTensorContents& c) {
  return static_cast<std::uint64_t>(c.bool_contents_size()) + c.int_contents_size() +
         c.int64_contents_size() + c.uint_contents_size() + c.uint64_contents_size() +
         c.fp32_contents_size() + c.fp64_contents_size() + c.bytes_contents_size();
}

std::optional<std::uint64_t> index_parameter(const ModelInferRequest& request, const char* key) {
  const auto& parameters = request.parameters();
  const auto found = parameters.find(key);
  if (found == parameters.end()) return std::nullopt;
  const InferParameter& value = found->second;
  if (value.parameter_choice_case() == InferParameter::kUint64Param) return value.uint64_param();
  if (value.parameter_choice_case() == InferParameter::kInt64Param && value.int64_param() >= 0) {
    return static_cast<std::uint64_t>(value.int64_param());
  }
  throw UsageError(std::string("parameters.") + key + " must be a non-negative integer");
}

std::optional<double> time_parameter(const ModelInferRequest& request, const char* key) {
  const auto& parameters = request.parameters();
  const auto found = parameters.find(key);
  if (found == parameters.end()) return std::nullopt;
  const InferParameter& value = found->second;
  switch (value.parameter_choice_case()) {
    case InferParameter::kDoubleParam:
      return value.double_param();
    case InferParameter::kInt64Param:
      return static_cast<double>(value.int64_param());
    case InferParameter::kUint64Param:
      return static_cast<double>(value.uint64_param());
    default:
      throw UsageError(std::string("parameters.") + key + " must be a number of seconds");
  }
}

template <typename Wire, typename Stored>
void copy_values(const google::protobuf::RepeatedField<Wire>& values, Tensor& tensor,
                 const char* range_error) {
  tensor.data.resize(static_cast<std::size_t>(values.size()) * sizeof(Stored));
  std::byte* out = tensor.data.data();
  for (const Wire value : values) {
    if constexpr (!std::is_same_v<Wire, Stored>) {
      if (value < static_cast<Wire>(std::numeric_limits<Stored>::lowest()) ||
          value > static_cast<Wire>(std::numeric_limits<Stored>::max())) {
        throw UsageError("input " + shown(tensor.name) + ": value " + std::to_string(value) +
                         range_error);
      }
    }
    const auto stored = static_cast<Stored>(value);
    std::memcpy(out, &stored, sizeof(Stored));
    out += sizeof(Stored);
  }
}

// Which typed field a datatype's values travel in, and how many values it holds.
struct TypedField {
  const char* name;
  int size;
};

TypedField typed_field(const InferTensorContents& c, DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return {"fp32_contents", c.fp32_contents_size()};
    case DType::kFloat64:
      return {"fp64_contents", c.fp64_contents_size()};
    case DType::kInt32:
    case DType::kInt8:
      return {"int_contents", c.int_contents_size()};
    case DType::kInt64:
      return {"int64_contents", c.int64_contents_size()};
    case DType::kUInt8:
      return {"uint_contents", c.uint_contents_size()};
    case DType::kBool:
      return {"bool_contents", c.bool_contents_size()};
  }
  return {"contents", 0};
}

void fill_typed(Tensor& tensor, const InferTensorContents& c, std::uint64_t count) {
  const TypedField field = typed_field(c, tensor.dtype);
  if (static_cast<std::uint64_t>(field.size) != count || typed_values(c) != count) {
    throw UsageError("input " + shown(tensor.name) + ": " +
                     std::string(kserve_dtype(tensor.dtype)) + " values go in contents." +
                     field.name + ", which must hold exactly " + std::to_string(count) +
                     " values for the shape (it holds " + std::to_string(field.size) +
                     ", all typed fields " + std::to_string(typed_values(c)) + ")");
  }
  switch (tensor.dtype) {
    case DType::kFloat32:
      copy_values<float, float>(c.fp32_contents(), tensor, "");
      break;
    case DType::kFloat64:
      copy_values<double, double>(c.fp64_contents(), tensor, "");
      break;
    case DType::kInt32:
      copy_values<std::int32_t, std::int32_t>(c.int_contents(), tensor, "");
      break;
    case DType::kInt8:
      copy_values<std::int32_t, std::int8_t>(c.int_contents(), tensor, " is out of range for INT8");
      break;
    case DType::kInt64:
      copy_values<std::int64_t, std::int64_t>(c.int64_contents(), tensor, "");
      break;
    case DType::kUInt8:
      copy_values<std::uint32_t, std::uint8_t>(c.uint_contents(), tensor,
                                               " is out of range for UINT8");
      break;
    case DType::kBool:
      copy_values<bool, bool>(c.bool_contents(), tensor, "");
      break;
  }
}

std::vector<const Tensor*> select_outputs(const GrpcInferRequest& request,
                                          const std::vector<Tensor>& outputs) {
  std::vector<const Tensor*> selected;
  if (request.outputs.empty()) {
    for (const auto& tensor : outputs) selected.push_back(&tensor);
    return selected;
  }
  for (const auto& wanted : request.outputs) {
    const auto found = std::find_if(outputs.begin(), outputs.end(),
                                    [&](const Tensor& tensor) { return tensor.name == wanted; });
    if (found == outputs.end()) {
      throw UsageError("the model has no output named " + shown(wanted));
    }
    selected.push_back(&*found);
  }
  return selected;
}

}  // namespace

std::uint64_t grpc_request_bytes(const ModelInferRequest& request) {
  std::uint64_t bytes = kRequestOverheadBytes;
  for (const auto& input : request.inputs()) {
    // Typed values are copied at most 8 bytes each (every datatype brulee takes is <= 8 bytes).
    bytes += kTensorOverheadBytes + input.name().size() +
             static_cast<std::uint64_t>(input.shape_size()) * sizeof(std::int64_t) +
             typed_values(input.contents()) * sizeof(std::uint64_t);
  }
  for (const auto& raw : request.raw_input_contents()) bytes += raw.size();
  for (const auto& output : request.outputs()) bytes += kTensorOverheadBytes + output.name().size();
  return bytes;
}

GrpcInferRequest parse_grpc_infer_request(const ModelInferRequest& request,
                                          const InferLimits& limits) {
  if (request.inputs_size() == 0) throw UsageError("the request has no inputs");
  if (static_cast<std::size_t>(request.inputs_size()) > limits.max_inputs) {
    throw UsageError("the request has " + std::to_string(request.inputs_size()) +
                     " inputs; at most " + std::to_string(limits.max_inputs) + " are accepted");
  }
  if (static_cast<std::size_t>(request.outputs_size()) > limits.max_outputs) {
    throw UsageError("the request asks for " + std::to_string(request.outputs_size()) +
                     " outputs; at most " + std::to_string(limits.max_outputs) + " are accepted");
  }
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    throw UsageError("raw_input_contents has " + std::to_string(request.raw_input_contents_size()) +
                     " entries for " + std::to_string(request.inputs_size()) +
                     " inputs (one per input, in order)");
  }
  std::vector<std::string_view> names;
  for (const auto& input : request.inputs()) names.push_back(input.name());
  check_distinct_names(std::move(names), "input");
  names.clear();
  for (const auto& output : request.outputs()) names.push_back(output.name());
  check_distinct_names(std::move(names), "output");

  GrpcInferRequest parsed;
  parsed.oracle = Service::oracle_hint(index_parameter(request, "request_index"),
                                       index_parameter(request, "next_request_index"),
                                       time_parameter(request, "request_time_s"));
  parsed.inputs.reserve(static_cast<std::size_t>(request.inputs_size()));
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    if (input.name().empty()) throw UsageError("input " + std::to_string(i) + " has no name");
    Tensor tensor;
    tensor.name = input.name();
    try {
      tensor.dtype = parse_kserve_dtype(input.datatype());
    } catch (const UsageError& e) {
      throw UsageError("input " + shown(tensor.name) + ": " + e.what());
    }
    if (static_cast<std::size_t>(input.shape_size()) > kMaxTensorRank) {
      throw UsageError("input " + shown(tensor.name) + ": shape has more than " +
                       std::to_string(kMaxTensorRank) + " dimensions");
    }
    tensor.shape.assign(input.shape().begin(), input.shape().end());
    const std::uint64_t count = checked_element_count(tensor.shape, tensor.name);
    const std::uint64_t data_bytes = count * element_bytes(tensor.dtype);  // < 2^44
    if (raw) {
      if (typed_values(input.contents()) != 0) {
        throw UsageError("input " + shown(tensor.name) +
                         " has typed contents although the request uses raw_input_contents");
      }
      const std::string& bytes = request.raw_input_contents(i);
      if (bytes.size() != data_bytes) {
        throw UsageError("input " + shown(tensor.name) + ": raw_input_contents[" +
                         std::to_string(i) + "] holds " + std::to_string(bytes.size()) +
                         " bytes; its shape and datatype need " + std::to_string(data_bytes));
      }
      tensor.data.resize(bytes.size());
      if (!bytes.empty()) std::memcpy(tensor.data.data(), bytes.data(), bytes.size());
    } else {
      fill_typed(tensor, input.contents(), count);
    }
    parsed.inputs.push_back(std::move(tensor));
  }
  for (const auto& output : request.outputs()) parsed.outputs.push_back(output.name());
  return parsed;
}

std::uint64_t grpc_response_bytes(const std::string& model_name, const std::string& id,
                                  const GrpcInferRequest& request,
                                  const std::vector<Tensor>& outputs) {
  std::uint64_t bytes = kResponseOverheadBytes + model_name.size() + id.size();
  for (const Tensor* tensor : select_outputs(request, outputs)) {
    bytes += kOutputOverheadBytes + tensor->name.size() + tensor->data.size() +
             2 * tensor->shape.size() * sizeof(std::int64_t);
  }
  return bytes;
}

void encode_grpc_infer_response(const std::string& model_name, const std::string& version,
                                const std::string& id, const GrpcInferRequest& request,
                                const std::vector<Tensor>& outputs, const AnswerFigures& figures,
                                inference::ModelInferResponse& response) {
  const std::vector<const Tensor*> selected = select_outputs(request, outputs);
  response.set_model_name(model_name);
  response.set_model_version(version);
  response.set_id(id);
  for (const Tensor* tensor : selected) {
    auto* out = response.add_outputs();
    out->set_name(tensor->name);
    out->set_datatype(std::string(kserve_dtype(tensor->dtype)));
    for (const auto dim : tensor->shape) out->add_shape(dim);
    response.add_raw_output_contents()->assign(reinterpret_cast<const char*>(tensor->data.data()),
                                               tensor->data.size());
  }
  auto& parameters = *response.mutable_parameters();
  parameters["hit"].set_bool_param(figures.hit);
  parameters["load_s"].set_double_param(figures.load_s);
  parameters["queue_s"].set_double_param(figures.queue_s);
  parameters["exec_s"].set_double_param(figures.exec_s);
  parameters["ready_s"].set_double_param(figures.ready_s);
  parameters["start_s"].set_double_param(figures.start_s);
  parameters["end_s"].set_double_param(figures.end_s);
  parameters["parse_s"].set_double_param(figures.parse_s);
  if (figures.load_start_s >= 0) parameters["load_start_s"].set_double_param(figures.load_start_s);
}

}  // namespace brulee::serve
