#include "sim/compact_trace.hpp"

#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/next_use.hpp"
#include "workload/trace.hpp"

namespace brulee::sim {

void compute_next_use(CompactTrace& trace, std::size_t model_count) {
  const std::size_t n = trace.size();
  if (n > kMaxTraceRequests) {
    throw UsageError("trace has " + std::to_string(n) + " requests; the simulator handles at most " +
                     std::to_string(kMaxTraceRequests));
  }
  trace.next_use.resize(n);
  fill_next_use<std::uint32_t>(trace.model, model_count, trace.next_use, kNoNextUse);
}

void validate_trace(const CompactTrace& trace, std::size_t model_count, const std::string& source) {
  if (trace.time_s.size() != trace.model.size()) {
    throw InputError(source, 0, "time and model columns differ in length");
  }
  double previous_s = -INFINITY;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const double time_s = trace.time_s[i];
    if (!std::isfinite(time_s) || time_s < 0) {
      throw InputError(source, 0, "request " + std::to_string(i) + ": time " +
                                      std::to_string(time_s) + " is not a finite time >= 0");
    }
    if (time_s < previous_s) {
      throw InputError(source, 0, "request " + std::to_string(i) + ": time " +
                                      std::to_string(time_s) + " is before the previous request's");
    }
    previous_s = time_s;
    if (trace.model[i] >= model_count) {
      throw InputError(source, 0, "request " + std::to_string(i) + ": model id " +
                                      std::to_string(trace.model[i]) + " is not in the catalog");
    }
  }
}

CompactTrace load_trace(const std::string& path, const ModelTable& models, bool with_next_use) {
  workload::TraceReader reader(path);
  CompactTrace trace;
  if (reader.size_hint() > kMaxTraceRequests) {
    throw InputError(path, 0, "trace has " + std::to_string(reader.size_hint()) +
                                  " requests; the simulator handles at most " +
                                  std::to_string(kMaxTraceRequests));
  }
  if (reader.size_hint() > 0) {
    const auto n = static_cast<std::size_t>(reader.size_hint());
    trace.model.reserve(n);
    trace.time_s.reserve(n);
  }
  // Catalog ids by name; trace ids are mapped lazily (CSV traces name models as they appear).
  std::unordered_map<std::string, ModelId> by_name;
  by_name.reserve(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) by_name.emplace(models[m].name, static_cast<ModelId>(m));
  std::vector<ModelId> to_catalog;
  std::vector<workload::TraceRecord> block(1 << 16);
  double previous_s = -INFINITY;
  for (;;) {
    const std::size_t got = reader.read(block);
    if (got == 0) break;
    const auto& names = reader.model_names();
    while (to_catalog.size() < names.size()) {
      const std::string& name = names[to_catalog.size()];
      const auto found = by_name.find(name);
      to_catalog.push_back(found == by_name.end() ? kNoModel : found->second);
    }
    for (std::size_t r = 0; r < got; ++r) {
      const workload::TraceRecord& record = block[r];
      const std::size_t index = trace.size();
      if (record.model >= to_catalog.size()) {
        throw InputError(path, 0, "request " + std::to_string(index) + ": model id " +
                                      std::to_string(record.model) + " is not in the trace's table");
      }
      const ModelId model = to_catalog[record.model];
      if (model == kNoModel) {
        throw InputError(path, 0, "request " + std::to_string(index) + ": model '" +
                                      names[record.model] + "' is not in the catalog");
      }
      if (!std::isfinite(record.time_s) || record.time_s < previous_s) {
        throw InputError(path, 0, "request " + std::to_string(index) +
                                      ": time is not finite or goes backwards");
      }
      previous_s = record.time_s;
      if (index >= kMaxTraceRequests) {
        throw InputError(path, 0, "more than " + std::to_string(kMaxTraceRequests) +
                                      " requests; the simulator cannot index them");
      }
      trace.push_back(model, record.time_s);
    }
  }
  if (trace.size() == 0) throw InputError(path, 0, "the trace holds no requests");
  if (with_next_use) compute_next_use(trace, models.size());
  return trace;
}

}  // namespace brulee::sim
