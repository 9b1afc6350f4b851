#pragma once
// A lower bound on the total load cost that ANY demand-loading policy can achieve on a trace with
// a given memory: the interval relaxation behind FOO / PFOO-L (Berger, Beckmann and
// Harchol-Balter, SIGMETRICS 2018), solved exactly as a fractional knapsack.
//
// Every request i of model m whose next request is j (a "reuse interval") is a hit at j only if m
// stays resident over the j - i request steps in between, occupying size(m) bytes at each step;
// keeping it saves load_cost(m). At every step the resident bytes are at most the memory C, so
// the kept intervals use at most C x N byte-steps in total (N = trace length). Dropping the
// per-step constraint and keeping only this total, and letting intervals be kept fractionally,
// can only enlarge the set of feasible choices, so its optimum saving is at least any policy's
// saving, and
//   bound = compulsory cost (first requests) + sum over intervals of cost - max fractional saving
// is at most any policy's cost. The fractional knapsack is solved by taking intervals by saving
// per byte-step (cost / (size x length)), the last one fractionally. docs/simulator.md.
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"
#include "sim/compact_trace.hpp"

namespace brulee::sim {

class OfflineBound {
 public:
  // Sorts the trace's reuse intervals once (8 bytes per request, O(N log N)); `trace.next_use`
  // must be filled. Costs are the catalog's load latencies.
  OfflineBound(const ModelTable& models, const CompactTrace& trace);

  // Lower bound on the summed load latency of misses with `total_memory_bytes` of memory
  // (all workers together).
  double lower_bound_s(std::uint64_t total_memory_bytes) const;

  double compulsory_cost_s() const { return compulsory_cost_s_; }
  // The cost of a cache that keeps nothing (every request a miss).
  double no_cache_cost_s() const { return compulsory_cost_s_ + reuse_cost_s_; }

 private:
  struct Interval {
    std::uint32_t length;  // request steps the model must stay resident
    ModelId model;
  };
  std::vector<Interval> intervals_;  // by saving per byte-step, best first
  std::vector<double> cost_s_;       // per model
  std::vector<double> size_bytes_;   // per model
  std::uint64_t steps_ = 0;
  double compulsory_cost_s_ = 0.0;
  double reuse_cost_s_ = 0.0;
};

}  // namespace brulee::sim
