// JSON pre-scan (json_limits.hpp) against nlohmann::json on arbitrary text:
// - the scan never reads out of bounds and never allocates;
// - for text the parser accepts, the scanned depth bounds the document's depth (equal but for
//   duplicate keys, whose earlier values the document drops);
// - the document_bytes estimate bounds the parser's peak heap, valid text or not;
// - parse_json accepts exactly what json::parse accepts within the limits.
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "core/error.hpp"
#include "serve/json_limits.hpp"

using nlohmann::json;
using namespace brulee::serve;
using brulee::fuzz::fail;

namespace {

std::size_t document_depth(const json& root) {  // iterative: no recursion over client data
  std::size_t deepest = 0;
  std::vector<std::pair<const json*, std::size_t>> stack{{&root, 0}};
  while (!stack.empty()) {
    const auto [node, depth] = stack.back();
    stack.pop_back();
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const json& child : *node) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  JsonScan scan;
  const auto scan_allocates = [&] {
    brulee::fuzz::HeapPeak heap;
    scan = scan_json(text);
    return heap.peak_bytes() > 0;
  };
  // The hooks count every thread's allocations, and libFuzzer's own thread allocated inside the
  // window once (the first input, empty, 2026-12-04): a second scan decides.
  if (scan_allocates() && scan_allocates()) fail("scan_json allocated");
  if (scan.too_deep) {
    try {
      (void)parse_json(text, JsonLimits{});
      fail("parse_json accepted text nested too deeply");
    } catch (const brulee::UsageError&) {
    }
    return 0;
  }
  json document;
  {
    brulee::fuzz::HeapPeak heap;
    document = json::parse(text.begin(), text.end(), nullptr, false);
    heap.expect_at_most(scan.document_bytes, "json::parse");
  }
  // nlohmann::json stops at a NUL byte outside strings; parse_json refuses such text.
  const bool valid = !document.is_discarded() && !scan.nul_byte;
  // A duplicate key keeps its last value: {"a": {"b": {}}, "a": []} scans 3 deep, holds 2.
  if (valid && document_depth(document) > scan.depth) fail("scanned depth < document depth");
  try {
    (void)parse_json(text, JsonLimits{});
    if (!valid) fail("parse_json accepted invalid JSON");
  } catch (const brulee::UsageError&) {
    if (valid && scan.document_bytes <= JsonLimits{}.max_document_bytes) {
      fail("parse_json refused valid JSON within the limits");
    }
  }
  return 0;
}
