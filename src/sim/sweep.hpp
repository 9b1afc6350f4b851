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
  bool bound = true;                        // compute the offline lower bound per memory size
};

// Runs every (policy, memory) pair; result k is policy k / memory_bytes.size(), memory k % size.
// Exceptions of a run are rethrown (the first one, in run order) after all threads stop.
std::vector<SimSummary> run_sweep(const ModelTable& models, const CompactTrace& trace,
                                  const SweepSpec& spec);

}  // namespace brulee::sim
