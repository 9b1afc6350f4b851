#pragma once
// Guarded parsing of JSON sent by clients. A linear, string-aware pre-scan measures the nesting
// depth and bounds the heap bytes nlohmann::json will hold while building the document, before
// any document is built: a body nested 100,000 deep is refused (no recursion over it), and a
// 32 MB body of empty objects (~1 GiB as a document) can be charged to a memory budget or
// refused by a per-request cap. Every refusal is a UsageError worded for a 400 answer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace brulee::serve {

// The deepest nesting scan_json tracks; JsonLimits::max_depth above it is treated as this.
inline constexpr std::size_t kJsonDepthCeiling = 256;

struct JsonLimits {
  std::size_t max_depth = 64;  // arrays/objects nested deeper: refused
  std::uint64_t max_document_bytes = std::uint64_t{256} << 20;  // hard cap on document_bytes
};

struct JsonScan {
  std::size_t depth = 0;  // deepest nesting of arrays and objects (top level = 1)
  bool too_deep = false;  // nesting went past the max_depth given; the scan stopped there
  // A NUL byte outside strings: nlohmann::json takes it for the end of the text and ignores the
  // rest, so parse_json refuses such text as invalid instead.
  bool nul_byte = false;
  // Upper bound of the heap bytes json::parse holds at its peak for this text (the document
  // plus the lexer's buffers), counted in glibc malloc chunks. For text that is not valid JSON
  // it bounds what the parser builds before it finds the error.
  std::uint64_t document_bytes = 0;
  std::uint64_t objects = 0;            // '{'
  std::uint64_t arrays = 0;             // '['
  std::uint64_t strings = 0;            // string values and object keys
  std::uint64_t scalars = 0;            // numbers, true, false, null
  std::uint64_t string_heap_bytes = 0;  // heap chunks of strings too long for std::string's buffer
  // With tensor_data: scalars of the request's tensor data (inputs[i].data), counted in scalars.
  std::uint64_t data_scalars = 0;
};

// Never throws, never allocates, reads each byte once. Stops at the first array or object
// nested deeper than max_depth (too_deep set, depth = max_depth + 1).
// tensor_data: the text is a KServe inference request whose tensor data (the value of "data" in
// each object of the top-level "inputs" array) is read straight into tensors, never into the
// document (kserve.cpp): each of its scalars is priced at 8 bytes (the widest element) and its
// arrays, objects and strings at nothing. Keys are matched on their raw bytes, so an escaped
// spelling of "inputs" or "data" is priced as a document, which only overstates.
JsonScan scan_json(std::string_view text, std::size_t max_depth = JsonLimits{}.max_depth,
                   bool tensor_data = false);

// Throws UsageError if the scan is too deep or its document_bytes exceeds the cap. `what` names
// the text in the message ("request body", "inference header").
void check_json_limits(const JsonScan& scan, const JsonLimits& limits, std::string_view what);

// scan_json + check_json_limits + json::parse. Throws UsageError ("<what> is not valid JSON").
nlohmann::json parse_json(std::string_view text, const JsonLimits& limits,
                          std::string_view what = "request body");

// Heap bytes glibc's malloc takes for a request of `bytes` (header, 16-byte rounding, minimum).
constexpr std::uint64_t malloc_chunk_bytes(std::uint64_t bytes) {
  const std::uint64_t chunk = (bytes + 8 + 15) & ~std::uint64_t{15};
  return chunk < 32 ? 32 : chunk;
}

}  // namespace brulee::serve
