// The prefetcher's fast decision (a walk of lower bounds on the residents' predicted utility)
// names exactly the model and victims that scoring every resident model does, whatever the
// histories, pins, sizes and times; and it scores fewer residents when many are resident.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/model_cache.hpp"
#include "core/prefetcher.hpp"
#include "core/rng.hpp"
#include "random_catalog.hpp"

namespace brulee {
namespace {

using test_support::Pins;
using test_support::random_catalog;

// Drives a cache, a fast prefetcher and a reference one with the same stream, compares every
// decision, and carries the decisions out. Returns the decisions that named a model.
struct Decisions {
  int decisions = 0;
  int with_victims = 0;
  std::size_t scored_fast = 0, scored_scan = 0;
  int periodic_models = 0;  // models the predictor took for periodic at the end
};

Decisions compare(std::uint64_t seed, std::size_t model_count, int requests, const char* policy,
                  CostMode cost_mode, bool timers = false) {
  Rng rng(seed);
  ModelTable models;
  std::uint64_t total = 0;
  for (std::size_t m = 0; m < model_count; ++m) {
    models.push_back({"m" + std::to_string(m), 1 + rng.below(100), 0.001 + rng.uniform() * 5,
                      0.001 + rng.uniform(), 0.0});
    total += models.back().size_bytes;
  }
  const std::uint64_t capacity = std::max<std::uint64_t>(100, total / (2 + rng.below(6)));
  ModelCache cache(capacity, models, make_policy(policy, models, {seed, cost_mode}));
  Prefetcher fast(models, cost_mode);
  Prefetcher scan(models, cost_mode);
  Pins pins;
  // Each model has a period and a burstiness: some request in bursts of equal times (gaps of
  // 0: the rate floor binds), some regularly, some rarely.
  std::vector<double> period(model_count);
  for (auto& p : period) p = 0.001 * std::pow(10.0, rng.uniform() * 6);
  double now = rng.uniform() * 100;  // the origin is not 0
  // With `timers`, the first three models also fire every `timer_period` seconds (with a little
  // jitter), so the predictor takes them for periodic (interarrival.hpp).
  std::vector<double> timer_period, next_fire;
  if (timers) {
    for (int t = 0; t < 3; ++t) {
      timer_period.push_back(0.5 + rng.uniform() * 5);
      next_fire.push_back(now + timer_period.back());
    }
  }
  std::vector<ModelId> evicted, victims_fast, victims_scan;
  Decisions run;
  for (int i = 0; i < requests; ++i) {
    ModelId m = kNoModel;
    const auto due = std::min_element(next_fire.begin(), next_fire.end());
    if (timers && rng.below(2) == 0 && *due >= now) {
      now = *due;
      m = static_cast<ModelId>(due - next_fire.begin());
      *due += timer_period[m] * (1 + 0.01 * (rng.uniform() - 0.5));
    } else {
      // Phases of dense traffic (a model's predicted gap falls to the 1 ms floor) and of sparse.
      const double scale = (i / 100) % 3 == 0 ? 1e-5 : (timers ? 0.002 : 1.0);
      if (rng.below(4) != 0) {
        now += scale * rng.exponential(50.0) * (rng.below(10) == 0 ? 1e3 : 1.0);
      }
      for (auto& fire : next_fire) fire = std::max(fire, now);  // a missed firing: late
    }
    // Skewed popularity, weighted by each model's rate.
    while (m == kNoModel) {
      const auto pick = static_cast<ModelId>(rng.below(model_count));
      if (rng.uniform() < 0.001 / period[pick] + 0.01) m = pick;
    }
    fast.observe(m, now);
    scan.observe(m, now);
    if (!cache.record({m, now, static_cast<std::uint64_t>(i)})) {
      if (!cache.can_make_room(models[m].size_bytes)) continue;
      evicted.clear();
      cache.admit(m, evicted);
      for (ModelId v : evicted) {
        fast.on_evicted(v);
        scan.on_evicted(v);
      }
    }
    if (rng.below(3) == 0) pins.pin(cache.state(), m);
    while (pins.size() > 3 || (!pins.empty() && rng.below(2) == 0)) {
      pins.release_random(rng, cache.state());
    }
    // Decisions at this request's time or a little later.
    const double at = now + (rng.below(2) ? 0.0 : rng.uniform() * 10);
    for (int k = 0; k < Prefetcher::kMaxPerGap; ++k) {
      const ModelId a = fast.choose(cache.state(), at, victims_fast);
      run.scored_fast += fast.last_scored();
      const ModelId b = scan.choose_by_scan(cache.state(), at, victims_scan);
      run.scored_scan += scan.last_scored();
      EXPECT_EQ(a, b) << "seed " << seed << " request " << i;
      EXPECT_EQ(victims_fast, victims_scan) << "seed " << seed << " request " << i;
      if (a != b || victims_fast != victims_scan || a == kNoModel) break;
      ++run.decisions;
      if (!victims_fast.empty()) ++run.with_victims;
      for (ModelId v : victims_fast) {
        cache.evict(v);
        fast.on_evicted(v);
        scan.on_evicted(v);
      }
      evicted.clear();
      cache.admit(a, evicted);
      EXPECT_TRUE(evicted.empty());
      // Now and then a prefetch is cancelled: it leaves memory without an eviction call.
      if (rng.below(8) == 0) cache.evict(a);
    }
  }
  for (ModelId m = 0; m < model_count; ++m) {
    run.periodic_models += fast.predictor().history(m).periodic() ? 1 : 0;
  }
  return run;
}

TEST(Prefetcher, FastDecisionIsTheScanDecision) {
  int decisions = 0, with_victims = 0;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const char* policy = seed % 3 == 0 ? "lru" : seed % 3 == 1 ? "cremebrulee" : "predictive";
    const CostMode mode = seed % 2 ? CostMode::kDirect : CostMode::kIncrease;
    const Decisions run = compare(seed, 5 + seed % 40, 400, policy, mode);
    decisions += run.decisions;
    with_victims += run.with_victims;
  }
  // The comparison meant something: many decisions, many of them evicting.
  EXPECT_GT(decisions, 1000);
  EXPECT_GT(with_victims, 300);
}

// The same with periodic models among the residents: their predicted time to the next request
// shrinks as they sit idle, which the bound must allow for.
TEST(Prefetcher, FastDecisionIsTheScanDecisionWithPeriodicModels) {
  int decisions = 0, periodic_seen = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    const char* policy = seed % 2 ? "cremebrulee" : "predictive";
    const Decisions run = compare(seed, 6 + seed % 30, 600, policy, CostMode::kDirect, true);
    decisions += run.decisions;
    periodic_seen += run.periodic_models;
  }
  EXPECT_GT(decisions, 500);
  EXPECT_GT(periodic_seen, 40);  // the timers were recognised
}

// The warm-up: with no evicted model to bring back, models never requested are loaded into free
// memory, highest load cost per byte first, never evicting anything; a requested model is not
// among them.
TEST(Prefetcher, WarmUpFillsFreeMemoryWithModelsNeverRequested) {
  ModelTable models;
  // name, size, load s, exec s, unload s. Cost per byte: m0 0.1, m1 0.5, m2 0.05, m3 1.0, m4 0.2.
  models.push_back({"m0", 10, 1.0, 0.01, 0.0});
  models.push_back({"m1", 10, 5.0, 0.01, 0.0});
  models.push_back({"m2", 40, 2.0, 0.01, 0.0});
  models.push_back({"m3", 30, 30.0, 0.01, 0.0});
  models.push_back({"m4", 10, 2.0, 0.01, 0.0});
  ModelCache cache(60, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
  Prefetcher prefetcher(models, CostMode::kDirect);
  std::vector<ModelId> evicted, victims;
  // m1 is requested (a demand load).
  prefetcher.observe(1, 0.0);
  cache.admit(1, evicted);
  ASSERT_TRUE(evicted.empty());
  std::vector<ModelId> order;
  for (int k = 0; k < 10; ++k) {
    const ModelId chosen = prefetcher.choose(cache.state(), 1.0, victims);
    if (chosen == kNoModel) break;
    EXPECT_TRUE(victims.empty());
    ASSERT_LE(models[chosen].size_bytes, cache.state().free_bytes());
    cache.admit(chosen, evicted);
    EXPECT_TRUE(evicted.empty());
    order.push_back(chosen);
  }
  // 50 bytes free: m3 (30), then m4 (10), then m0 (10); m2 (40) no longer fits.
  EXPECT_EQ(order, (std::vector<ModelId>{3, 4, 0}));
  EXPECT_EQ(cache.state().free_bytes(), 0u);
  // Models seen resident (prefetches that completed) or evicted (announced: ghosts now, with no
  // predicted utility) are not warmed again, even when they fit.
  prefetcher.on_evicted(4);
  cache.evict(4);
  cache.evict(0);
  cache.evict(3);
  EXPECT_EQ(cache.state().free_bytes(), 50u);
  // m2 (40) fits now. A try that left memory unannounced, never seen resident (a prefetch a
  // demand arrival cancelled), is tried again, kColdTries times in all.
  for (int k = 0; k < Prefetcher::kColdTries; ++k) {
    EXPECT_EQ(prefetcher.choose(cache.state(), 2.0, victims), 2u) << k;
    cache.admit(2, evicted);
    cache.evict(2);
  }
  EXPECT_EQ(prefetcher.choose(cache.state(), 2.0, victims), kNoModel);
}

TEST(Prefetcher, NeverEvictsMoreValueThanItBringsIn) {
  // Two timers: m0 (100 bytes, load 1 s) fires every 100 s, m1 (10 bytes, load 0.05 s) every
  // 10 s; at 1,050 s m0 is due in 50 s and m1 in 5 s. Per byte m1 is worth 5x m0 (so m0 passes
  // kMargin's test), but m0 as a whole is worth 2x m1: evicting it to fit m1 would throw away
  // more than m1 brings, and m0's room beyond m1's may serve nothing (docs/prefetch.md).
  ModelTable models;
  // name, size, load s, exec s, unload s
  models.push_back({"m0", 100, 1.0, 0.01, 0.0});
  models.push_back({"m1", 10, 0.05, 0.01, 0.0});
  const double now = 1050.0;
  // Requests in time order: m1 at 5, 15, ..., 1045, and m0 at the given times.
  const auto observe_both = [](Prefetcher& p, std::vector<double> m0_times) {
    std::vector<std::pair<double, ModelId>> requests;
    for (double t : m0_times) requests.push_back({t, 0});
    for (int k = 0; k <= 104; ++k) requests.push_back({10.0 * k + 5.0, 1});
    std::sort(requests.begin(), requests.end());
    for (const auto& [t, m] : requests) p.observe(m, t);
  };
  Prefetcher prefetcher(models, CostMode::kDirect);
  observe_both(prefetcher, {0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000});
  const double u0 = prefetcher.utility(0, now);
  const double u1 = prefetcher.utility(1, now);
  ASSERT_LT(u0 * Prefetcher::kMargin, u1);  // m0 passes the per-byte test
  ASSERT_GT(u0 * 100, u1 * 10);             // but is worth more as a whole
  {
    ModelCache cache(100, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
    std::vector<ModelId> evicted, victims;
    cache.admit(0, evicted);
    prefetcher.on_evicted(1);
    EXPECT_EQ(prefetcher.choose(cache.state(), now, victims), kNoModel);
    EXPECT_TRUE(victims.empty());
    EXPECT_EQ(prefetcher.choose_by_scan(cache.state(), now, victims), kNoModel);
  }
  // With m0 requested twice in all (worth less as a whole than m1), m1 is prefetched over it.
  Prefetcher rare(models, CostMode::kDirect);
  observe_both(rare, {0, 1000});
  ASSERT_LT(rare.utility(0, now) * 100, rare.utility(1, now) * 10);
  ModelCache cache(100, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
  std::vector<ModelId> evicted, victims;
  cache.admit(0, evicted);
  rare.on_evicted(1);
  EXPECT_EQ(rare.choose(cache.state(), now, victims), 1u);
  EXPECT_EQ(victims, (std::vector<ModelId>{0}));
}

TEST(Prefetcher, ATimerEvictedLongAgoIsPrefetchedWhenDue) {
  // m0 fires every 1,000 s (load 2 s); 40 other models are evicted after it, so it has left the
  // 32-model ghost list. It is a candidate from kDueLoads load latencies (32 s) before its next
  // firing until the firing is missed (idle past 1,000 + max(4 d, 100) s).
  ModelTable models;
  models.push_back({"timer", 10, 2.0, 0.01, 0.0});
  for (int m = 1; m <= 40; ++m) models.push_back({"m" + std::to_string(m), 10, 1.0, 0.01, 0.0});
  Prefetcher prefetcher(models, CostMode::kDirect);
  const double jitter[] = {0.0, 0.4, -0.3, 0.2, -0.1};
  double last = 0.0;
  for (int k = 0; k < 5; ++k) prefetcher.observe(0, last = 1000.0 * k + jitter[k]);
  ASSERT_TRUE(prefetcher.predictor().history(0).periodic());
  for (ModelId m = 1; m <= 40; ++m) prefetcher.observe(m, last + 1.0);
  prefetcher.on_evicted(0);
  for (ModelId m = 1; m <= 40; ++m) prefetcher.on_evicted(m);  // the ghosts are m9..m40 now
  ModelCache cache(1000, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
  std::vector<ModelId> victims;
  // Long before its firing: only the ghosts are candidates.
  const ModelId early = prefetcher.choose(cache.state(), last + 500.0, victims);
  EXPECT_NE(early, 0u);
  EXPECT_GE(early, 9u);
  // 20 s before it (within 32 s): the timer, over every ghost.
  EXPECT_EQ(prefetcher.choose(cache.state(), last + 980.0, victims), 0u);
  EXPECT_TRUE(victims.empty());
  EXPECT_EQ(prefetcher.choose_by_scan(cache.state(), last + 980.0, victims), 0u);
  // Resident, it is not chosen again; evicted, it is while the firing is still due.
  std::vector<ModelId> evicted;
  cache.admit(0, evicted);
  EXPECT_NE(prefetcher.choose(cache.state(), last + 990.0, victims), 0u);
  cache.evict(0);
  EXPECT_EQ(prefetcher.choose(cache.state(), last + 1050.0, victims), 0u);
  // The firing missed: it is not a candidate any more.
  EXPECT_NE(prefetcher.choose(cache.state(), last + 1200.0, victims), 0u);
}

TEST(Prefetcher, PrefetchesWhoseVictimsComeBackFirstRaiseTheBar) {
  // Room for one of two models: m1 (requested every 10 s) is worth several times m0 (every 100
  // s), so it is prefetched over m0. Each time, m0 is requested before m1: the prefetch harmed
  // and gained nothing. A twin prefetcher that saw the same requests and evictions but took no
  // decisions still prefetches m1; the harmed one stops, then comes back as its evidence fades
  // with the decisions it stops (docs/prefetch.md, "Learning from outcomes").
  ModelTable models;
  models.push_back({"m0", 10, 1.0, 0.01, 0.0});
  models.push_back({"m1", 10, 1.0, 0.01, 0.0});
  Prefetcher harmed(models, CostMode::kDirect);
  Prefetcher twin(models, CostMode::kDirect);
  const auto both = [&](auto&& f) {
    f(harmed);
    f(twin);
  };
  for (int k = 0; k <= 100; ++k) {
    both([&](Prefetcher& p) { p.observe(1, 10.0 * k); });
    if (k % 10 == 0) both([&](Prefetcher& p) { p.observe(0, 10.0 * k); });
  }
  ModelCache cache(10, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
  std::vector<ModelId> evicted, victims;
  cache.admit(0, evicted);
  both([](Prefetcher& p) { p.on_evicted(1); });
  EXPECT_DOUBLE_EQ(harmed.caution(1.0), 1.0);
  double now = 1001.0;
  int prefetches = 0;
  for (; prefetches < 50; ++prefetches, now += 2.0) {
    if (harmed.choose(cache.state(), now, victims) == kNoModel) break;
    ASSERT_EQ(victims, (std::vector<ModelId>{0}));
    cache.evict(0);
    both([](Prefetcher& p) { p.on_evicted(0); });
    cache.admit(1, evicted);
    // m0 is requested first: it misses, and demand evicts m1 for it.
    both([&](Prefetcher& p) { p.observe(0, now + 1.0); });
    cache.evict(1);
    both([](Prefetcher& p) { p.on_evicted(1); });
    cache.admit(0, evicted);
  }
  EXPECT_GE(prefetches, 1);
  EXPECT_LT(prefetches, 50);
  EXPECT_GT(harmed.outcome_harm(), 0.0);
  EXPECT_EQ(harmed.outcome_gain(), 0.0);
  EXPECT_GT(harmed.caution(1.0), 1.0);
  EXPECT_EQ(harmed.choose_by_scan(cache.state(), now, victims), kNoModel);
  EXPECT_EQ(twin.caution(1.0), 1.0);
  EXPECT_EQ(twin.choose(cache.state(), now, victims), 1u);
  EXPECT_EQ(victims, (std::vector<ModelId>{0}));
  // Each decision the bar stops fades the evidence: m1 is prefetched again in time.
  int decisions = 1;
  while (decisions < 100000 && harmed.choose(cache.state(), now, victims) == kNoModel) ++decisions;
  EXPECT_LT(decisions, 100000);
  EXPECT_GT(decisions, 10);
  EXPECT_EQ(victims, (std::vector<ModelId>{0}));
}

TEST(Prefetcher, AUsedPrefetchGainsAndLaterVictimsAreNotItsHarm) {
  ModelTable models;
  models.push_back({"m0", 10, 1.0, 0.01, 0.0});
  models.push_back({"m1", 10, 2.0, 0.01, 0.0});
  const auto prepared = [&](Prefetcher& p, ModelCache& cache) {
    for (int k = 0; k <= 100; ++k) {
      p.observe(1, 10.0 * k);
      if (k % 10 == 0) p.observe(0, 10.0 * k);
    }
    std::vector<ModelId> evicted, victims;
    cache.admit(0, evicted);
    p.on_evicted(1);
    EXPECT_EQ(p.choose(cache.state(), 1001.0, victims), 1u);
    EXPECT_EQ(victims, (std::vector<ModelId>{0}));
    cache.evict(0);
    p.on_evicted(0);
    cache.admit(1, evicted);
  };
  {
    // m1 requested first: its load cost (2 s) is the gain; m0 requested after it is demand's
    // business, not the prefetch's harm.
    Prefetcher p(models, CostMode::kDirect);
    ModelCache cache(10, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
    prepared(p, cache);
    p.observe(1, 1002.0);
    EXPECT_DOUBLE_EQ(p.outcome_gain(), 2.0);
    p.observe(1, 1003.0);  // only the first request counts
    p.observe(0, 1004.0);
    EXPECT_DOUBLE_EQ(p.outcome_harm(), 0.0);
    EXPECT_DOUBLE_EQ(p.outcome_gain(), 2.0);
  }
  {
    // m0 requested first: its load cost (1 s) is the harm; m1's request after it still gains.
    Prefetcher p(models, CostMode::kDirect);
    ModelCache cache(10, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
    prepared(p, cache);
    p.observe(0, 1002.0);
    EXPECT_DOUBLE_EQ(p.outcome_harm(), 1.0);
    p.observe(0, 1003.0);  // a victim's harm counts once
    EXPECT_DOUBLE_EQ(p.outcome_harm(), 1.0);
    p.observe(1, 1004.0);
    EXPECT_DOUBLE_EQ(p.outcome_gain(), 2.0);
    EXPECT_DOUBLE_EQ(p.outcome_harm(), 1.0 - Prefetcher::kFade);
  }
  {
    // Cancelled (or evicted) before its first request: the prefetch is no longer followed, so
    // neither m1's later request nor m0's counts.
    Prefetcher p(models, CostMode::kDirect);
    ModelCache cache(10, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
    prepared(p, cache);
    p.on_cancelled(1);
    p.observe(0, 1002.0);
    p.observe(1, 1003.0);
    EXPECT_DOUBLE_EQ(p.outcome_gain(), 0.0);
    EXPECT_DOUBLE_EQ(p.outcome_harm(), 0.0);
  }
}

TEST(Prefetcher, ExtremeTimesKeepTheScansDecisions) {
  // The server passes clients' trace times (0 to 1e12 s, checked as the request is read):
  // repeated, out of order, far apart. A time before the latest is taken as the latest (the
  // bounds hold from the latest time on), and decisions stay the scan's.
  ModelTable models;
  for (int m = 0; m < 6; ++m) models.push_back({"m" + std::to_string(m), 10, 1.0, 0.01, 0.0});
  const double times[] = {0.0, 1e12, 5.0, 5.0, 1e11, 3.0, 1e12, 1e12, 2.5e11, 7e11, 0.5};
  Prefetcher fast(models, CostMode::kDirect);
  Prefetcher scan(models, CostMode::kDirect);
  ModelCache cache(30, models, make_policy("cremebrulee", models, {1, CostMode::kDirect}));
  std::vector<ModelId> evicted, victims_fast, victims_scan;
  int decisions = 0;
  for (int round = 0; round < 4; ++round) {
    for (std::size_t k = 0; k < std::size(times); ++k) {
      const auto model = static_cast<ModelId>((k + round) % models.size());
      fast.observe(model, times[k]);
      scan.observe(model, times[k]);
      if (!cache.state().resident(model)) {
        evicted.clear();
        cache.admit(model, evicted);
        for (ModelId gone : evicted) {
          fast.on_evicted(gone);
          scan.on_evicted(gone);
        }
      }
      for (const double now : {times[k], 1e12, 0.0}) {
        const ModelId chosen = fast.choose(cache.state(), now, victims_fast);
        EXPECT_EQ(chosen, scan.choose_by_scan(cache.state(), now, victims_scan)) << k << " " << now;
        EXPECT_EQ(victims_fast, victims_scan) << k << " " << now;
        decisions += chosen != kNoModel;
      }
    }
  }
  EXPECT_GT(decisions, 10);
}

TEST(Prefetcher, ManyResidentsAreNotAllScored) {
  const Decisions run = compare(99, 600, 3000, "cremebrulee", CostMode::kDirect);
  EXPECT_GT(run.with_victims, 10);
  EXPECT_GT(run.scored_scan, 0u);
  EXPECT_LT(run.scored_fast * 2, run.scored_scan)
      << "fast " << run.scored_fast << " scan " << run.scored_scan;
}

}  // namespace
}  // namespace brulee
