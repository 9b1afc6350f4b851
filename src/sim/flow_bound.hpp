#pragma once
// A lower bound on the total load cost of ANY demand-loading policy: the min-cost flow of
// FOO (Berger, Beckmann and Harchol-Balter, "Practical Bounds on Optimal Caching with Variable
// Object Sizes", SIGMETRICS 2018), whose value is the LP relaxation of offline caching with
// variable sizes and costs, adapted to demand loading. docs/simulator.md ("The flow bound").
//
// A reuse interval (request i of model m, next request j) is a hit at j only if m stays resident
// over the requests i+1 .. j-1 in between; keeping it saves load_cost(m). A model must be
// resident while it is requested, so at request k the kept intervals that span k (i < k < j)
// hold at most C - size(model of k) bytes (C: the memory, all workers together). The LP keeps
// each interval fractionally, x in [0, 1], under these constraints, minimising the cost of what
// is not kept. Each interval covers consecutive requests, so the constraint matrix is an
// interval matrix (totally unimodular) and the LP is a min-cost flow:
//   - the "central path" has one arc per request k, capacity C - size(k), cost 0;
//   - an interval enters the path after request i and leaves it before request j: supply
//     size(m) at the boundary after i, demand size(m) at the boundary before j, and a bypass
//     arc between the two with capacity size(m) and cost load_cost(m) / size(m) per byte: bytes
//     that take the bypass are not kept, and are reloaded.
// Every policy's hits are a feasible flow of the same cost, so
//   bound = compulsory cost (first requests) + min-cost flow <= any policy's load cost.
// An interval with j = i + 1 spans no request: it is always a hit (no arc). FOO (the paper)
// lets a miss skip the cache and so charges only the gaps between requests (capacity C); here a
// model must be loaded to be served, which makes the bound tighter (with unit sizes the LP is
// integral and the bound is the optimum). It is never below the interval bound
// (offline_bound.hpp), which keeps only the sum of these constraints.
//
// Integer arithmetic: LEMON's network simplex needs integer costs. Flows are exact bytes; the
// cost per byte of model m is floor(K x load_cost(m) / size(m)) with one scale K per trace,
// rounded down, so the computed minimum is at most the real LP's: the bound stays valid, and
// K is as large as 64-bit potentials allow (the loss is reported as `rounding_gap_s`).
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"
#include "sim/compact_trace.hpp"

namespace brulee::sim {

// The largest trace the flow bound accepts (LEMON indexes arcs with int).
inline constexpr std::uint64_t kMaxFlowBoundRequests = (1ULL << 30) - 1;

struct FlowBoundResult {
  double bound_s = 0.0;  // the lower bound: compulsory + min-cost flow with costs rounded down
  // The same flow priced with the exact costs, minus bound_s: the real LP optimum lies in
  // [bound_s, bound_s + rounding_gap_s]. Tiny (the scale K is chosen for it).
  double rounding_gap_s = 0.0;
  // An upper bound on the optimum with the memory as one pool: the load cost of the cheaper of
  // two offline schedules, one rounded from the LP's solution, one greedy (flow_bound.cpp,
  // schedule_cost_s). With pooled memory the optimum lies in [bound_s, schedule_s], and their
  // ratio bounds how far the LP bound can be below it. Several workers split the memory, which
  // the schedule does not: their optimum can lie above schedule_s.
  double schedule_s = 0.0;
  std::uint64_t nodes = 0;  // of the solved graph (boundaries where an interval starts or ends)
  std::uint64_t arcs = 0;
};

class FlowBound {
 public:
  // Reads the trace once (trace.next_use must be filled) and keeps the graph's shape: about 28
  // bytes per interval that spans a request (its bypass, 20, and a chain arc's room, 8). Throws
  // UsageError above kMaxFlowBoundRequests.
  FlowBound(const ModelTable& models, const CompactTrace& trace);

  // Solves the min-cost flow for `total_memory_bytes` of memory (all workers together). Builds
  // its own graph and solver, so several calls may run at once on different threads. Memory
  // while it runs: about 200 bytes per node (docs/simulator.md). `schedule_hits`, if given,
  // gets one flag per request, set where the schedule of `schedule_s` keeps the model resident
  // from its previous request across others (reuses with nothing in between, and those of
  // models of size 0 or of no load cost, are left to the caller: they are never flagged).
  FlowBoundResult solve(std::uint64_t total_memory_bytes,
                        std::vector<std::uint8_t>* schedule_hits = nullptr) const;
  double lower_bound_s(std::uint64_t total_memory_bytes) const {
    return solve(total_memory_bytes).bound_s;
  }

  double compulsory_cost_s() const { return compulsory_cost_s_; }
  // The cost of a cache that keeps nothing (every request a miss).
  double no_cache_cost_s() const { return compulsory_cost_s_ + reuse_cost_s_; }

 private:
  // The graph, memory aside: nodes 0..node_count_-1 in trace order; chain arc a -> a+1 must
  // leave room for the largest model requested between the two boundaries.
  std::uint32_t node_count_ = 0;
  std::vector<std::uint64_t> chain_largest_;  // per chain arc (node_count_ - 1)
  struct Bypass {
    std::uint32_t from;  // node where the interval enters the path
    std::uint32_t to;    // node where it leaves
    ModelId model;
    std::uint32_t first;   // the interval's requests: the model is kept over those between
    std::uint32_t second;  // (and the second is a hit) if the interval is kept
  };
  std::vector<Bypass> bypasses_;  // by `from` (at most one per node)
  std::vector<double> cost_s_;    // per model: load cost
  std::vector<std::uint64_t> size_bytes_;
  std::vector<std::int64_t> unit_cost_;  // per model: scaled cost per byte
  long double scale_ = 1.0L;             // K: unit_cost = floor(K x cost / size)
  std::size_t requests_ = 0;             // of the trace (the length of schedule_hits)
  double compulsory_cost_s_ = 0.0;
  double reuse_cost_s_ = 0.0;
  // Solves the min-cost flow (fills result's bound, rounding gap and sizes); returns the flow on
  // each bypass arc (bytes of the interval not kept).
  std::vector<std::int64_t> solve_flow(std::uint64_t memory, FlowBoundResult& result) const;
  // The schedule's cost for the LP's flow on each bypass arc (FlowBoundResult::schedule_s).
  double schedule_cost_s(std::uint64_t memory, const std::vector<std::int64_t>& bypass_flow,
                         std::vector<std::uint8_t>* schedule_hits) const;
  // Keeps the bypasses in `order` wherever they still fit; returns the load cost of the others
  // and sets kept[b].
  long double greedy_cost_s(std::uint64_t memory, const std::vector<std::uint32_t>& order,
                            std::vector<std::uint8_t>& kept) const;
};

}  // namespace brulee::sim
