// KServe v2 gRPC inference requests (grpc_codec.hpp): any bytes protobuf accepts as a
// ModelInferRequest are answered by parse_grpc_infer_request with tensors or a UsageError
// (nothing else escapes, no sanitizer report), within the heap grpc_request_bytes announced; the
// parsed inputs echoed as outputs encode within grpc_response_bytes.
#include <cstdint>
#include <string>

#include "check.hpp"
#include "core/error.hpp"
#include "serve/grpc_codec.hpp"

using namespace brulee::serve;
using brulee::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  InferLimits limits;
  limits.max_inputs = 8;
  limits.max_outputs = 8;
  const std::uint64_t request_bound = grpc_request_bytes(request);
  GrpcInferRequest parsed;
  {
    brulee::fuzz::HeapPeak heap;
    try {
      parsed = parse_grpc_infer_request(request, limits);
    } catch (const brulee::UsageError&) {
      heap.expect_at_most(request_bound, "parse_grpc_infer_request (refused)");
      return 0;
    }
    heap.expect_at_most(request_bound, "parse_grpc_infer_request");
  }
  const std::vector<brulee::runtime::Tensor> outputs = parsed.inputs;
  try {
    const std::uint64_t response_bound =
        grpc_response_bytes(request.model_name(), request.id(), parsed, outputs);
    inference::ModelInferResponse response;
    {
      brulee::fuzz::HeapPeak heap;
      encode_grpc_infer_response(request.model_name(), "1", request.id(), parsed, outputs, {},
                                 response);
      heap.expect_at_most(response_bound, "encode_grpc_infer_response");
    }
    std::string wire;
    if (!response.SerializeToString(&wire)) fail("response does not serialize");
    inference::ModelInferResponse back;
    if (!back.ParseFromString(wire)) fail("response does not parse back");
  } catch (const brulee::UsageError&) {
    // a requested output that is not among the inputs' names
  }
  return 0;
}
