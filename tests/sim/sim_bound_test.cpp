// The offline lower bound (FOO-style interval relaxation) and Belady's optimality:
//  - hand-computed bounds on tiny traces;
//  - the bound never exceeds the load cost of any policy, in any mode (property, random traces);
//  - Belady with uniform sizes and costs equals a brute-force optimum on small random traces.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <map>

#include "core/policy.hpp"
#include "core/rng.hpp"
#include "sim/offline_bound.hpp"
#include "sim/simulator.hpp"
#include "sim_test_util.hpp"

using namespace brulee;
using namespace brulee::sim;
using namespace brulee::sim::testing;

namespace {

TEST(SimBound, HandComputedTinyTrace) {
  // A B A with one byte of memory, unit sizes and costs. Intervals: A from 0 to 2 (2 steps,
  // 2 byte-steps). Budget 1 B x 3 steps = 3 byte-steps: the relaxation keeps A, so the bound is
  // the 2 compulsory loads. The true optimum is 3 (B evicts A): the bound is valid, not tight.
  const ModelTable models = {model("A", 1, 1.0, 0.1), model("B", 1, 1.0, 0.1)};
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0}, models.size());
  const OfflineBound bound(models, trace);
  EXPECT_DOUBLE_EQ(bound.compulsory_cost_s(), 2.0);
  EXPECT_DOUBLE_EQ(bound.no_cache_cost_s(), 3.0);
  EXPECT_DOUBLE_EQ(bound.lower_bound_s(1), 2.0);
  EXPECT_DOUBLE_EQ(bound.lower_bound_s(0), 3.0);
  EXPECT_DOUBLE_EQ(simulate(models, trace, config("belady", 1, false)).load_cost_s, 3.0);
}

TEST(SimBound, FractionalKnapsackTakesBestSavingPerByteStepFirst) {
  // Trace A B A B (A: 2 B, cost 4; B: 1 B, cost 1), 4 steps. Intervals: A 0->2 weight 2*2 = 4,
  // saving 4 (1 per byte-step); B 1->3 weight 1*2 = 2, saving 1 (0.5 per byte-step).
  const ModelTable models = {model("A", 2, 4.0, 0.1), model("B", 1, 1.0, 0.1)};
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 1}, models.size());
  const OfflineBound bound(models, trace);
  EXPECT_DOUBLE_EQ(bound.no_cache_cost_s(), 10.0);
  EXPECT_DOUBLE_EQ(bound.compulsory_cost_s(), 5.0);
  // 0.5 B x 4 steps = 2 byte-steps: half of A's interval, saving 2.
  EXPECT_DOUBLE_EQ(bound.lower_bound_s(0), 10.0);
  // 1 B: 4 byte-steps, all of A: 10 - 4 = 6.
  EXPECT_DOUBLE_EQ(bound.lower_bound_s(1), 6.0);
  // 2 B: 8 byte-steps: A and B, the compulsory cost only.
  EXPECT_DOUBLE_EQ(bound.lower_bound_s(2), 5.0);
}

// Random catalog and trace; the bound must lie below every policy's load cost.
struct RandomCase {
  ModelTable models;
  CompactTrace trace;
  std::uint64_t footprint = 0;
};

RandomCase random_case(std::uint64_t seed, bool uniform) {
  Rng rng(seed);
  RandomCase c;
  const std::size_t model_count = 3 + rng.below(uniform ? 4 : 12);
  for (std::size_t m = 0; m < model_count; ++m) {
    const std::uint64_t size = uniform ? 1 : 1 + rng.below(50);
    const double load = uniform ? 1.0 : 0.1 + rng.uniform() * 10;
    c.models.push_back(model("m" + std::to_string(m), size, load, 0.05 + rng.uniform(), 0.01));
    c.footprint += size;
  }
  const std::size_t length = uniform ? 4 + rng.below(11) : 50 + rng.below(300);
  double time_s = 0;
  std::vector<std::pair<double, ModelId>> requests;
  for (std::size_t i = 0; i < length; ++i) {
    // Skewed popularity: low ids more often.
    const auto id = static_cast<ModelId>(std::min(rng.below(model_count), rng.below(model_count)));
    time_s += rng.exponential(2.0);
    requests.emplace_back(time_s, id);
  }
  c.trace = make_trace(requests, c.models.size());
  return c;
}

TEST(SimBound, NeverExceedsAnyPolicyInAnyMode) {
  int checked = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    const RandomCase c = random_case(seed, false);
    const OfflineBound bound(c.models, c.trace);
    std::uint64_t largest = 0;
    for (const auto& m : c.models) largest = std::max(largest, m.size_bytes);
    for (double fraction : {0.1, 0.3, 0.6, 1.0}) {
      const std::uint64_t memory = std::max(
          largest, static_cast<std::uint64_t>(fraction * static_cast<double>(c.footprint)));
      for (const auto& factory : policy_factories()) {
        for (int mode = 0; mode < 3; ++mode) {
          SimConfig config;
          config.policy = factory.name;
          config.memory_bytes = memory;
          config.queueing = mode != 0;
          config.workers = mode == 2 ? 2 : 1;
          config.seed = seed;
          const SimSummary s = simulate(c.models, c.trace, config);
          const double lower = bound.lower_bound_s(memory * config.workers);
          EXPECT_LE(lower, s.load_cost_s * (1 + 1e-12) + 1e-12)
              << factory.name << " seed " << seed << " memory " << memory << " mode " << mode;
          EXPECT_GE(lower, bound.compulsory_cost_s() * (1 - 1e-12));
          ++checked;
        }
      }
      if (fraction == 1.0) {
        EXPECT_NEAR(bound.lower_bound_s(memory), bound.compulsory_cost_s(), 1e-9);
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(SimBound, DecreasesWithMemory) {
  const RandomCase c = random_case(99, false);
  const OfflineBound bound(c.models, c.trace);
  double previous = bound.lower_bound_s(0);
  EXPECT_DOUBLE_EQ(previous, bound.no_cache_cost_s());
  for (std::uint64_t memory = 1; memory <= c.footprint; memory += 3) {
    const double now = bound.lower_bound_s(memory);
    EXPECT_LE(now, previous + 1e-12);
    previous = now;
  }
}

// Fewest misses of any demand-loading cache of `capacity` unit-size models: a search over every
// eviction choice, keeping the best miss count per resident set.
std::uint64_t brute_force_min_misses(const CompactTrace& trace, int capacity) {
  std::map<std::uint32_t, std::uint64_t> states{{0u, 0u}};
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const std::uint32_t bit = 1u << trace.model[i];
    std::map<std::uint32_t, std::uint64_t> next;
    auto relax = [&](std::uint32_t mask, std::uint64_t misses) {
      auto [it, inserted] = next.emplace(mask, misses);
      if (!inserted) it->second = std::min(it->second, misses);
    };
    for (auto [mask, misses] : states) {
      if (mask & bit) {
        relax(mask, misses);
      } else if (std::popcount(mask) < capacity) {
        relax(mask | bit, misses + 1);
      } else {
        for (std::uint32_t rest = mask; rest; rest &= rest - 1) {
          const std::uint32_t victim = rest & (~rest + 1);
          relax((mask & ~victim) | bit, misses + 1);
        }
      }
    }
    states.swap(next);
  }
  std::uint64_t best = UINT64_MAX;
  for (auto [mask, misses] : states) best = std::min(best, misses);
  return best;
}

TEST(SimBound, BeladyMatchesBruteForceWithUniformSizesAndCosts) {
  int compared = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    const RandomCase c = random_case(seed, true);
    const OfflineBound bound(c.models, c.trace);
    for (int capacity = 1; capacity < static_cast<int>(c.models.size()); ++capacity) {
      const std::uint64_t optimum = brute_force_min_misses(c.trace, capacity);
      const SimSummary belady = simulate(
          c.models, c.trace, config("belady", static_cast<std::uint64_t>(capacity), false));
      EXPECT_EQ(belady.misses, optimum) << "seed " << seed << " capacity " << capacity;
      EXPECT_LE(bound.lower_bound_s(static_cast<std::uint64_t>(capacity)),
                static_cast<double>(optimum) + 1e-12);
      ++compared;
    }
  }
  EXPECT_GT(compared, 300);
}

}  // namespace
