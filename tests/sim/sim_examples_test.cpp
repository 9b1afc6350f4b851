// Tiny traces whose outcomes are computed by hand (docs/simulator.md explains the semantics):
// hits, evictions, load delays, queue order and pins, for several policies and modes.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "sim/simulator.hpp"
#include "sim_test_util.hpp"

using namespace brulee;
using namespace brulee::sim;
using namespace brulee::sim::testing;

namespace {

// A cheap, B expensive, C in between; all one byte; memory for two.
ModelTable abc_models() {
  return {model("A", 1, 1.0, 0.1), model("B", 1, 10.0, 0.1), model("C", 1, 5.0, 0.1)};
}

TEST(SimExamples, PureCacheLruEvictsLeastRecent) {
  const ModelTable models = abc_models();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 2, 1}, models.size());
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, config("lru", 2, false), &sink);
  // A miss, B miss, A hit, C miss (evicts B, least recent), B miss (evicts A).
  EXPECT_EQ(s.requests, 5u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.loads, 4u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.bytes_loaded, 4u);
  EXPECT_EQ(s.peak_used_bytes, 2u);
  EXPECT_DOUBLE_EQ(s.load_cost_s, 26.0);
  EXPECT_DOUBLE_EQ(s.total_load_delay_s, 26.0);
  // Exec is derived from the timeline (end - start), so sums carry rounding of the times.
  EXPECT_NEAR(s.total_exec_s, 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(s.latency_mean_s, 26.5 / 5);
  EXPECT_NEAR(s.load_exec_ratio(), 52.0, 1e-9);
  EXPECT_DOUBLE_EQ(s.total_queue_delay_s, 0.0);
  ASSERT_EQ(sink.outcomes.size(), 5u);
  const bool expected_hits[] = {false, false, true, false, false};
  const double expected_load[] = {1.0, 10.0, 0.0, 5.0, 10.0};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(sink.outcomes[i].timeline.hit, expected_hits[i]) << i;
    EXPECT_DOUBLE_EQ(sink.outcomes[i].delays.load_delay_s, expected_load[i]) << i;
    EXPECT_DOUBLE_EQ(sink.outcomes[i].timeline.end_s,
                     static_cast<double>(i) + expected_load[i] + 0.1);
  }
}

TEST(SimExamples, PureCacheCremeBruleeKeepsTheExpensiveModel) {
  const ModelTable models = abc_models();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 2, 1}, models.size());
  // At C: utility A = 2 requests * 1 s / 1 B = 2, B = 1 * 10 / 1 = 10: A goes, so B then hits.
  const SimSummary s = simulate(models, trace, config("cremebrulee", 2, false));
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_DOUBLE_EQ(s.load_cost_s, 16.0);
  // LFU evicts B (1 request against A's 2), then C for B: as costly as LRU here.
  const SimSummary lfu = simulate(models, trace, config("lfu", 2, false));
  EXPECT_EQ(lfu.hits, 1u);
  EXPECT_EQ(lfu.evictions, 2u);
  EXPECT_DOUBLE_EQ(lfu.load_cost_s, 26.0);
  // FIFO evicts A (loaded first); Belady evicts A (never requested again).
  for (const char* policy : {"fifo", "belady"}) {
    const SimSummary other = simulate(models, trace, config(policy, 2, false));
    EXPECT_EQ(other.hits, 2u) << policy;
    EXPECT_DOUBLE_EQ(other.load_cost_s, 16.0) << policy;
  }
}

// --costs-catalog: the policy ranks by the model table's seconds, the simulated time follows the
// costs table's. Costs where A is the expensive one (A 10 s, B 1 s) would make cremebrulee evict
// B at C; ranked by the table's (B 10 s), it evicts A as above, and each load takes the costs
// table's seconds: A 10, B 1, C 2 (sum 13), A's exec 0.5.
TEST(SimExamples, CostsTableTimesTheRunWhileThePolicyRanksByTheModelTable) {
  const ModelTable models = abc_models();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 2, 1}, models.size());
  SimConfig cfg = config("cremebrulee", 2, false);
  cfg.costs = {model("A", 1, 10.0, 0.5), model("B", 1, 1.0, 0.2), model("C", 1, 2.0, 0.3)};
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, cfg, &sink);
  EXPECT_EQ(s.hits, 2u);  // A, then B after C evicted A
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_DOUBLE_EQ(s.load_cost_s, 13.0);
  ASSERT_EQ(sink.outcomes.size(), 5u);
  const double expected_load[] = {10.0, 1.0, 0.0, 2.0, 0.0};
  const double expected_exec[] = {0.5, 0.2, 0.5, 0.3, 0.2};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(sink.outcomes[i].delays.load_delay_s, expected_load[i]) << i;
    EXPECT_NEAR(sink.outcomes[i].delays.exec_s, expected_exec[i], 1e-12) << i;
  }
  // Ranked by the costs table itself, cremebrulee keeps A and evicts B: B misses again.
  const SimSummary by_costs = simulate(cfg.costs, trace, config("cremebrulee", 2, false));
  EXPECT_EQ(by_costs.hits, 1u);
  // A costs table of another length is a programming error.
  cfg.costs.pop_back();
  EXPECT_THROW(simulate(models, trace, cfg), std::logic_error);
}

// One serial FIFO worker holding one model. A: load 2, exec 1, unload 0.5; B: load 3, exec 1,
// unload 0.5. Requests: A@0, A@1, B@2, A@10.
//  r0 A miss: its load runs 0..2, it executes 2..3.
//  r1 A@1 arrives while A's load runs: a miss sharing that load (as on the server; the policy
//     still sees a cache hit, no new load). Waits for the worker until 3 (its load delay is the
//     rest of the load, 1..2; queue 2..3), executes 3..4.
//  r2 B miss: A is pinned by r0 and r1 until 4, so B's admission waits until 4; then unload A
//     (0.5) + load B (3) 4..7.5, exec 7.5..8.5.
//  r3 A miss at 10 (B unpinned at 8.5): unload B 0.5 + load A 2 10..12.5, exec 12.5..13.5.
TEST(SimExamples, SerialQueueWaitsForPinsAndRunsInOrder) {
  const ModelTable models = {model("A", 1, 2.0, 1.0, 0.5), model("B", 1, 3.0, 1.0, 0.5)};
  const CompactTrace trace = make_trace({{0.0, 0}, {1.0, 0}, {2.0, 1}, {10.0, 0}}, models.size());
  for (const char* policy : {"lru", "cremebrulee", "lfu", "random"}) {
    CollectingSink sink;
    const SimSummary s = simulate(models, trace, config(policy, 1, true), &sink);
    ASSERT_EQ(sink.outcomes.size(), 4u);
    const double load_start[] = {0.0, 0.0, 4.0, 10.0};
    const double ready[] = {2.0, 2.0, 7.5, 12.5};
    const double start[] = {2.0, 3.0, 7.5, 12.5};
    const double queue[] = {0.0, 1.0, 2.0, 0.0};
    const double load[] = {2.0, 1.0, 3.5, 2.5};
    const double completion[] = {3.0, 4.0, 8.5, 13.5};
    for (std::size_t i = 0; i < 4; ++i) {
      const RequestOutcome& o = sink.outcomes[i];
      EXPECT_FALSE(o.timeline.hit) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.timeline.load_start_s, load_start[i]) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.timeline.ready_s, ready[i]) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.timeline.start_s, start[i]) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.delays.queue_delay_s, queue[i]) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.delays.load_delay_s, load[i]) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.timeline.end_s, completion[i]) << policy << " request " << i;
      EXPECT_DOUBLE_EQ(o.delays.exec_s, 1.0);
    }
    EXPECT_EQ(s.hits, 0u);
    EXPECT_EQ(s.misses, 4u);
    EXPECT_EQ(s.loads, 3u);
    EXPECT_DOUBLE_EQ(s.cache_hit_ratio(), 0.25);  // r1 caused no load
    EXPECT_EQ(s.evictions, 2u);
    EXPECT_DOUBLE_EQ(s.total_load_delay_s, 9.0);
    EXPECT_DOUBLE_EQ(s.total_queue_delay_s, 3.0);
    EXPECT_DOUBLE_EQ(s.load_cost_s, 7.0);  // loads only, no unloads
    EXPECT_DOUBLE_EQ(s.latency_mean_s, 4.0);
    // Latencies 3, 3, 6.5, 3.5: the histogram reports within 0.2%.
    EXPECT_NEAR(s.latency_p50_s, 3.0, 3.0 * 0.002);
    EXPECT_NEAR(s.latency_p99_s, 6.5, 6.5 * 0.002);
    EXPECT_DOUBLE_EQ(s.latency_max_s, 6.5);
  }
}

// The simulator's timeline gives the same delays as derive_delays on the hand-made timelines of
// core's tests: a hit waits only behind requests, a miss's wait for room is queueing.
TEST(SimExamples, HitAfterTheLoadIsAHitWithQueueingOnly) {
  const ModelTable models = {model("A", 1, 2.0, 1.0)};
  const CompactTrace trace = make_trace({{0.0, 0}, {2.5, 0}, {5.0, 0}}, models.size());
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, config("lru", 1, true), &sink);
  // r1 arrives after A is ready (2) but while r0 executes (2..3): a hit, queue 0.5.
  EXPECT_TRUE(sink.outcomes[1].timeline.hit);
  EXPECT_TRUE(std::isnan(sink.outcomes[1].timeline.load_start_s));
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.ready_s, 2.5);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.queue_delay_s, 0.5);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.load_delay_s, 0.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.latency_s, 1.5);
  EXPECT_TRUE(sink.outcomes[2].timeline.hit);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].delays.latency_s, 1.0);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
}

// Loads on a loading lane, in parallel with execution (memory for two models). The execution
// lane runs requests in the order they became runnable (model ready), like the server's
// executor: a request waiting for a load does not hold up one whose model is ready. A and B
// (1 byte; load 2 and 3, exec 1) were loaded once before (A@0, B@10, then C@20 and D@30 evict
// them; a first load is isolated, see the next test), so at 40:
//  r4 A@40 miss: load 40..42, exec 42..43.
//  r5 B@40 miss: its load waits for the loader (queue 40..42), loads 42..45 (load delay 3), exec
//     45..46.
//  r6 A@40.5 arrives during A's load: a miss sharing it (load delay 40.5..42 = 1.5); runnable at
//     42 like r4, after it: queue 42..43, exec 43..44 (before r5, whose model is not ready).
TEST(SimExamples, ParallelLoadOverlapsLoadingWithExecution) {
  const ModelTable models = {model("A", 1, 2.0, 1.0), model("B", 1, 3.0, 1.0),
                             model("C", 1, 1.0, 1.0), model("D", 1, 1.0, 1.0)};
  const CompactTrace trace = make_trace(
      {{0.0, 0}, {10.0, 1}, {20.0, 2}, {30.0, 3}, {40.0, 0}, {40.0, 1}, {40.5, 0}}, models.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 7u);
  const double queue[] = {0.0, 2.0, 1.0};
  const double load[] = {2.0, 3.0, 1.5};
  const double completion[] = {43.0, 46.0, 44.0};
  for (std::size_t i = 0; i < 7; ++i) EXPECT_EQ(sink.outcomes[i].index, i);  // in request order
  for (std::size_t i = 0; i < 3; ++i) {
    const RequestOutcome& o = sink.outcomes[4 + i];
    EXPECT_FALSE(o.timeline.hit) << i;
    EXPECT_DOUBLE_EQ(o.delays.queue_delay_s, queue[i]) << i;
    EXPECT_DOUBLE_EQ(o.delays.load_delay_s, load[i]) << i;
    EXPECT_DOUBLE_EQ(o.timeline.end_s, completion[i]) << i;
  }
  EXPECT_TRUE(s.parallel_load);
  EXPECT_EQ(s.loads, 6u);
  // The same trace on a serial worker: r5 starts at 43, loads 3, completes 47; r6 completes 48,
  // its load delay still the rest of A's load (1.5), the rest queueing.
  sink.outcomes.clear();
  simulate(models, trace, config("lru", 2, true), &sink);
  EXPECT_DOUBLE_EQ(sink.outcomes[5].timeline.end_s, 47.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[5].delays.load_delay_s, 3.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[6].timeline.end_s, 48.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[6].delays.load_delay_s, 1.5);
  EXPECT_DOUBLE_EQ(sink.outcomes[6].delays.queue_delay_s, 5.0);
}

// A load that cannot make room waits, and a later one that fits goes first, as the server's
// pending loads do (docs/simulator.md, "Loads waiting for room"). Memory 3 bytes; A (2 bytes,
// exec 5), B (2 bytes), C (1 byte); every load 1 s, B and C exec 1 s; lru:
//  r0 A@0: load 0..1, exec 1..6 (pinned until 6).
//  r1 B@2: needs 2 bytes, 1 is free and A is pinned: it waits.
//  r2 C@3: fits in the free byte: loads 3..4 at once, runs when the lane is free, 6..7.
//  r3 B@4: joins B's wait (a miss that will share B's load).
//  At 6 A's inference ends: B evicts A and loads 6..7; r1 runs 7..8, r3 8..9.
// Decided in arrival order instead, C would have waited behind B (loaded 7..8, run 8..9).
TEST(SimExamples, ParallelLoadStartsALaterLoadThatFitsBeforeOneWaitingForRoom) {
  const ModelTable models = {model("A", 2, 1.0, 5.0), model("B", 2, 1.0, 1.0),
                             model("C", 1, 1.0, 1.0)};
  const CompactTrace trace = make_trace({{0.0, 0}, {2.0, 1}, {3.0, 2}, {4.0, 1}}, models.size());
  SimConfig c = config("lru", 3, true);
  c.parallel_load = true;
  c.isolated_first_loads = false;
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 4u);
  const double load_start[] = {0.0, 6.0, 3.0, 6.0};
  const double ready[] = {1.0, 7.0, 4.0, 7.0};
  const double start[] = {1.0, 7.0, 6.0, 8.0};
  const double end[] = {6.0, 8.0, 7.0, 9.0};
  for (std::size_t i = 0; i < 4; ++i) {
    const RequestOutcome& o = sink.outcomes[i];
    EXPECT_EQ(o.index, i);
    EXPECT_FALSE(o.timeline.hit) << i;
    EXPECT_DOUBLE_EQ(o.timeline.load_start_s, load_start[i]) << i;
    EXPECT_DOUBLE_EQ(o.timeline.ready_s, ready[i]) << i;
    EXPECT_DOUBLE_EQ(o.timeline.start_s, start[i]) << i;
    EXPECT_DOUBLE_EQ(o.timeline.end_s, end[i]) << i;
  }
  EXPECT_EQ(s.loads, 3u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.hits, 0u);
  // r1's 4 s waiting for room are queue delay, its load's 1 s load delay (docs/fidelity.md,
  // "Definitions"); r3 waited 2 s, then shared the whole load and waited 1 s for r1.
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.load_delay_s, 1.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.queue_delay_s, 4.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[3].delays.load_delay_s, 1.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[3].delays.queue_delay_s, 3.0);
}

// Bursty random traces where loads wait for room, with and without prefetching: every request is
// answered once with a consistent timeline, memory holds, and (without prefetching) some later
// load passes an earlier one that waited.
TEST(SimExamples, ParallelLoadWithLoadsWaitingForRoomAnswersEveryRequest) {
  int passes = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    Rng rng(seed);
    ModelTable models;
    std::uint64_t total = 0;
    for (int m = 0; m < 8; ++m) {
      models.push_back(model("m" + std::to_string(m), 1 + rng.below(4), 0.2 + rng.uniform(),
                             0.1 + rng.uniform() * 0.5, rng.uniform() * 0.1));
      total += models.back().size_bytes;
    }
    std::vector<std::pair<double, ModelId>> r;
    double t = 0.0;
    for (int i = 0; i < 300; ++i) {
      t += rng.uniform() * (i % 40 < 10 ? 0.1 : 2.0);  // bursts of ten
      r.push_back({t, static_cast<ModelId>(rng.below(models.size()))});
    }
    const CompactTrace trace = make_trace(r, models.size());
    for (const bool prefetch : {false, true}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + (prefetch ? " prefetch" : ""));
      SimConfig c =
          config(prefetch ? "predictive" : "lru", std::max<std::uint64_t>(4, total / 2), true);
      c.parallel_load = true;
      c.prefetch = prefetch;
      CollectingSink sink;
      const SimSummary s = simulate(models, trace, c, &sink);
      ASSERT_EQ(sink.outcomes.size(), r.size());
      EXPECT_EQ(s.hits + s.misses, s.requests);
      EXPECT_LE(s.peak_used_bytes, c.memory_bytes);
      double last_own_load = -1.0;
      std::vector<double> model_load(models.size(), -1.0);  // each model's latest load start
      for (std::size_t i = 0; i < r.size(); ++i) {
        const RequestTimeline& tl = sink.outcomes[i].timeline;
        EXPECT_EQ(sink.outcomes[i].index, i);
        EXPECT_DOUBLE_EQ(tl.arrival_s, r[i].first);
        EXPECT_GE(tl.start_s, tl.arrival_s);
        EXPECT_GE(tl.end_s, tl.start_s);
        if (tl.hit) continue;
        EXPECT_GE(tl.start_s, tl.ready_s);
        double& seen = model_load[r[i].second];
        if (tl.load_start_s != seen) {  // the first request of a load, not one sharing it
          seen = tl.load_start_s;
          if (!prefetch && tl.load_start_s < last_own_load) ++passes;
          last_own_load = std::max(last_own_load, tl.load_start_s);
        }
      }
    }
  }
  EXPECT_GT(passes, 0);  // 0 while admissions kept arrival order (a prefetch shared is earlier)
}

// A model's first load in the process is isolated, as the server measures it (docs/server.md,
// "Measured bytes under load"): it waits for the running inference, and no inference starts
// until it is done. A (load 2), B (load 3), C (load 1), exec 1 each, memory 2:
//  r0 A@0: load 0..2, exec 2..3.
//  r1 B@2.5: first load; waits for r0's inference (queue 2.5..3), loads 3..6.
//  r2 A@3.5, a hit: nothing starts during B's load, so it runs 6..7 (queue 2.5); r1 then 7..8.
//  r3 C@10: evicts B (least recently requested); first load 10..11, exec 11..12.
//  r4 B@20: evicts A; B was loaded before: load 20..23 beside the traffic, so
//  r5 C@20.5, a hit, runs at once: 20.5..21.5. r4 runs 23..24.
const ModelTable kFirstLoadModels = {model("A", 1, 2.0, 1.0), model("B", 1, 3.0, 1.0),
                                     model("C", 1, 1.0, 1.0)};

// The trace both first-load examples run: lru, memory 2, --parallel-load, first loads isolated
// or not.
SimSummary run_first_load_example(bool isolated, CollectingSink& sink) {
  const CompactTrace trace = make_trace(
      {{0.0, 0}, {2.5, 1}, {3.5, 0}, {10.0, 2}, {20.0, 1}, {20.5, 2}}, kFirstLoadModels.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  c.isolated_first_loads = isolated;
  return simulate(kFirstLoadModels, trace, c, &sink);
}

TEST(SimExamples, ParallelLoadIsolatesEachModelsFirstLoad) {
  const ModelTable& models = kFirstLoadModels;
  CollectingSink sink;
  run_first_load_example(true, sink);
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  ASSERT_EQ(sink.outcomes.size(), 6u);
  const double start[] = {2.0, 7.0, 6.0, 11.0, 23.0, 20.5};
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_DOUBLE_EQ(sink.outcomes[i].timeline.start_s, start[i]) << i;
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.load_start_s, 3.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.ready_s, 6.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.load_delay_s, 3.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.queue_delay_s, 1.5);
  EXPECT_TRUE(sink.outcomes[2].timeline.hit);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].delays.queue_delay_s, 2.5);
  EXPECT_FALSE(sink.outcomes[4].timeline.hit);
  EXPECT_DOUBLE_EQ(sink.outcomes[4].timeline.load_start_s, 20.0);
  EXPECT_TRUE(sink.outcomes[5].timeline.hit);
  EXPECT_DOUBLE_EQ(sink.outcomes[5].delays.queue_delay_s, 0.0);
  // Back to back: A@0 loads 0..2; B@1's first load is queued behind it. The request A's load
  // readied was queued in the scheduler and starts at once (2..3), and B's load waits for it
  // (3..6), as the server's loader waits for running inferences; a hit on A@2.5 arrives during
  // B's load and runs after it (6..7), then B's request (7..8).
  const CompactTrace back_to_back = make_trace({{0.0, 0}, {1.0, 1}, {2.5, 0}}, models.size());
  sink.outcomes.clear();
  simulate(models, back_to_back, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 3u);
  EXPECT_DOUBLE_EQ(sink.outcomes[0].timeline.start_s, 2.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.load_start_s, 3.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.ready_s, 6.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].timeline.start_s, 6.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.start_s, 7.0);
  // Two requests readied by A's load (A@0, A@0.5) when B's first load is taken at 2: the first
  // starts at once (2..3) and B's load waits for it (3..6); the second, runnable but not started
  // (the lane busy), waits for the whole load (6..7), as the server's second request waits at
  // the activity gate; then B's request (7..8).
  const CompactTrace two_ready = make_trace({{0.0, 0}, {0.5, 0}, {1.0, 1}}, models.size());
  sink.outcomes.clear();
  simulate(models, two_ready, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 3u);
  EXPECT_DOUBLE_EQ(sink.outcomes[0].timeline.start_s, 2.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].timeline.load_start_s, 3.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].timeline.ready_s, 6.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.ready_s, 2.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.start_s, 6.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.queue_delay_s, 4.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].timeline.start_s, 7.0);
}

// The same trace with first loads beside inferences (a server given the profiled sizes, `serve
// --first-loads concurrent`): no first load waits for an inference or holds one back.
//  r0 A@0: load 0..2, exec 2..3.
//  r1 B@2.5: loads at once 2.5..5.5 (beside r0's inference), exec 5.5..6.5.
//  r2 A@3.5, a hit: runs at once, 3.5..4.5 (queue 0).
//  r3 C@10: evicts B; load 10..11, exec 11..12. r4 and r5 as with isolated first loads.
TEST(SimExamples, ParallelLoadWithConcurrentFirstLoadsRunsThemBesideInferences) {
  CollectingSink sink;
  const SimSummary summary = run_first_load_example(false, sink);
  EXPECT_FALSE(summary.isolated_first_loads);
  ASSERT_EQ(sink.outcomes.size(), 6u);
  const double start[] = {2.0, 5.5, 3.5, 11.0, 23.0, 20.5};
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_DOUBLE_EQ(sink.outcomes[i].timeline.start_s, start[i]) << i;
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.load_start_s, 2.5);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].timeline.ready_s, 5.5);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.load_delay_s, 3.0);
  EXPECT_DOUBLE_EQ(sink.outcomes[1].delays.queue_delay_s, 0.0);
  EXPECT_TRUE(sink.outcomes[2].timeline.hit);
  EXPECT_DOUBLE_EQ(sink.outcomes[2].delays.queue_delay_s, 0.0);
}

// --parallel-load with profiled interference. A and B: load 2, exec 1; beside a load an
// inference takes 2 (x2), beside inferences a load takes 3 (x1.5); the first inference after a
// load takes 1.5 (+0.5). B and C were loaded before (B@0, C@10; memory 2), each load isolated and
// each first inference 1.5; then, 20 s on, requests A@20, A@24, B@24, A@25:
//  r2 A miss (evicts B): a first load, isolated: 20..22, first inference 22..23.5.
//  r3 A@24 hit: 24..25.
//  r4 B@24 miss (evicts C): its load starts at 24 beside r3 (busy until 25): 1 s at x1.5 does 2/3
//     of the work, the remaining 4/3 alone, but for inferences not yet placed: the lane was busy
//     1.5 s of the 5 s before 24 (r2), so those 4/3 s take (1 + 0.5 * 0.3) longer, 0.2 s more:
//     ready at 25 + 4/3 + 0.2. First inference (1.5) after r5.
//  r5 A@25 hit: runs from 25 beside B's load (until 25 + 4/3 + 0.2): that long at x2 does
//     2/3 + 0.1 of its work, the rest alone: ends at 26 + 2/3 + 0.1. Then r4 runs 1.5 more.
TEST(SimExamples, ParallelLoadUsesProfiledInterference) {
  const ModelTable models = {model("A", 1, 2.0, 1.0), model("B", 1, 2.0, 1.0),
                             model("C", 1, 2.0, 1.0)};
  const CompactTrace trace =
      make_trace({{0.0, 1}, {10.0, 2}, {20.0, 0}, {24.0, 0}, {24.0, 1}, {25.0, 0}}, models.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  CollectingSink plain;
  const SimSummary without = simulate(models, trace, c, &plain);
  c.interference.assign(3, ModelInterference{2.0, 3.0, 1.5});
  CollectingSink sink;
  const SimSummary with = simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 6u);
  const double end[] = {3.5, 13.5, 23.5, 25.0, 26.0 + 2.0 / 3 + 0.1 + 1.5, 26.0 + 2.0 / 3 + 0.1};
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(sink.outcomes[i].timeline.end_s, end[i], 1e-9) << i;
  EXPECT_NEAR(sink.outcomes[4].timeline.ready_s, 25.0 + 4.0 / 3 + 0.2, 1e-9);
  EXPECT_NEAR(sink.outcomes[4].delays.load_delay_s, 7.0 / 3 + 0.2, 1e-9);
  EXPECT_NEAR(sink.outcomes[5].delays.exec_s, 5.0 / 3 + 0.1, 1e-9);
  // Without the figures (an older catalog): the catalog's latencies as they are.
  const double plain_end[] = {3.0, 13.0, 23.0, 25.0, 27.0, 26.0};
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_DOUBLE_EQ(plain.outcomes[i].timeline.end_s, plain_end[i]) << i;
  EXPECT_GT(with.total_exec_s, without.total_exec_s);
  // All-zero figures change nothing; the serial mode ignores them.
  c.interference.assign(3, ModelInterference{});
  EXPECT_EQ(simulate(models, trace, c).latency_cdf, without.latency_cdf);
  SimConfig serial = config("lru", 2, true);
  const SimSummary serial_plain = simulate(models, trace, serial);
  serial.interference.assign(3, ModelInterference{2.0, 3.0, 1.5});
  EXPECT_EQ(simulate(models, trace, serial).latency_cdf, serial_plain.latency_cdf);
}

// Cold inferences (--parallel-load with the profile's exec_cold_s): an inference after another
// model's on the lane takes the cold figure (3), one after its own model's the steady one (1);
// the first after a load takes its first-inference figure (none here: 1). Memory 2, loads 1,
// requests far apart: A@0 (load, first) 1, B@10 (load, first) 1, A@20 after B 3, A@30 after A 1,
// B@40 after A 3.
TEST(SimExamples, ParallelLoadChargesColdInferencesAfterAnotherModels) {
  const ModelTable models = {model("A", 1, 1.0, 1.0), model("B", 1, 1.0, 1.0)};
  const CompactTrace trace =
      make_trace({{0.0, 0}, {10.0, 1}, {20.0, 0}, {30.0, 0}, {40.0, 1}}, models.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  ModelInterference cold;
  cold.exec_cold_s = 3.0;
  c.interference.assign(2, cold);
  CollectingSink sink;
  simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 5u);
  const double exec[] = {1.0, 1.0, 3.0, 1.0, 3.0};
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_NEAR(sink.outcomes[i].delays.exec_s, exec[i], 1e-9) << i;
  // Serial mode ignores it.
  SimConfig serial = config("lru", 2, true);
  serial.interference.assign(2, cold);
  CollectingSink serial_sink;
  simulate(models, trace, serial, &serial_sink);
  for (const auto& outcome : serial_sink.outcomes) EXPECT_DOUBLE_EQ(outcome.delays.exec_s, 1.0);
}

// With the profile's pause recorded (exec_cold_pause_s, 20 here), the cold extra (2) grows with
// the lane's idle time before the inference, up to the pause, whichever model ran before: A@0
// (load 0-1, first) runs 1-2, B@10 (load 10-11) 11-12, A@20 after 8 idle: 1 + 2 x 8/20 = 1.8
// (ends 21.8); A@30, after its own model's and 8.2 idle: 1.82 (ends 31.82); B@40 after 8.18
// idle: 1.818 (ends 41.818); B@41 and A@42 wait for it and run with no idle: 1 each.
TEST(SimExamples, ParallelLoadScalesTheColdExtraByTheIdleTimeUpToTheProfilesPause) {
  const ModelTable models = {model("A", 1, 1.0, 1.0), model("B", 1, 1.0, 1.0)};
  const CompactTrace trace = make_trace(
      {{0.0, 0}, {10.0, 1}, {20.0, 0}, {30.0, 0}, {40.0, 1}, {41.0, 1}, {42.0, 0}}, models.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  ModelInterference cold;
  cold.exec_cold_s = 3.0;
  cold.exec_cold_pause_s = 20.0;
  c.interference.assign(2, cold);
  CollectingSink sink;
  simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 7u);
  const double exec[] = {1.0, 1.0, 1.8, 1.82, 1.818, 1.0, 1.0};
  for (std::size_t i = 0; i < 7; ++i)
    EXPECT_NEAR(sink.outcomes[i].delays.exec_s, exec[i], 1e-9) << i;
  // No pause recorded (an older catalog): the whole extra, whatever the idle time, and only after
  // another model's inference.
  cold.exec_cold_pause_s = 0.0;
  c.interference.assign(2, cold);
  CollectingSink whole;
  simulate(models, trace, c, &whole);
  const double charged[] = {1.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0};
  for (std::size_t i = 0; i < 7; ++i)
    EXPECT_NEAR(whole.outcomes[i].delays.exec_s, charged[i], 1e-9) << i;
}

// Fresh memory (--parallel-load with a profiled catalog, the loads' peaks unknown): loads 1 s into
// memory the process held, 3 s into fresh pages (first_load_s); memory 2 bytes. Requests far apart,
// so nothing overlaps. Each model's first load of the run is charged as fresh, later ones as warm:
//  r0 B(1 byte)@0: first -> 3.  r1 A(2)@10: first -> 3.  r2 B@20 -> 1.
//  r3 C(2)@30: first (though A's unload freed its room) -> 3.  r4 A@40 -> 1.
// A rule charging only the models' resident bytes past the high-water mark (C's first load as
// warm) left the simulator 23-34% low on load delay; the rule with the loads' peaks is the next
// test (docs/fidelity.md).
TEST(SimExamples, ParallelLoadChargesEachModelsFirstLoadAsFresh) {
  const ModelTable models = {model("A", 2, 1.0, 1.0), model("B", 1, 1.0, 1.0),
                             model("C", 2, 1.0, 1.0)};
  const CompactTrace trace =
      make_trace({{0.0, 1}, {10.0, 0}, {20.0, 1}, {30.0, 2}, {40.0, 0}}, models.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  c.interference.assign(3, ModelInterference{0.0, 0.0, 0.0, 3.0});
  CollectingSink sink;
  simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 5u);
  const double load[] = {3.0, 3.0, 1.0, 3.0, 1.0};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(sink.outcomes[i].delays.load_delay_s, load[i], 1e-9) << i;
    EXPECT_NEAR(sink.outcomes[i].delays.exec_s, 1.0, 1e-9) << i;
  }
}

// Fresh memory by the heap's high-water mark (the loads' peaks known): a load is fresh (3 s)
// for the part of its peak above the most the process has held, warm (1 s) below it. Memory 2;
// A: 1 byte, peak 2; B: 1, peak 1; C: 2, peak 2; D: 1, peak 4. Requests far apart:
//  r0 A@0: nothing held yet, top 0 + 2: all fresh -> 3 (high-water 2).
//  r1 B@10: A resident, top 1 + 1 <= 2: warm, though B's first load -> 1.
//  r2 C@20: evicts A and B, top 0 + 2: warm -> 1.  r3 A@30: evicts C, top 2: warm -> 1.
//  r4 D@40: A resident, top 1 + 4: 3 of its 4 bytes above 2 -> 1 + 0.75 * 2 = 2.5.
TEST(SimExamples, ParallelLoadChargesFreshPagesAboveTheHeapsHighWaterMark) {
  const ModelTable models = {model("A", 1, 1.0, 1.0), model("B", 1, 1.0, 1.0),
                             model("C", 2, 1.0, 1.0), model("D", 1, 1.0, 1.0)};
  const CompactTrace trace =
      make_trace({{0.0, 0}, {10.0, 1}, {20.0, 2}, {30.0, 0}, {40.0, 3}}, models.size());
  SimConfig c = config("lru", 2, true);
  c.parallel_load = true;
  c.interference.assign(4, ModelInterference{0.0, 0.0, 0.0, 3.0});
  c.load_heap_bytes = {2, 1, 2, 4};
  CollectingSink sink;
  simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 5u);
  const double load[] = {3.0, 1.0, 1.0, 1.0, 2.5};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(sink.outcomes[i].delays.load_delay_s, load[i], 1e-9) << i;
  }
}

// Two workers of one byte each. A: load 1, B: load 2, C: load 1; exec 1 each.
//  r0 A@0 -> worker 0 (both free, lowest index), completes 2.
//  r1 B@0 -> worker 1 (the only free space), completes 3.
//  r2 C@0: both workers' models are pinned; waits for the earliest completion (worker 0 at 2),
//     evicts A there, loads C 2..3, exec 3..4.
//  r3 A@5: nothing pinned; no free space; evicts on the worker whose queue empties first
//     (worker 1, free at 3): loads A 5..6, exec 6..7.
TEST(SimExamples, WorkersRouteToHolderFreeSpaceThenEarliestQueue) {
  const ModelTable models = {model("A", 1, 1.0, 1.0), model("B", 1, 2.0, 1.0),
                             model("C", 1, 1.0, 1.0)};
  const CompactTrace trace =
      make_trace({{0.0, 0}, {0.0, 1}, {0.0, 2}, {5.0, 0}, {5.5, 2}}, models.size());
  SimConfig c = config("lru", 1, true);
  c.workers = 2;
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, c, &sink);
  ASSERT_EQ(sink.outcomes.size(), 5u);
  const std::uint32_t worker[] = {0, 1, 0, 1, 0};
  const double completion[] = {2.0, 3.0, 4.0, 7.0, 6.5};
  const bool hits[] = {false, false, false, false, true};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(sink.outcomes[i].worker, worker[i]) << i;
    EXPECT_DOUBLE_EQ(sink.outcomes[i].timeline.end_s, completion[i]) << i;
    EXPECT_EQ(sink.outcomes[i].timeline.hit, hits[i]) << i;
  }
  EXPECT_DOUBLE_EQ(sink.outcomes[2].delays.queue_delay_s, 2.0);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.peak_used_bytes, 2u);
}

TEST(SimExamples, PureCacheWorkersSpreadByFreeBytes) {
  const ModelTable models = abc_models();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 1, 2}, models.size());
  SimConfig c = config("lru", 1, false);
  c.workers = 2;
  CollectingSink sink;
  const SimSummary s = simulate(models, trace, c, &sink);
  EXPECT_EQ(s.hits, 2u);  // A on worker 0, B on worker 1, both hit again
  EXPECT_EQ(sink.outcomes[0].worker, 0u);
  EXPECT_EQ(sink.outcomes[1].worker, 1u);
  EXPECT_EQ(sink.outcomes[4].worker, 0u);  // no free space: evicts on the lowest index
  EXPECT_EQ(s.evictions, 1u);
}

TEST(SimExamples, SampledLatenciesAreSeededAndCentredOnProfiles) {
  ModelTable models;
  for (int m = 0; m < 20; ++m) models.push_back(model("m" + std::to_string(m), 10, 1.0 + m, 0.5));
  std::vector<ModelId> ids;
  for (int i = 0; i < 20000; ++i) ids.push_back(static_cast<ModelId>((i * 7919) % 20));
  const CompactTrace trace = make_trace(ids, models.size());
  SimConfig c = config("lru", 100, false);
  c.latency_mode = LatencyMode::kSampled;
  c.latency_cv = 0.2;
  c.seed = 7;
  const SimSummary a = simulate(models, trace, c);
  const SimSummary b = simulate(models, trace, c);
  EXPECT_EQ(a.total_load_delay_s, b.total_load_delay_s);
  EXPECT_EQ(a.total_exec_s, b.total_exec_s);
  EXPECT_EQ(a.latency_cdf, b.latency_cdf);
  c.seed = 8;
  const SimSummary other = simulate(models, trace, c);
  EXPECT_NE(a.total_exec_s, other.total_exec_s);
  // Hits and misses do not depend on latencies in pure cache mode; means stay near the profile.
  EXPECT_EQ(a.hits, other.hits);
  EXPECT_NEAR(a.mean_exec_s(), 0.5, 0.01);
  const SimSummary profiled = simulate(models, trace, config("lru", 100, false));
  EXPECT_NEAR(a.total_load_delay_s / profiled.total_load_delay_s, 1.0, 0.05);
  EXPECT_DOUBLE_EQ(a.load_cost_s, profiled.load_cost_s);  // the cost uses the profile
}

TEST(SimExamples, BadConfigurationsAreUsageErrors) {
  const ModelTable models = abc_models();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1}, models.size());
  EXPECT_THROW(simulate(models, trace, config("no-such-policy", 2, false)), UsageError);
  EXPECT_THROW(simulate(models, trace, config("lru", 0, false)), UsageError);
  SimConfig c = config("lru", 2, true);
  c.workers = 0;
  EXPECT_THROW(simulate(models, trace, c), UsageError);
  const ModelTable big = {model("huge", 100, 1.0, 1.0)};
  const CompactTrace one = make_trace(std::vector<ModelId>{0}, 1);
  EXPECT_THROW(simulate(big, one, config("lru", 99, true)), UsageError);
  try {
    simulate(big, one, config("lru", 99, false));
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("huge"), std::string::npos);
  }
}

}  // namespace
