#include "sim/flow_bound.hpp"

#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace brulee::sim {
namespace {

// LEMON's network simplex starts from potentials 0 and 2^62 (its artificial cost for int64) and
// moves them by sums of arc costs along tree paths. Keeping the sum of all arc costs below 2^58
// keeps every potential and reduced cost inside int64.
constexpr long double kCostBudget = 288230376151711744.0L;  // 2^58

using Graph = lemon::StaticDigraph;
using Solver = lemon::NetworkSimplex<Graph, std::int64_t, std::int64_t>;

}  // namespace

FlowBound::FlowBound(const ModelTable& models, const CompactTrace& trace) {
  const std::size_t n = trace.size();
  if (n > kMaxFlowBoundRequests) {
    throw UsageError("the flow bound handles at most " + std::to_string(kMaxFlowBoundRequests) +
                     " requests; this trace has " + std::to_string(n) + " (use --bound interval)");
  }
  if (trace.next_use.size() != n) throw std::logic_error("FlowBound: trace.next_use is not filled");
  const std::size_t model_count = models.size();
  cost_s_.resize(model_count);
  size_bytes_.resize(model_count);
  unit_cost_.assign(model_count, 0);
  std::vector<bool> in_flow(model_count);
  for (std::size_t m = 0; m < model_count; ++m) {
    cost_s_[m] = models[m].load_latency_s;
    size_bytes_[m] = models[m].size_bytes;
    // A model of size 0 keeps its intervals for free; one that costs nothing to load saves
    // nothing by being kept. Neither needs arcs (but the latter still takes room when loaded).
    in_flow[m] = size_bytes_[m] > 0 && cost_s_[m] > 0;
  }
  const ModelId* model = trace.model.data();
  const std::uint32_t* next = trace.next_use.data();
  // An interval in the flow: its model is in the flow and it spans at least one request.
  const auto spans = [&](std::size_t i) {
    return next[i] != kNoNextUse && next[i] > i + 1 && in_flow[model[i]];
  };
  // Boundary k lies between request k-1 and request k (0..n). Nodes: the boundaries where an
  // interval enters (after its first request) or leaves (before its second) the path.
  std::vector<std::uint32_t> node_of(n + 1, kNoNextUse);
  std::vector<bool> seen(model_count, false);
  long double density_sum = 0.0L;
  for (std::size_t i = 0; i < n; ++i) {
    const ModelId m = model[i];
    if (!seen[m]) {
      seen[m] = true;
      compulsory_cost_s_ += cost_s_[m];
    }
    if (next[i] != kNoNextUse && size_bytes_[m] > 0) reuse_cost_s_ += cost_s_[m];
    if (!spans(i)) continue;
    node_of[i + 1] = 0;
    node_of[next[i]] = 0;
    density_sum += cost_s_[m] / static_cast<long double>(size_bytes_[m]);
  }
  std::uint32_t nodes = 0;
  std::size_t first_boundary = 0;
  for (std::size_t k = 0; k <= n; ++k) {
    if (node_of[k] == kNoNextUse) continue;
    if (nodes == 0) first_boundary = k;
    node_of[k] = nodes++;
  }
  node_count_ = nodes;
  if (nodes == 0) return;
  // Chain arcs: the largest model requested between consecutive nodes.
  chain_largest_.reserve(nodes - 1);
  std::uint64_t largest = 0;
  for (std::size_t k = first_boundary; k < n; ++k) {
    largest = std::max(largest, size_bytes_[model[k]]);
    if (node_of[k + 1] != kNoNextUse) {
      chain_largest_.push_back(largest);
      largest = 0;
      if (chain_largest_.size() + 1 == nodes) break;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (spans(i)) bypasses_.push_back({node_of[i + 1], node_of[next[i]], model[i]});
  }
  // Scale K: the sum over bypass arcs of K x cost / size is the budget.
  scale_ = density_sum > 0 ? kCostBudget / density_sum : 1.0L;
  for (std::size_t m = 0; m < model_count; ++m) {
    if (!in_flow[m]) continue;
    const long double scaled =
        std::floor(scale_ * cost_s_[m] / static_cast<long double>(size_bytes_[m]));
    unit_cost_[m] = static_cast<std::int64_t>(scaled);
  }
}

FlowBoundResult FlowBound::solve(std::uint64_t total_memory_bytes) const {
  FlowBoundResult result;
  result.bound_s = compulsory_cost_s_;
  if (bypasses_.empty()) return result;
  const int nodes = static_cast<int>(node_count_);
  // Far more memory than any model needs changes nothing; keep the numbers small.
  const std::uint64_t memory = std::min<std::uint64_t>(total_memory_bytes, 1ULL << 62);
  // Arcs by source: node a -> a+1 (chain), then a's bypass if it has one. Arc ids follow.
  Graph graph;
  {
    std::vector<std::pair<int, int>> arcs;
    arcs.reserve(chain_largest_.size() + bypasses_.size());
    std::size_t b = 0;
    for (int a = 0; a < nodes; ++a) {
      if (a + 1 < nodes) arcs.emplace_back(a, a + 1);
      if (b < bypasses_.size() && bypasses_[b].from == static_cast<std::uint32_t>(a)) {
        arcs.emplace_back(a, static_cast<int>(bypasses_[b].to));
        ++b;
      }
    }
    graph.build(nodes, arcs.begin(), arcs.end());
  }
  result.nodes = node_count_;
  result.arcs = chain_largest_.size() + bypasses_.size();
  Solver solver(graph);
  {
    Graph::ArcMap<std::int64_t> upper(graph);
    Graph::ArcMap<std::int64_t> cost(graph, 0);
    Graph::NodeMap<std::int64_t> supply(graph, 0);
    int arc = 0;
    std::size_t b = 0;
    for (int a = 0; a < nodes; ++a) {
      if (a + 1 < nodes) {
        const std::uint64_t largest = chain_largest_[static_cast<std::size_t>(a)];
        upper[Graph::arc(arc++)] =
            static_cast<std::int64_t>(memory > largest ? memory - largest : 0);
      }
      if (b < bypasses_.size() && bypasses_[b].from == static_cast<std::uint32_t>(a)) {
        const Bypass& bypass = bypasses_[b++];
        const auto size = static_cast<std::int64_t>(size_bytes_[bypass.model]);
        upper[Graph::arc(arc)] = size;
        cost[Graph::arc(arc++)] = unit_cost_[bypass.model];
        supply[Graph::node(a)] += size;
        supply[Graph::node(static_cast<int>(bypass.to))] -= size;
      }
    }
    solver.upperMap(upper).costMap(cost).supplyMap(supply);
  }
  // The altering candidate list pivot rule solved these graphs (a long path with short chords)
  // 1.5-4x faster than block search, the default, or the candidate list (docs/simulator.md).
  if (solver.run(Solver::ALTERING_LIST) != Solver::OPTIMAL) {
    // Every supply can take its own bypass arc, so the problem is always feasible and bounded.
    throw std::logic_error("FlowBound: the min-cost flow has no optimum");
  }
  long double rounded = 0.0L;
  long double exact = 0.0L;
  int arc = 0;
  std::size_t b = 0;
  for (int a = 0; a < nodes; ++a) {
    if (a + 1 < nodes) ++arc;
    if (b < bypasses_.size() && bypasses_[b].from == static_cast<std::uint32_t>(a)) {
      const ModelId m = bypasses_[b++].model;
      const std::int64_t flow = solver.flow(Graph::arc(arc++));
      if (flow == 0) continue;
      rounded += static_cast<long double>(flow) * static_cast<long double>(unit_cost_[m]);
      exact +=
          static_cast<long double>(flow) * cost_s_[m] / static_cast<long double>(size_bytes_[m]);
    }
  }
  const long double flow_cost = rounded / scale_;
  result.bound_s = static_cast<double>(static_cast<long double>(compulsory_cost_s_) + flow_cost);
  result.rounding_gap_s = static_cast<double>(std::max(0.0L, exact - flow_cost));
  return result;
}

}  // namespace brulee::sim
