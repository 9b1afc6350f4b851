#pragma once
// KServe v2 (Open Inference Protocol) JSON <-> tensors, with the binary tensor extension
// (docs/api.md). Every parse error is a UsageError with a message fit for a 400 answer.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/backend.hpp"

namespace brulee::serve {

// "FP32" <-> DType, local to the wire format so the server does not depend on the runtime's
// library for names. Throws UsageError on an unknown or unsupported datatype (e.g. BYTES).
std::string_view kserve_dtype(runtime::DType dtype);
runtime::DType parse_kserve_dtype(std::string_view name);
std::size_t element_bytes(runtime::DType dtype);

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferRequest {
  nlohmann::json id;          // null when absent
  nlohmann::json parameters;  // null when absent
  std::vector<runtime::Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: all outputs
  bool binary_outputs = false;           // parameters.binary_data_output
};

// `body` is the whole HTTP body; `json_bytes` is the Inference-Header-Content-Length value when
// the binary extension is used (the JSON header is the first json_bytes bytes, tensor data
// follows in input order for inputs whose parameters carry binary_data_size).
InferRequest parse_infer_request(std::string_view body, std::optional<std::size_t> json_bytes);

struct EncodedResponse {
  std::string body;
  std::optional<std::size_t> json_bytes;  // set when binary outputs follow the JSON
};

EncodedResponse encode_infer_response(const std::string& model_name, const std::string& version,
                                      const InferRequest& request,
                                      const std::vector<runtime::Tensor>& outputs,
                                      const nlohmann::json& parameters = nullptr);

nlohmann::json tensor_spec_json(const runtime::TensorSpec& spec);

// {"error": message}
std::string error_json(std::string_view message);

}  // namespace brulee::serve
