#include "sim/flow_bound.hpp"

#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
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
__extension__ using Wide = unsigned __int128;  // products of two 64-bit quantities

// Range add and range maximum over the chain arcs' kept bytes minus their capacity: an interval
// fits beside the kept ones where the maximum over the arcs it spans, plus its size, is <= 0.
// Lazy without pushing down: a node's maximum counts its own additions, not its ancestors'.
class SlackTree {
 public:
  explicit SlackTree(const std::vector<std::int64_t>& values)
      : size_(values.size()), max_(4 * size_), add_(4 * size_, 0) {
    build(1, 0, size_ - 1, values);
  }
  void add(std::size_t lo, std::size_t hi, std::int64_t delta) {
    add(1, 0, size_ - 1, lo, hi, delta);
  }
  std::int64_t max(std::size_t lo, std::size_t hi) const { return max(1, 0, size_ - 1, lo, hi); }

 private:
  void build(std::size_t node, std::size_t l, std::size_t r,
             const std::vector<std::int64_t>& values) {
    if (l == r) {
      max_[node] = values[l];
      return;
    }
    const std::size_t mid = l + (r - l) / 2;
    build(2 * node, l, mid, values);
    build(2 * node + 1, mid + 1, r, values);
    max_[node] = std::max(max_[2 * node], max_[2 * node + 1]);
  }
  void add(std::size_t node, std::size_t l, std::size_t r, std::size_t lo, std::size_t hi,
           std::int64_t delta) {
    if (hi < l || r < lo) return;
    if (lo <= l && r <= hi) {
      max_[node] += delta;
      add_[node] += delta;
      return;
    }
    const std::size_t mid = l + (r - l) / 2;
    add(2 * node, l, mid, lo, hi, delta);
    add(2 * node + 1, mid + 1, r, lo, hi, delta);
    max_[node] = std::max(max_[2 * node], max_[2 * node + 1]) + add_[node];
  }
  std::int64_t max(std::size_t node, std::size_t l, std::size_t r, std::size_t lo,
                   std::size_t hi) const {
    if (lo <= l && r <= hi) return max_[node];
    const std::size_t mid = l + (r - l) / 2;
    std::int64_t best = std::numeric_limits<std::int64_t>::min() / 2;
    if (lo <= mid) best = max(2 * node, l, mid, lo, hi);
    if (hi > mid) best = std::max(best, max(2 * node + 1, mid + 1, r, lo, hi));
    return best + add_[node];
  }
  std::size_t size_;
  std::vector<std::int64_t> max_;
  std::vector<std::int64_t> add_;
};

}  // namespace

FlowBound::FlowBound(const ModelTable& models, const CompactTrace& trace) {
  const std::size_t n = trace.size();
  if (n > kMaxFlowBoundRequests) {
    throw UsageError("the flow bound handles at most " + std::to_string(kMaxFlowBoundRequests) +
                     " requests; this trace has " + std::to_string(n) + " (use --bound interval)");
  }
  if (trace.next_use.size() != n) throw std::logic_error("FlowBound: trace.next_use is not filled");
  requests_ = n;
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
    if (spans(i)) {
      bypasses_.push_back(
          {node_of[i + 1], node_of[next[i]], model[i], static_cast<std::uint32_t>(i), next[i]});
    }
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

FlowBoundResult FlowBound::solve(std::uint64_t total_memory_bytes,
                                 std::vector<std::uint8_t>* schedule_hits) const {
  FlowBoundResult result;
  result.bound_s = compulsory_cost_s_;
  result.schedule_s = compulsory_cost_s_;
  if (schedule_hits) schedule_hits->assign(requests_, 0);
  if (bypasses_.empty()) return result;
  // Far more memory than any model needs changes nothing; keep the numbers small.
  const std::uint64_t memory = std::min<std::uint64_t>(total_memory_bytes, 1ULL << 62);
  // The solver's graph is gone before the schedule's tree is built: the peak stays the solver's.
  const std::vector<std::int64_t> bypass_flow = solve_flow(memory, result);
  result.schedule_s = schedule_cost_s(memory, bypass_flow, schedule_hits);
  return result;
}

std::vector<std::int64_t> FlowBound::solve_flow(std::uint64_t memory,
                                                FlowBoundResult& result) const {
  const int nodes = static_cast<int>(node_count_);
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
  std::vector<std::int64_t> bypass_flow(bypasses_.size());
  int arc = 0;
  std::size_t b = 0;
  for (int a = 0; a < nodes; ++a) {
    if (a + 1 < nodes) ++arc;
    if (b < bypasses_.size() && bypasses_[b].from == static_cast<std::uint32_t>(a)) {
      const ModelId m = bypasses_[b].model;
      const std::int64_t flow = solver.flow(Graph::arc(arc++));
      bypass_flow[b++] = flow;
      if (flow == 0) continue;
      rounded += static_cast<long double>(flow) * static_cast<long double>(unit_cost_[m]);
      exact +=
          static_cast<long double>(flow) * cost_s_[m] / static_cast<long double>(size_bytes_[m]);
    }
  }
  const long double flow_cost = rounded / scale_;
  result.bound_s = static_cast<double>(static_cast<long double>(compulsory_cost_s_) + flow_cost);
  result.rounding_gap_s = static_cast<double>(std::max(0.0L, exact - flow_cost));
  return bypass_flow;
}

// Two schedules, the cheaper kept (their cost bounds the optimum from above):
//  - the LP's rounding: every interval the LP keeps whole (flow 0; they fit together, since the
//    chain arcs carried them all), then the others in the order of how much of them the LP kept
//    (ties: the higher cost per byte first), each wherever it still fits;
//  - without the LP: every interval by its cost per byte and per request from its first to its
//    second (second - first: the requests it spans, plus one), the highest
//    first (cremebrulee-oracle's utility, with the whole future), each wherever it still fits.
// Either is a demand-loading schedule: every request is served from memory that holds its
// model (C - its size, on every arc), and a model is loaded only at a request whose interval
// was not kept. On the paper catalog neither is better everywhere (docs/simulator.md).
double FlowBound::schedule_cost_s(std::uint64_t memory,
                                  const std::vector<std::int64_t>& bypass_flow,
                                  std::vector<std::uint8_t>* schedule_hits) const {
  std::vector<std::uint32_t> order(bypasses_.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) {
    // flow / size ascending (the most kept first), without division.
    const Wide lhs = static_cast<Wide>(bypass_flow[x]) * size_bytes_[bypasses_[y].model];
    const Wide rhs = static_cast<Wide>(bypass_flow[y]) * size_bytes_[bypasses_[x].model];
    if (lhs != rhs) return lhs < rhs;
    const std::int64_t cx = unit_cost_[bypasses_[x].model];
    const std::int64_t cy = unit_cost_[bypasses_[y].model];
    return cx != cy ? cx > cy : x < y;
  });
  std::vector<std::uint8_t> kept;
  const long double rounded = greedy_cost_s(memory, order, kept);
  const auto density = [&](std::uint32_t b) {
    const Bypass& bypass = bypasses_[b];
    return cost_s_[bypass.model] / (static_cast<long double>(size_bytes_[bypass.model]) *
                                    static_cast<long double>(bypass.second - bypass.first));
  };
  std::sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) {
    const long double dx = density(x);
    const long double dy = density(y);
    return dx != dy ? dx > dy : x < y;
  });
  std::vector<std::uint8_t> kept_by_density;
  const long double by_density = greedy_cost_s(memory, order, kept_by_density);
  const bool density_better = by_density < rounded;
  if (schedule_hits) {
    const std::vector<std::uint8_t>& chosen = density_better ? kept_by_density : kept;
    for (std::size_t b = 0; b < bypasses_.size(); ++b) {
      if (chosen[b]) (*schedule_hits)[bypasses_[b].second] = 1;
    }
  }
  return static_cast<double>(static_cast<long double>(compulsory_cost_s_) +
                             (density_better ? by_density : rounded));
}

long double FlowBound::greedy_cost_s(std::uint64_t memory, const std::vector<std::uint32_t>& order,
                                     std::vector<std::uint8_t>& kept) const {
  std::vector<std::int64_t> slack(chain_largest_.size());
  for (std::size_t a = 0; a < slack.size(); ++a) {
    const std::uint64_t largest = chain_largest_[a];
    slack[a] = -static_cast<std::int64_t>(memory > largest ? memory - largest : 0);
  }
  SlackTree tree(slack);  // a bypass joins two distinct nodes, so there is at least one arc
  kept.assign(bypasses_.size(), 0);
  long double missed = 0.0L;
  for (const std::uint32_t b : order) {
    const Bypass& bypass = bypasses_[b];
    const auto size = static_cast<std::int64_t>(size_bytes_[bypass.model]);
    if (tree.max(bypass.from, bypass.to - 1) + size <= 0) {
      tree.add(bypass.from, bypass.to - 1, size);
      kept[b] = 1;
    } else {
      missed += cost_s_[bypass.model];
    }
  }
  return missed;
}

}  // namespace brulee::sim
