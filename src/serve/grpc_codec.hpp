#pragma once
// KServe v2 gRPC messages <-> tensors (docs/api.md, "gRPC"). The message itself was decoded by
// protobuf within the server's message-size limit; this checks what protobuf cannot (datatypes,
// shapes against the bytes and values present, names, parameters) before anything is copied
// out, and builds the answer. Every error is a UsageError fit for INVALID_ARGUMENT.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/backend.hpp"
#include "serve/kserve.hpp"
#include "serve/proto/inference.pb.h"
#include "serve/scheduler.hpp"

namespace brulee::serve {

struct GrpcInferRequest {
  std::vector<runtime::Tensor> inputs;
  std::vector<std::string> outputs;  // requested outputs (distinct); empty: all of them
  std::optional<OracleHint> oracle;  // parameters request_index / next_request_index
};

// Upper bound of the heap bytes parse_grpc_infer_request copies out of `request` (tensor data,
// names, shapes). Never throws, allocates nothing: charge it to the in-flight budget first.
std::uint64_t grpc_request_bytes(const inference::ModelInferRequest& request);

// Inputs come either all as typed `contents` (the field the datatype names) or all as
// `raw_input_contents` (one entry per input, in order); either way the element count must
// match the shape exactly, and typed values must fit the datatype.
GrpcInferRequest parse_grpc_infer_request(const inference::ModelInferRequest& request,
                                          const InferLimits& limits = {});

// The timeline figures brulee adds to every answer (REST: "parameters"; gRPC: parameters).
struct AnswerFigures {
  bool hit = false;
  double load_s = 0, queue_s = 0, exec_s = 0, ready_s = 0, start_s = 0, end_s = 0, parse_s = 0;
  double load_start_s = -1;  // < 0: no load started for this request
};

// Upper bound of the bytes encode_grpc_infer_response adds to the answer. Throws UsageError
// (as encoding would) when a requested output is not among `outputs`.
std::uint64_t grpc_response_bytes(const std::string& model_name, const std::string& id,
                                  const GrpcInferRequest& request,
                                  const std::vector<runtime::Tensor>& outputs);

// Fills `response`: outputs as raw_output_contents (little-endian, row-major; as Triton does),
// in the requested order or the model's.
void encode_grpc_infer_response(const std::string& model_name, const std::string& version,
                                const std::string& id, const GrpcInferRequest& request,
                                const std::vector<runtime::Tensor>& outputs,
                                const AnswerFigures& figures,
                                inference::ModelInferResponse& response);

}  // namespace brulee::serve
