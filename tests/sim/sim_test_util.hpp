#pragma once
// Helpers shared by the simulator tests: tiny catalogs and traces built in memory.
#include <string>
#include <utility>
#include <vector>

#include "core/model_info.hpp"
#include "sim/compact_trace.hpp"
#include "sim/simulator.hpp"

namespace brulee::sim::testing {

inline ModelInfo model(std::string name, std::uint64_t size_bytes, double load_s, double exec_s,
                       double unload_s = 0.0) {
  return ModelInfo{std::move(name), size_bytes, load_s, exec_s, unload_s};
}

// (time, model) pairs -> a compact trace with next_use filled.
inline CompactTrace make_trace(const std::vector<std::pair<double, ModelId>>& requests,
                               std::size_t model_count) {
  CompactTrace trace;
  for (auto [time_s, id] : requests) trace.push_back(id, time_s);
  compute_next_use(trace, model_count);
  return trace;
}

// Models only, arrivals one second apart.
inline CompactTrace make_trace(const std::vector<ModelId>& models, std::size_t model_count) {
  CompactTrace trace;
  for (std::size_t i = 0; i < models.size(); ++i)
    trace.push_back(models[i], static_cast<double>(i));
  compute_next_use(trace, model_count);
  return trace;
}

class CollectingSink final : public OutcomeSink {
 public:
  void on_outcome(const RequestOutcome& outcome) override { outcomes.push_back(outcome); }
  std::vector<RequestOutcome> outcomes;
};

inline SimConfig config(const std::string& policy, std::uint64_t memory_bytes, bool queueing) {
  SimConfig c;
  c.policy = policy;
  c.memory_bytes = memory_bytes;
  c.queueing = queueing;
  return c;
}

}  // namespace brulee::sim::testing
