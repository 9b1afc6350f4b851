#pragma once
// The model catalog: names, sizes and costs of the models a trace refers to (docs/formats.md).
// JSON in brulee's schema or the paper's; "paper" names the built-in catalog of the paper's 26
// measured models (AWS m5.large, CPU; size = Keras weights).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/interference.hpp"
#include "core/model_info.hpp"

namespace brulee::workload {

// What a model costs in memory beyond its resting size (docs/formats.md, "Memory fields"); 0 means
// not measured.
struct ModelMemory {
  std::uint64_t load_peak_bytes = 0;  // peak growth of the process during a load (incl. resting)
  std::uint64_t workspace_bytes = 0;  // peak growth during one inference of the loaded model
};

struct Catalog {
  ModelTable models;
  std::unordered_map<std::string, ModelId> index;  // name -> id
  // Optional latency percentiles per model (index = ModelId), e.g. "load_latency_p99_s".
  std::vector<std::map<std::string, double>> percentiles;
  // Per model (index = ModelId), the profiler's interference figures; all zero when the
  // catalog has none (exec_beside_load_s, load_beside_exec_s, first_exec_s).
  std::vector<ModelInterference> interference;
  // Per model (index = ModelId), the profiler's memory figures; all zero when absent.
  std::vector<ModelMemory> memory;

  std::optional<ModelId> find(const std::string& name) const;
  ModelId add(ModelInfo model);     // throws UsageError on a duplicate name
  void reserve(std::size_t count);  // room for `count` models
  std::uint64_t total_bytes() const;
};

// A path to a JSON catalog, or "paper". Throws InputError on bad content, UsageError if missing.
Catalog load_catalog(const std::string& path_or_builtin);
Catalog paper_catalog();
// `paper_fields` also writes avg_load_latency, avg_exec_latency, avg_unload_latency, loaded_size.
void write_catalog(const std::string& path, const Catalog& catalog, bool paper_fields = false);

// The paper's profile table (CSV: name,avg_load_latency_s,avg_exec_latency_s,
// avg_unload_latency_s,weights_mb[,...]); size = weights_mb * 1e6 bytes. `source` names it in
// errors.
Catalog parse_paper_csv(std::string_view text, const std::string& source);
// A catalog from JSON text (either schema); `source` names it in errors.
Catalog parse_catalog_json(std::string_view text, const std::string& source);

namespace detail {
// parse_catalog_json's two readers (exposed for tests and the fuzzer). The simple one reads only
// brulee's schema with plain names and numeric fields, without a JSON document, and declines
// (nullopt) anything else, never throwing on bad input; the document one reads everything and
// gives every error. Where the simple one gives a catalog, it is the document one's.
std::optional<Catalog> parse_simple_catalog_json(std::string_view text);
Catalog parse_catalog_json_document(std::string_view text, const std::string& source);
}  // namespace detail

}  // namespace brulee::workload
