#pragma once
// KServe v2 (Open Inference Protocol) JSON <-> tensors, with the binary tensor extension
// (docs/api.md). Every parse error is a UsageError with a message fit for a 400 answer.
// Bodies are scanned first (json_limits.hpp: bounded depth, bounded document size); an inference
// request's tensor data is read straight into its tensors, never into a JSON document.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/backend.hpp"
#include "runtime/dtype.hpp"
#include "serve/json_limits.hpp"

namespace brulee::serve {

// "FP32" <-> DType, from the table in runtime/dtype.hpp (header-only: the server does not link
// the runtime's library). Throws UsageError on an unknown or unsupported datatype (e.g. BYTES).
std::string_view kserve_dtype(runtime::DType dtype);
runtime::DType parse_kserve_dtype(std::string_view name);
std::size_t element_bytes(runtime::DType dtype);

inline constexpr std::size_t kMaxTensorRank = 32;

// Elements of the tensor named `tensor` with this shape: each dimension non-negative, the
// product at most runtime::kMaxTensorElements (2^40). Throws UsageError naming the tensor
// otherwise.
std::uint64_t checked_element_count(const std::vector<std::int64_t>& shape,
                                    const std::string& tensor);
// Throws UsageError when a name appears twice (`what` names the kind: "input", "output").
void check_distinct_names(std::vector<std::string_view> names, const char* what);

struct InferLimits {
  JsonLimits json;                // the JSON part: nesting depth, document bytes
  std::size_t max_inputs = 256;   // entries of "inputs"
  std::size_t max_outputs = 256;  // entries of "outputs" (each name at most once)
};

struct RequestedOutput {
  std::string name;
  // The output's parameters.binary_data; absent: the request's binary_data_output decides.
  std::optional<bool> binary_data;
};

struct InferRequest {
  nlohmann::json id;          // null when absent
  nlohmann::json parameters;  // null when absent
  std::vector<runtime::Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: all outputs; names are distinct
  bool binary_outputs = false;           // parameters.binary_data_output
};

// Whether `output` is answered as raw bytes (binary tensor extension): its own binary_data
// when given (true or false), the request's binary_data_output otherwise.
bool binary_output(const InferRequest& request, const RequestedOutput& output);

// The Inference-Header-Content-Length value: a decimal byte count no larger than the body.
// Throws UsageError otherwise.
std::size_t parse_inference_header_length(std::string_view text, std::size_t body_bytes);

// Upper bound of the heap bytes parse_infer_request holds at its peak for this body (the JSON
// document while it lives, the tensors, names and shapes it copies out). Linear scan, no
// allocation, never throws: charge it to a memory budget before parsing.
std::uint64_t infer_request_bytes(std::string_view body, std::optional<std::size_t> json_bytes,
                                  const InferLimits& limits = {});

// `body` is the whole HTTP body; `json_bytes` is the Inference-Header-Content-Length value when
// the binary extension is used (the JSON header is the first json_bytes bytes, tensor data
// follows in input order for inputs whose parameters carry binary_data_size). Every declared
// size and shape is checked against the bytes actually present before anything is allocated.
InferRequest parse_infer_request(std::string_view body, std::optional<std::size_t> json_bytes,
                                 const InferLimits& limits = {});

struct EncodedResponse {
  std::string body;
  std::optional<std::size_t> json_bytes;  // set when binary outputs follow the JSON
};

// Upper bound of the body encode_infer_response builds for these arguments, computed from the
// outputs' names, shapes, datatypes and element counts without encoding anything; the body's
// allocation is exactly this many bytes. Throws UsageError (as encoding would) when a requested
// output is not among `outputs`.
std::uint64_t infer_response_bytes(const std::string& model_name, const std::string& version,
                                   const InferRequest& request,
                                   const std::vector<runtime::Tensor>& outputs,
                                   const nlohmann::json& parameters = nullptr);

EncodedResponse encode_infer_response(const std::string& model_name, const std::string& version,
                                      const InferRequest& request,
                                      const std::vector<runtime::Tensor>& outputs,
                                      const nlohmann::json& parameters = nullptr);

// POST /v2/repository/index: an empty body or {"ready": bool}. Returns "ready" (false when
// absent). Throws UsageError on anything else.
bool parse_repository_index_request(std::string_view body, const JsonLimits& limits = {});

nlohmann::json tensor_spec_json(const runtime::TensorSpec& spec);

// {"error": message}
std::string error_json(std::string_view message);

}  // namespace brulee::serve
