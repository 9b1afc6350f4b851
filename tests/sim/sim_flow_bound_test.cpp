// The flow bound (FOO's min-cost flow, sim/flow_bound.hpp):
//  - never above the exact offline optimum, found by exhaustive search over every eviction
//    choice on hundreds of tiny random traces with random sizes and costs;
//  - never below the interval bound;
//  - never above any registered policy's load cost, on random traces, memory sizes and modes;
//  - equal to the optimum where the LP is integral (unit sizes: an interval matrix), on random
//    traces and on hand-made ones;
//  - its offline schedule (an upper bound on the optimum, built from the LP's solution) fits the
//    memory at every request, costs what it says, and is never below the optimum.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "core/policy.hpp"
#include "core/rng.hpp"
#include "sim/flow_bound.hpp"
#include "sim/offline_bound.hpp"
#include "sim/simulator.hpp"
#include "sim/sweep.hpp"
#include "sim_test_util.hpp"

using namespace brulee;
using namespace brulee::sim;
using namespace brulee::sim::testing;

namespace {

// The least total load cost of any demand-loading cache of `capacity` bytes: a search over
// every choice of what to keep at each miss. Keeping a model costs nothing until its room is
// needed, so evicting only at misses loses nothing; at a miss for m, any subset of the resident
// models that fits beside m may stay. Returns the best cost over all end states.
double exhaustive_optimum(const ModelTable& models, const CompactTrace& trace,
                          std::uint64_t capacity) {
  const auto bytes_of = [&](std::uint32_t mask) {
    std::uint64_t total = 0;
    for (std::uint32_t rest = mask; rest; rest &= rest - 1) {
      total += models[static_cast<std::size_t>(std::countr_zero(rest))].size_bytes;
    }
    return total;
  };
  std::map<std::uint32_t, double> states{{0u, 0.0}};
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const ModelId model = trace.model[i];
    const std::uint32_t bit = 1u << model;
    std::map<std::uint32_t, double> next;
    const auto relax = [&](std::uint32_t mask, double cost) {
      auto [it, inserted] = next.emplace(mask, cost);
      if (!inserted) it->second = std::min(it->second, cost);
    };
    for (const auto& [mask, cost] : states) {
      if (mask & bit) {
        relax(mask, cost);
        continue;
      }
      const double loaded = cost + models[model].load_latency_s;
      // Every subset of the resident models (submask enumeration, including the empty one).
      for (std::uint32_t keep = mask;; keep = (keep - 1) & mask) {
        if (bytes_of(keep) + models[model].size_bytes <= capacity) relax(keep | bit, loaded);
        if (keep == 0) break;
      }
    }
    states.swap(next);
  }
  double best = std::numeric_limits<double>::infinity();
  for (const auto& [mask, cost] : states) best = std::min(best, cost);
  return best;
}

// The load cost of the schedule FlowBound::solve flagged, checked request by request: a request
// is a hit when its model was requested just before, takes no memory, or was flagged (kept
// across the requests in between); at every request the requested model and every model kept
// across it must fit in `capacity`. Flags on anything but a reuse fail the test.
double checked_schedule_cost(const ModelTable& models, const CompactTrace& trace,
                             std::uint64_t capacity, const std::vector<std::uint8_t>& flags) {
  const std::size_t n = trace.size();
  EXPECT_EQ(flags.size(), n);
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> last(models.size(), kNone);
  std::vector<std::uint64_t> kept_bytes(n, 0);
  double cost = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    const ModelId m = trace.model[j];
    const std::size_t p = last[m];
    last[m] = j;
    if (flags[j]) {
      EXPECT_TRUE(p != kNone && p + 1 < j) << "a flag on request " << j << " that is no reuse";
    }
    const bool hit = p != kNone && (p + 1 == j || models[m].size_bytes == 0 || flags[j]);
    if (!hit) cost += models[m].load_latency_s;
    if (hit && p + 1 < j) {
      for (std::size_t k = p + 1; k < j; ++k) kept_bytes[k] += models[m].size_bytes;
    }
  }
  for (std::size_t k = 0; k < n; ++k) {
    EXPECT_LE(kept_bytes[k] + models[trace.model[k]].size_bytes, capacity) << "request " << k;
  }
  return cost;
}

struct TinyCase {
  ModelTable models;
  CompactTrace trace;
  std::uint64_t largest = 0;
  std::uint64_t footprint = 0;
};

// 2-6 models, 3-14 requests, skewed so that models repeat (and sometimes run back to back).
// unit_sizes: every model 1 byte (the LP is then integral).
TinyCase tiny_case(std::uint64_t seed, bool unit_sizes) {
  Rng rng(seed);
  TinyCase c;
  const std::size_t model_count = 2 + rng.below(5);
  for (std::size_t m = 0; m < model_count; ++m) {
    const std::uint64_t size = unit_sizes ? 1 : 1 + rng.below(9);
    // Costs from 0.25 to 8, some equal, so ties occur.
    const double load = 0.25 * static_cast<double>(1 + rng.below(32));
    c.models.push_back(model("m" + std::to_string(m), size, load, 0.1));
    c.largest = std::max(c.largest, size);
    c.footprint += size;
  }
  const std::size_t length = 3 + rng.below(12);
  std::vector<ModelId> requests;
  for (std::size_t i = 0; i < length; ++i) {
    if (!requests.empty() && rng.uniform() < 0.2) {
      requests.push_back(requests.back());  // back-to-back runs, which the solver collapses
    } else {
      requests.push_back(
          static_cast<ModelId>(std::min(rng.below(model_count), rng.below(model_count))));
    }
  }
  c.trace = make_trace(requests, model_count);
  return c;
}

constexpr double kTolerance = 1e-9;  // relative: the bound's arithmetic is long double

TEST(SimFlowBound, NeverAboveTheExhaustiveOptimumNorBelowTheIntervalBound) {
  int compared = 0;
  int strictly_above_interval = 0;
  int tight = 0;
  int schedule_optimal = 0;
  for (std::uint64_t seed = 1; seed <= 400; ++seed) {
    const TinyCase c = tiny_case(seed, false);
    const FlowBound flow(c.models, c.trace);
    const OfflineBound interval(c.models, c.trace);
    for (std::uint64_t capacity = c.largest; capacity <= c.footprint;
         capacity += 1 + c.footprint / 4) {
      const double optimum = exhaustive_optimum(c.models, c.trace, capacity);
      std::vector<std::uint8_t> flags;
      const FlowBoundResult result = flow.solve(capacity, &flags);
      const double loose = interval.lower_bound_s(capacity);
      // The schedule is a real one, so the optimum is at most its cost.
      EXPECT_NEAR(checked_schedule_cost(c.models, c.trace, capacity, flags), result.schedule_s,
                  kTolerance * result.schedule_s)
          << "seed " << seed << " C " << capacity;
      EXPECT_GE(result.schedule_s, optimum * (1 - kTolerance))
          << "seed " << seed << " C " << capacity;
      if (result.schedule_s <= optimum * (1 + kTolerance)) ++schedule_optimal;
      EXPECT_LE(result.bound_s, optimum * (1 + kTolerance)) << "seed " << seed << " C " << capacity;
      EXPECT_GE(result.bound_s, loose * (1 - kTolerance)) << "seed " << seed << " C " << capacity;
      EXPECT_GE(result.bound_s, flow.compulsory_cost_s() * (1 - kTolerance));
      // The rounding of costs to integers loses almost nothing.
      EXPECT_LE(result.rounding_gap_s, 1e-9 * std::max(1.0, result.bound_s));
      if (result.bound_s > loose * (1 + 1e-6)) ++strictly_above_interval;
      if (result.bound_s >= optimum * (1 - 1e-9)) ++tight;
      ++compared;
    }
  }
  EXPECT_GT(compared, 800);
  // Not a vacuous comparison: the flow bound is often strictly tighter.
  EXPECT_GT(strictly_above_interval, compared / 10);
  // With random sizes the LP is fractional at times (the bound strictly below the optimum),
  // but tight on most of these tiny traces.
  EXPECT_LT(tight, compared);
  EXPECT_GT(tight, compared / 2);
  // The schedule is the optimum in 1,021 of these 1,027 cases (the bound in 728): a regression
  // in either greedy pass shows here. (Not implied by the bound being tight: a tight LP can have
  // a fractional solution whose rounding is not optimal.)
  EXPECT_GT(schedule_optimal, compared * 99 / 100);
  std::printf(
      "flow bound: %d of %d tiny cases tight, %d strictly above the interval bound; "
      "its schedule optimal in %d\n",
      tight, compared, strictly_above_interval, schedule_optimal);
}

TEST(SimFlowBound, EqualsTheOptimumWhenSizesAreEqual) {
  // Unit sizes make the LP's constraint matrix an interval matrix (totally unimodular), so its
  // optimum is integral: the flow bound is the optimum itself, whatever the costs.
  int compared = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    const TinyCase c = tiny_case(1000 + seed, true);
    const FlowBound flow(c.models, c.trace);
    for (std::uint64_t capacity = 1; capacity < c.models.size(); ++capacity) {
      const double optimum = exhaustive_optimum(c.models, c.trace, capacity);
      const FlowBoundResult result = flow.solve(capacity);
      EXPECT_NEAR(result.bound_s, optimum, kTolerance * optimum)
          << "seed " << seed << " C " << capacity;
      // An integral LP keeps each interval whole or not at all: its schedule is the optimum.
      EXPECT_NEAR(result.schedule_s, optimum, kTolerance * optimum)
          << "seed " << seed << " C " << capacity;
      ++compared;
    }
  }
  EXPECT_GT(compared, 300);
}

TEST(SimFlowBound, HandMadeIntegralInstances) {
  // A B A with room for one: the interval bound lets A borrow B's byte-steps (bound 2); the
  // flow keeps every step within 1 byte, so A cannot stay over B: 3, the optimum.
  {
    const ModelTable models = {model("A", 1, 1.0, 0.1), model("B", 1, 1.0, 0.1)};
    const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0}, models.size());
    EXPECT_DOUBLE_EQ(OfflineBound(models, trace).lower_bound_s(1), 2.0);
    EXPECT_NEAR(FlowBound(models, trace).lower_bound_s(1), 3.0, 1e-12);
    EXPECT_NEAR(FlowBound(models, trace).lower_bound_s(2), 2.0, 1e-12);
  }
  // Sizes 2, 2, 4 with 4 bytes, A B A B C A B, costs A 1, B 3, C 5. A and B fit together,
  // but C needs all 4 bytes while it is served, so both A and B reload after it: the optimum
  // is 1 + 3 + 5 + 1 + 3 = 13. FOO's original flow (a miss may skip the cache, so C takes no
  // room) would keep A and B over C and give 9.
  {
    const ModelTable models = {model("A", 2, 1.0, 0.1), model("B", 2, 3.0, 0.1),
                               model("C", 4, 5.0, 0.1)};
    const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 1, 2, 0, 1}, models.size());
    const double optimum = exhaustive_optimum(models, trace, 4);
    EXPECT_DOUBLE_EQ(optimum, 1 + 3 + 5 + 1 + 3);
    EXPECT_NEAR(FlowBound(models, trace).lower_bound_s(4), optimum, 1e-12);
  }
  // Runs of one model collapse into one arc in the solver; the result must not change.
  // A A A B B A A C C C A with one unit: optimum = every switch reloads.
  {
    const ModelTable models = {model("A", 1, 2.0, 0.1), model("B", 1, 1.0, 0.1),
                               model("C", 1, 4.0, 0.1)};
    const CompactTrace trace =
        make_trace(std::vector<ModelId>{0, 0, 0, 1, 1, 0, 0, 2, 2, 2, 0}, models.size());
    const double optimum = exhaustive_optimum(models, trace, 1);
    EXPECT_DOUBLE_EQ(optimum, 2 + 1 + 2 + 4 + 2);
    EXPECT_NEAR(FlowBound(models, trace).lower_bound_s(1), optimum, 1e-12);
    // With 2 units A stays throughout: A, B, C once each.
    EXPECT_NEAR(FlowBound(models, trace).lower_bound_s(2), 2 + 1 + 4, 1e-12);
  }
}

TEST(SimFlowBound, ModelsOfSizeZeroAddOnlyTheirFirstLoad) {
  // Z takes no memory: its requests constrain nothing, and it loads once.
  const ModelTable models = {model("A", 2, 1.5, 0.1), model("B", 3, 2.5, 0.1),
                             model("Z", 0, 7.0, 0.1)};
  const CompactTrace with = make_trace(std::vector<ModelId>{0, 2, 1, 2, 0, 2, 1, 0}, 3);
  const CompactTrace without = make_trace(std::vector<ModelId>{0, 1, 0, 1, 0}, 3);
  for (std::uint64_t capacity : {3, 4, 5}) {
    EXPECT_NEAR(FlowBound(models, with).lower_bound_s(capacity),
                FlowBound(models, without).lower_bound_s(capacity) + 7.0, 1e-12)
        << capacity;
  }
}

// Random catalogs and traces (up to 350 requests, 15 models) like the interval bound's test.
TEST(SimFlowBound, NeverAboveAnyPolicyInAnyMode) {
  int checked = 0;
  for (std::uint64_t seed = 1; seed <= 25; ++seed) {
    Rng rng(seed);
    ModelTable models;
    std::uint64_t footprint = 0, largest = 0;
    const std::size_t model_count = 3 + rng.below(12);
    for (std::size_t m = 0; m < model_count; ++m) {
      const std::uint64_t size = 1 + rng.below(50);
      models.push_back(model("m" + std::to_string(m), size, 0.1 + rng.uniform() * 10,
                             0.05 + rng.uniform(), 0.01));
      footprint += size;
      largest = std::max(largest, size);
    }
    std::vector<std::pair<double, ModelId>> requests;
    double time_s = 0;
    const std::size_t length = 50 + rng.below(300);
    for (std::size_t i = 0; i < length; ++i) {
      time_s += rng.exponential(2.0);
      requests.emplace_back(
          time_s, static_cast<ModelId>(std::min(rng.below(model_count), rng.below(model_count))));
    }
    const CompactTrace trace = make_trace(requests, models.size());
    const FlowBound flow(models, trace);
    const OfflineBound interval(models, trace);
    for (double fraction : {0.15, 0.3, 0.6}) {
      const std::uint64_t memory =
          std::max(largest, static_cast<std::uint64_t>(fraction * static_cast<double>(footprint)));
      for (std::uint32_t workers : {1u, 2u}) {
        std::vector<std::uint8_t> flags;
        const FlowBoundResult result = flow.solve(memory * workers, &flags);
        const double lower = result.bound_s;
        EXPECT_GE(lower, interval.lower_bound_s(memory * workers) * (1 - kTolerance));
        EXPECT_GE(result.schedule_s, lower * (1 - kTolerance));
        EXPECT_NEAR(checked_schedule_cost(models, trace, memory * workers, flags),
                    result.schedule_s, kTolerance * result.schedule_s)
            << "seed " << seed << " memory " << memory << " workers " << workers;
        for (const auto& factory : policy_factories()) {
          for (bool queueing : {false, true}) {
            if (workers == 2 && !queueing) continue;
            SimConfig config;
            config.policy = factory.name;
            config.memory_bytes = memory;
            config.queueing = queueing;
            config.workers = workers;
            config.seed = seed;
            const SimSummary s = simulate(models, trace, config);
            EXPECT_LE(lower, s.load_cost_s * (1 + kTolerance))
                << factory.name << " seed " << seed << " memory " << memory << " workers "
                << workers << (queueing ? " queueing" : " pure cache");
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 2000);
}

TEST(SimFlowBound, SweepFillsTheBoundItNames) {
  const TinyCase c = tiny_case(7, false);
  SweepSpec spec;
  spec.policies = {"lru", "belady"};
  spec.memory_bytes = {c.largest, c.footprint};
  spec.base.queueing = false;
  spec.threads = 2;
  for (BoundKind kind : {BoundKind::kFlow, BoundKind::kInterval, BoundKind::kNone}) {
    spec.bound = kind;
    const std::vector<SimSummary> results = run_sweep(c.models, c.trace, spec);
    ASSERT_EQ(results.size(), 4u);
    for (const SimSummary& s : results) {
      EXPECT_EQ(s.bound, kind);
      const BoundValue expected = compute_bound(kind, c.models, c.trace, s.memory_bytes);
      EXPECT_EQ(s.bound_load_cost_s, expected.lower_s) << bound_name(kind);
      EXPECT_EQ(s.schedule_load_cost_s, expected.schedule_s) << bound_name(kind);
      if (kind == BoundKind::kFlow) {
        EXPECT_GE(s.schedule_load_cost_s, s.bound_load_cost_s);
      } else {
        EXPECT_LT(s.schedule_load_cost_s, 0);
      }
    }
  }
}

TEST(SimFlowBound, DefaultIsFlowForSmallTracesOnly) {
  EXPECT_EQ(default_bound(1000), BoundKind::kFlow);
  EXPECT_EQ(default_bound(kFlowBoundDefaultMaxRequests), BoundKind::kFlow);
  EXPECT_EQ(default_bound(kFlowBoundDefaultMaxRequests + 1), BoundKind::kInterval);
  EXPECT_EQ(parse_bound("flow"), BoundKind::kFlow);
  EXPECT_EQ(parse_bound("interval"), BoundKind::kInterval);
  EXPECT_EQ(parse_bound("none"), BoundKind::kNone);
  EXPECT_THROW(parse_bound("foo"), UsageError);
}

}  // namespace
