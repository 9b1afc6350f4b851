#pragma once
// Policies x memory sizes in one run, spread over a pool of threads. Each run has its own
// policy, caches and generator (seeded from the config), and results come back in a fixed order
// (policy-major), so the output does not depend on the thread count or on scheduling.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/simulator.hpp"

namespace brulee::sim {

struct SweepSpec {
  std::vector<std::string> policies;
  std::vector<std::uint64_t> memory_bytes;  // per worker
  SimConfig base;                           // policy and memory_bytes are overwritten per run
  unsigned threads = 0;                     // 0: std::thread::hardware_concurrency()
  BoundKind bound = BoundKind::kInterval;   // the offline lower bound per memory size, or none
};

// `--bound` names: "flow", "interval", "none". Throws UsageError on anything else.
BoundKind parse_bound(const std::string& text);
// Requests up to which the default bound is the flow bound (above it, the interval bound): one
// flow solve per memory size then takes at most about 20 s on this project's 2-core machine, a
// few seconds on 100k requests (docs/simulator.md, "The flow bound", has the measurements).
inline constexpr std::uint64_t kFlowBoundDefaultMaxRequests = 500'000;
BoundKind default_bound(std::uint64_t requests);

// What a bound says of the load cost with some memory: the lower bound (-1 for kNone), and for
// the flow bound the cost of an offline schedule, an upper bound on the optimum (else -1).
struct BoundValue {
  double lower_s = -1.0;
  double schedule_s = -1.0;
};
// The bound of `kind` with `total_memory_bytes` (all workers). trace.next_use must be filled
// unless kind is kNone.
BoundValue compute_bound(BoundKind kind, const ModelTable& models, const CompactTrace& trace,
                         std::uint64_t total_memory_bytes);

// Runs every (policy, memory) pair; result k is policy k / memory_bytes.size(), memory k % size.
// Exceptions of a run are rethrown (the first one, in run order) after all threads stop.
std::vector<SimSummary> run_sweep(const ModelTable& models, const CompactTrace& trace,
                                  const SweepSpec& spec);

}  // namespace brulee::sim
