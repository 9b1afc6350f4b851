// KServe v2 inference requests (kserve.hpp), JSON and binary tensor extension:
// - parse_infer_request answers every input with a request or a UsageError (nothing else
//   escapes, no sanitizer report), within the peak heap infer_request_bytes announced;
// - the parsed inputs echoed as outputs encode within infer_response_bytes, and the JSON part of
//   the answer is valid JSON (a model name of arbitrary bytes included).
// Input layout: byte 0 = mode (bit 0: binary extension, with Inference-Header-Content-Length
// in the next 2 bytes, little-endian, possibly past the body; bit 1: tight limits), then the body.
#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "core/error.hpp"
#include "serve/kserve.hpp"

using namespace brulee::serve;
using brulee::fuzz::fail;

namespace {}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  ++data;
  --size;
  std::optional<std::size_t> json_bytes;
  if (mode & 1) {
    if (size < 2) return 0;
    json_bytes = std::size_t{data[0]} | std::size_t{data[1]} << 8;
    data += 2;
    size -= 2;
  }
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  InferLimits limits;
  if (mode & 2) {
    limits.json.max_depth = 4;
    limits.json.max_document_bytes = 32 << 10;
    limits.max_inputs = 2;
    limits.max_outputs = 2;
  }
  const std::uint64_t request_bound = infer_request_bytes(body, json_bytes, limits);
  InferRequest request;
  {
    brulee::fuzz::HeapPeak heap;
    try {
      request = parse_infer_request(body, json_bytes, limits);
    } catch (const brulee::UsageError&) {
      heap.expect_at_most(request_bound, "parse_infer_request (refused)");
      return 0;
    }
    heap.expect_at_most(request_bound, "parse_infer_request");
  }
  const std::vector<brulee::runtime::Tensor> outputs = request.inputs;
  const nlohmann::json parameters{{"hit", true}, {"exec_s", 0.5}};
  // The model name is raw bytes of the input (any byte, not UTF-8): escaping is fuzzed too.
  const std::string model(body.substr(0, 24));
  try {
    const std::uint64_t response_bound =
        infer_response_bytes(model, "1", request, outputs, parameters);
    const EncodedResponse encoded = encode_infer_response(model, "1", request, outputs, parameters);
    if (encoded.body.size() > response_bound) fail("response larger than infer_response_bytes");
    const std::string_view json_part =
        std::string_view(encoded.body).substr(0, encoded.json_bytes.value_or(encoded.body.size()));
    if (!nlohmann::json::accept(json_part)) fail("response JSON does not parse");
  } catch (const brulee::UsageError&) {
    // a requested output that is not among the inputs' names
  }
  return 0;
}
