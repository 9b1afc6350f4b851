// Model catalogs (workload/catalog.hpp), as `--catalog FILE` reads them: JSON (either schema)
// and the paper's profile CSV.
// - parse_catalog_json and parse_paper_csv end every input in a catalog or an InputError /
//   UsageError (nothing else escapes, no sanitizer report);
// - a catalog they accept is one the simulator can use: unique names that the index maps back,
//   finite non-negative latencies, sizes > 0, one percentile map and one interference record per
//   model;
// - the simple JSON reader (no document) declines the input, or gives the document reader's
//   catalog, bit for bit; it never accepts what the document reader rejects.
// Input layout: byte 0 = which parser (bit 0: 0 = JSON, 1 = paper CSV), then the text.
#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "check.hpp"
#include "core/error.hpp"
#include "workload/catalog.hpp"

using namespace brulee;
using brulee::fuzz::fail;

namespace {

bool finite_non_negative(double value) { return std::isfinite(value) && value >= 0; }

void check(const workload::Catalog& catalog) {
  if (catalog.index.size() != catalog.models.size()) fail("index and models differ in size");
  for (ModelId id = 0; id < catalog.models.size(); ++id) {
    const ModelInfo& model = catalog.models[id];
    const auto it = catalog.index.find(model.name);
    if (it == catalog.index.end() || it->second != id) fail("a model's name does not index it");
    if (model.size_bytes == 0) fail("a model of size 0");
    if (!finite_non_negative(model.load_latency_s) || !finite_non_negative(model.exec_latency_s) ||
        !finite_non_negative(model.unload_latency_s)) {
      fail("a latency that is negative or not finite");
    }
  }
  if (!catalog.percentiles.empty() && catalog.percentiles.size() != catalog.models.size()) {
    fail("percentiles not one per model");
  }
  if (!catalog.interference.empty() && catalog.interference.size() != catalog.models.size()) {
    fail("interference not one per model");
  }
}

void check_same(const workload::Catalog& simple, const workload::Catalog& document) {
  if (simple.models.size() != document.models.size()) fail("simple reader: other model count");
  for (ModelId id = 0; id < simple.models.size(); ++id) {
    const ModelInfo& a = simple.models[id];
    const ModelInfo& b = document.models[id];
    if (a.name != b.name || a.size_bytes != b.size_bytes ||
        std::bit_cast<std::uint64_t>(a.load_latency_s) !=
            std::bit_cast<std::uint64_t>(b.load_latency_s) ||
        std::bit_cast<std::uint64_t>(a.exec_latency_s) !=
            std::bit_cast<std::uint64_t>(b.exec_latency_s) ||
        std::bit_cast<std::uint64_t>(a.unload_latency_s) !=
            std::bit_cast<std::uint64_t>(b.unload_latency_s)) {
      fail("simple reader: another model than the document reader's");
    }
  }
  if (simple.index != document.index) fail("simple reader: another index");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool paper = data[0] & 1;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!paper) {
    const auto simple = workload::detail::parse_simple_catalog_json(text);  // never throws
    if (simple) {
      check(*simple);
      try {
        check_same(*simple, workload::detail::parse_catalog_json_document(text, "fuzz.json"));
      } catch (const UsageError&) {
        fail("simple reader: accepted what the document reader rejects");
      }
    }
  }
  try {
    check(paper ? workload::parse_paper_csv(text, "fuzz.csv")
                : workload::parse_catalog_json(text, "fuzz.json"));
  } catch (const InputError&) {
  } catch (const UsageError&) {
  }
  return 0;
}
