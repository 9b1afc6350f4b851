// Prefetching (docs/prefetch.md): the decision rule, a periodic trace where prefetching hides
// every load after warm-up, the counts, and the outputs without --prefetch.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/model_cache.hpp"
#include "core/prefetcher.hpp"
#include "core/rng.hpp"
#include "sim/output.hpp"
#include "sim_test_util.hpp"

using namespace brulee;
using namespace brulee::sim;
using namespace brulee::sim::testing;

// Random histories and residency: every victim the prefetcher names is resident, unpinned and
// of predicted utility below the model's it makes room for (by kMargin), and they free enough.
TEST(SimPrefetch, NeverEvictsAModelWithHigherPredictedUtility) {
  int decisions = 0;
  int with_victims = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    Rng rng(seed);
    ModelTable models;
    for (int m = 0; m < 12; ++m) {
      models.push_back(
          model("m" + std::to_string(m), 1 + rng.below(5), 0.1 + rng.uniform() * 3, 0.1));
    }
    Prefetcher prefetcher(models, CostMode::kDirect);
    ModelCache cache(10, models, make_policy("lru", models));
    double now = 0.0;
    std::vector<ModelId> evicted;
    for (int i = 0; i < 300; ++i) {
      now += rng.uniform() * 4;
      const auto m =
          static_cast<ModelId>(static_cast<double>(models.size()) * rng.uniform() * rng.uniform());
      prefetcher.observe(m, now);
      if (cache.record({m, now, static_cast<std::uint64_t>(i)})) continue;
      evicted.clear();
      if (!cache.can_make_room(models[m].size_bytes)) continue;
      cache.admit(m, evicted);
      for (ModelId v : evicted) prefetcher.on_evicted(v);
    }
    for (ModelId m = 0; m < models.size(); ++m) {
      if (cache.state().resident(m) && rng.uniform() < 0.3) cache.state().pin(m);
    }
    std::vector<ModelId> victims;
    const double at = now + rng.uniform() * 10;
    const ModelId chosen = prefetcher.choose(cache.state(), at, victims);
    if (chosen == kNoModel) {
      EXPECT_TRUE(victims.empty());
      continue;
    }
    ++decisions;
    EXPECT_FALSE(cache.state().resident(chosen));
    const double u = prefetcher.utility(chosen, at);
    std::uint64_t freed = cache.state().free_bytes();
    for (ModelId v : victims) {
      EXPECT_TRUE(cache.state().resident(v));
      EXPECT_FALSE(cache.state().pinned(v));
      EXPECT_LT(prefetcher.utility(v, at) * Prefetcher::kMargin, u) << "seed " << seed;
      freed += cache.state().bytes_of(v);
    }
    EXPECT_GE(freed, models[chosen].size_bytes);
    if (!victims.empty()) {
      ++with_victims;
      // Trimmed: no victim can be spared.
      std::uint64_t smallest = cache.state().bytes_of(victims[0]);
      for (ModelId v : victims) smallest = std::min(smallest, cache.state().bytes_of(v));
      EXPECT_LT(freed - smallest, models[chosen].size_bytes);
    }
  }
  EXPECT_GT(decisions, 50);
  EXPECT_GT(with_victims, 10);
}

namespace {
// A and B alternate every 5 s (each every 10 s); memory holds one; load 2 s, exec 1 s.
CompactTrace alternating(int requests) {
  std::vector<std::pair<double, ModelId>> r;
  for (int i = 0; i < requests; ++i) r.push_back({5.0 * i, static_cast<ModelId>(i % 2)});
  return make_trace(r, 2);
}
}  // namespace

// A, B, C in turn every 5 s (each every 15 s); memory holds two; load 2 s, exec 1 s. On demand
// every request misses. With prefetching, once the histograms outweigh the rate prior, the model
// due next (idle 11 s of its 15, predicted in ~2.5 s) is loaded in place of the one just served
// (predicted in ~7 s: below half its utility) while the worker is idle, and every request hits.
TEST(SimPrefetch, PeriodicTraceHidesEveryLoadAfterWarmUp) {
  const ModelTable models = {model("A", 1, 2.0, 1.0), model("B", 1, 2.0, 1.0),
                             model("C", 1, 2.0, 1.0)};
  std::vector<std::pair<double, ModelId>> r;
  for (int i = 0; i < 600; ++i) r.push_back({5.0 * i, static_cast<ModelId>(i % 3)});
  const CompactTrace trace = make_trace(r, models.size());
  // Warm-up: until each model's histogram outweighs the rate prior (kPriorWeight = 8 gaps) enough
  // for the factor 2 the prefetch rule asks.
  constexpr std::size_t kWarmUp = 240;
  for (bool parallel : {false, true}) {
    SCOPED_TRACE(parallel ? "parallel-load" : "serial");
    for (const char* policy : {"cremebrulee", "predictive", "lru"}) {
      SCOPED_TRACE(policy);
      SimConfig c = config(policy, 2, true);
      c.parallel_load = parallel;
      const SimSummary off = simulate(models, trace, c);
      EXPECT_LT(off.hits, trace.size() / 2);
      c.prefetch = true;
      CollectingSink sink;
      const SimSummary on = simulate(models, trace, c, &sink);
      ASSERT_EQ(sink.outcomes.size(), trace.size());
      std::size_t misses = 0;
      for (std::size_t i = kWarmUp; i < sink.outcomes.size(); ++i) {
        misses += sink.outcomes[i].timeline.hit ? 0 : 1;
        EXPECT_EQ(sink.outcomes[i].delays.load_delay_s, 0.0) << "request " << i;
      }
      EXPECT_EQ(misses, 0u);
      EXPECT_GE(on.prefetches_used, (trace.size() - kWarmUp) / 3);
      EXPECT_EQ(on.prefetches_cancelled, 0u);
      EXPECT_LE(on.prefetch_wasted_s, 2.0 * kWarmUp);  // at most the warm-up's
      EXPECT_LE(on.total_load_delay_s, 2.0 * kWarmUp);
    }
  }
}

// Random traces in every mode: the counts agree with each other and memory is never exceeded.
TEST(SimPrefetch, CountsAreConsistent) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    ModelTable models;
    std::uint64_t total = 0;
    for (int m = 0; m < 8; ++m) {
      models.push_back(model("m" + std::to_string(m), 1 + rng.below(4), 0.2 + rng.uniform() * 2,
                             0.1 + rng.uniform() * 0.3, rng.uniform() * 0.1));
      total += models.back().size_bytes;
    }
    std::vector<std::pair<double, ModelId>> r;
    double t = 0.0;
    for (int i = 0; i < 400; ++i) {
      t += rng.uniform() * 3;
      r.push_back({t, static_cast<ModelId>(static_cast<double>(models.size()) * rng.uniform() *
                                           rng.uniform())});
    }
    const CompactTrace trace = make_trace(r, models.size());
    for (int mode = 0; mode < 3; ++mode) {
      SimConfig c = config("predictive", std::max<std::uint64_t>(4, total / 2), mode != 0);
      c.parallel_load = mode == 2;
      c.prefetch = true;
      const SimSummary s = simulate(models, trace, c);
      SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + std::to_string(mode));
      EXPECT_TRUE(s.prefetch);
      EXPECT_LE(s.prefetches_used + s.prefetches_cancelled, s.prefetches);
      EXPECT_GE(s.prefetch_wasted_s, 0.0);
      EXPECT_LE(s.prefetch_wasted_s, s.prefetch_load_s + 1e-9);
      EXPECT_LE(s.peak_used_bytes, c.memory_bytes);
      EXPECT_EQ(s.hits + s.misses, s.requests);
      if (mode == 0) {
        EXPECT_EQ(s.prefetches_cancelled, 0u);  // no lane: nothing to cancel
      }
    }
  }
}

// Without --prefetch the outputs carry no prefetch field (so they are what they were before);
// with it, the CSV gains five columns at the end and nothing else changes in the header.
TEST(SimPrefetch, OutputsGainColumnsOnlyWithPrefetch) {
  const ModelTable models = {model("A", 1, 2.0, 1.0), model("B", 1, 2.0, 1.0)};
  const CompactTrace trace = alternating(20);
  RunInfo info;
  SimConfig c = config("lru", 1, true);
  const SimSummary off = simulate(models, trace, c);
  c.prefetch = true;
  const SimSummary on = simulate(models, trace, c);
  const std::string csv_off = sweep_csv({off}, info);
  const std::string csv_on = sweep_csv({on}, info);
  const std::string header_off = csv_off.substr(0, csv_off.find('\n'));
  const std::string header_on = csv_on.substr(0, csv_on.find('\n'));
  EXPECT_EQ(header_off.find("prefetch"), std::string::npos);
  EXPECT_EQ(header_on, header_off +
                           ",prefetches,prefetches_used,prefetches_cancelled,prefetch_load_s,"
                           "prefetch_wasted_s");
  EXPECT_FALSE(summary_json(off, info).contains("prefetches"));
  EXPECT_TRUE(summary_json(on, info).contains("prefetches"));
  EXPECT_EQ(summary_text(off, info).find("prefetch"), std::string::npos);
  EXPECT_NE(summary_text(on, info).find("prefetch"), std::string::npos);
}
