// Decide offline, run online: the same trace through the simulator (pure cache mode) and through
// the server's scheduler (one execution thread, requests one at a time, each carrying its place
// and time in the trace, as `brulee replay` sends them) makes the same decisions: the same hit or
// miss for every request, the same loads, the same number of evictions, for every deterministic
// policy (docs/fidelity.md, "Parity").
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/policy.hpp"
#include "core/prefetcher.hpp"
#include "core/rng.hpp"
#include "fake_model.hpp"
#include "sim/compact_trace.hpp"
#include "sim/simulator.hpp"

namespace brulee::serve::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

struct Workload {
  ModelTable catalog;
  sim::CompactTrace trace;
};

// Model i of the test catalogs: 1-7 MiB, loads of 10-90 ms.
ModelInfo model_number(int i) {
  ModelInfo m;
  m.name = "m" + std::to_string(i);
  m.size_bytes = static_cast<std::uint64_t>(1 + (i * 3) % 7) * kMiB;
  m.load_latency_s = 0.01 * static_cast<double>(1 + (i * 5) % 9);
  m.exec_latency_s = 0.001;
  m.unload_latency_s = 0.0;
  return m;
}

// Eight models of different sizes and load costs; a skewed, bursty trace over them.
Workload make_workload(std::uint64_t seed, std::size_t requests) {
  Workload w;
  for (int i = 0; i < 8; ++i) {
    w.catalog.push_back(model_number(i));
  }
  Rng rng(seed);
  double time = 0.0;
  for (std::size_t r = 0; r < requests; ++r) {
    // Popularity halves from model to model; gaps alternate between bursts and pauses.
    std::uint32_t model = 0;
    while (model < 7 && rng.below(2) == 1) ++model;
    time += (r / 40) % 2 ? 0.5 * rng.uniform() : 0.01 * rng.uniform();
    w.trace.push_back(model, time);
  }
  sim::compute_next_use(w.trace, w.catalog.size());
  return w;
}

// `count` models whose popularity falls geometrically (1 in `stop` requests stops at each
// model), and a timer "t" (the last model) firing every 10 s with 10 ms of jitter.
Workload make_timer_workload(std::uint64_t seed, std::size_t requests, int count, int stop) {
  Workload w;
  for (int i = 0; i < count; ++i) {
    w.catalog.push_back(model_number(i));
  }
  ModelInfo timer_model = model_number(count);
  timer_model.name = "t";
  w.catalog.push_back(timer_model);
  const auto timer = static_cast<std::uint32_t>(w.catalog.size() - 1);
  Rng rng(seed);
  double time = 0.0, next_fire = 1.0;
  for (std::size_t r = 0; r < requests; ++r) {
    std::uint32_t model = 0;
    while (model + 1 < static_cast<std::uint32_t>(count) && rng.below(stop) != 0) ++model;
    time += 0.05 * rng.uniform();
    if (next_fire <= time) {
      w.trace.push_back(timer, next_fire);
      next_fire += 10.0 + 0.02 * (rng.uniform() - 0.5);
    }
    w.trace.push_back(model, time);
  }
  sim::compute_next_use(w.trace, w.catalog.size());
  return w;
}

class Hits : public sim::OutcomeSink {
 public:
  void on_outcome(const sim::RequestOutcome& outcome) override {
    hits.push_back(outcome.timeline.hit);
  }
  std::vector<bool> hits;
};

struct ServerRun {
  std::vector<bool> hits;
  std::uint64_t loads = 0, evictions = 0;
};

ServerRun run_server(const Workload& w, const std::string& policy, std::uint64_t memory) {
  FakeLoader loader;
  std::vector<ServedModel> models;
  for (const auto& m : w.catalog) {
    ServedModel served;
    served.name = m.name;
    served.platform = "fake";
    served.path = m.name;
    served.estimate_bytes = m.size_bytes;
    served.load_latency_s = m.load_latency_s;  // the catalog's costs...
    served.exec_latency_s = m.exec_latency_s;
    models.push_back(served);
  }
  SchedulerOptions options;
  options.memory_bytes = memory;
  options.policy = policy;
  options.policy_options.seed = 1;  // as the simulator's (SimConfig::seed): the same draws
  options.exec_threads = 1;
  options.loader_threads = 1;
  options.ewma_alpha = 0.0;  // ...kept: the fake's measured load times would change them
  ServerRun run;
  std::mutex mutex;
  Scheduler scheduler(models, loader, options, [&](const SchedulerEvent& event) {
    std::lock_guard lock(mutex);
    if (event.kind == SchedulerEvent::Kind::kLoaded) ++run.loads;
    if (event.kind == SchedulerEvent::Kind::kEvicted) ++run.evictions;
  });
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  for (std::size_t i = 0; i < w.trace.size(); ++i) {
    OracleHint hint;
    hint.index = i;
    hint.next_index = w.trace.next_use[i] == sim::kNoNextUse ? kNeverAgain : w.trace.next_use[i];
    hint.time_s = w.trace.time_s[i];
    std::vector<runtime::Tensor> inputs{
        {"x", runtime::DType::kFloat32, {1}, std::vector<std::byte>(sizeof(float))}};
    const InferOutcome outcome =
        scheduler.submit(w.trace.model[i], std::move(inputs), deadline, hint).get();
    EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
    run.hits.push_back(outcome.hit);
  }
  scheduler.stop();
  return run;
}

TEST(Parity, SimulatorAndServerMakeTheSameDecisions) {
  const Workload w = make_workload(7, 600);
  std::uint64_t footprint = 0;
  for (const auto& m : w.catalog) footprint += m.size_bytes;
  int compared = 0;
  for (const PolicyFactory& factory : policy_factories()) {
    const std::string policy = factory.name;
    for (const double fraction : {0.3, 0.6}) {
      const auto memory = static_cast<std::uint64_t>(fraction * static_cast<double>(footprint));
      sim::SimConfig config;
      config.policy = policy;
      config.memory_bytes = memory;
      config.queueing = false;
      Hits simulated;
      const sim::SimSummary summary = sim::simulate(w.catalog, w.trace, config, &simulated);
      const ServerRun served = run_server(w, policy, memory);
      ASSERT_EQ(served.hits.size(), simulated.hits.size());
      std::size_t first_difference = served.hits.size();
      for (std::size_t i = 0; i < served.hits.size(); ++i) {
        if (served.hits[i] != simulated.hits[i]) {
          first_difference = i;
          break;
        }
      }
      EXPECT_EQ(first_difference, served.hits.size())
          << policy << " at " << fraction << ": first different request " << first_difference;
      EXPECT_EQ(served.loads, summary.loads) << policy << " at " << fraction;
      EXPECT_EQ(served.evictions, summary.evictions) << policy << " at " << fraction;
      EXPECT_GT(summary.evictions, 0u) << policy << " at " << fraction;
      ++compared;
    }
  }
  EXPECT_GE(compared, 20);
}

// ---- With prefetching (docs/prefetch.md, "Parity") ----
// Each side's sequence of steps: "evict m", "load m" (a demand load) and "prefetch m", each
// load after the evictions made for it.
using Steps = std::vector<std::string>;

// The simulator's side: evictions and decisions from the prefetcher, demand loads from the misses.
class SimSteps : public sim::OutcomeSink, public Prefetcher::Observer {
 public:
  explicit SimSteps(const ModelTable& catalog) : catalog_(catalog) {}
  void on_chosen(ModelId model, std::span<const ModelId> victims, double) override {
    prefetch_ = model;
    victims_left_ = victims.size();
    if (victims_left_ == 0) flush();
  }
  void on_evicted(ModelId model) override {
    steps.push_back("evict " + catalog_[model].name);
    if (prefetch_ != kNoModel && --victims_left_ == 0) flush();
  }
  void on_outcome(const sim::RequestOutcome& outcome) override {
    hits.push_back(outcome.timeline.hit);
    if (!outcome.timeline.hit) steps.push_back("load " + catalog_[outcome.model].name);
  }
  Steps steps;
  std::vector<bool> hits;

 private:
  void flush() {
    steps.push_back("prefetch " + catalog_[prefetch_].name);
    prefetch_ = kNoModel;
  }
  const ModelTable& catalog_;
  ModelId prefetch_ = kNoModel;
  std::size_t victims_left_ = 0;
};

struct ServerSteps {
  Steps steps;
  std::vector<bool> hits;
  PrefetchCounters counters;
};

// The server's side, from its events: requests one at a time with their trace index and time;
// after each, the decisions it takes (the loader is idle) run to their end before the next.
ServerSteps run_server_prefetching(const Workload& w, const std::string& policy,
                                   std::uint64_t memory) {
  FakeLoader loader;
  std::vector<ServedModel> models;
  for (const auto& m : w.catalog) {
    ServedModel served;
    served.name = m.name;
    served.platform = "fake";
    served.path = m.name;
    served.estimate_bytes = m.size_bytes;
    served.load_latency_s = m.load_latency_s;
    served.exec_latency_s = m.exec_latency_s;
    models.push_back(served);
  }
  SchedulerOptions options;
  options.memory_bytes = memory;
  options.policy = policy;
  options.exec_threads = 1;
  options.loader_threads = 1;
  options.ewma_alpha = 0.0;  // the catalog's costs stay (the simulator's)
  options.prefetch = true;
  ServerSteps run;
  std::mutex mutex;
  Scheduler scheduler(models, loader, options, [&](const SchedulerEvent& event) {
    std::lock_guard lock(mutex);
    if (event.kind == SchedulerEvent::Kind::kEvicted) run.steps.push_back("evict " + event.model);
    if (event.kind == SchedulerEvent::Kind::kLoadStart) {
      run.steps.push_back((event.detail == "prefetch" ? "prefetch " : "load ") + event.model);
    }
  });
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  for (std::size_t i = 0; i < w.trace.size(); ++i) {
    OracleHint hint;
    hint.index = i;
    hint.time_s = w.trace.time_s[i];
    std::vector<runtime::Tensor> inputs{
        {"x", runtime::DType::kFloat32, {1}, std::vector<std::byte>(sizeof(float))}};
    const InferOutcome outcome =
        scheduler.submit(w.trace.model[i], std::move(inputs), deadline, hint).get();
    EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
    run.hits.push_back(outcome.hit);
    EXPECT_TRUE(scheduler.wait_prefetch_settled(std::chrono::minutes(1)));
  }
  scheduler.stop();
  run.counters = *scheduler.snapshot().prefetch;
  return run;
}

TEST(Parity, WithPrefetchingTheServerLoadsAndEvictsAsTheSimulator) {
  const Workload w = make_workload(11, 400);
  std::uint64_t footprint = 0;
  for (const auto& m : w.catalog) footprint += m.size_bytes;
  std::uint64_t prefetches = 0, evicting = 0, warm_ups = 0;
  for (const std::string policy : {"cremebrulee", "predictive"}) {
    for (const double fraction : {0.35, 0.6}) {
      const auto memory = static_cast<std::uint64_t>(fraction * static_cast<double>(footprint));
      SimSteps simulated(w.catalog);
      sim::SimConfig config;
      config.policy = policy;
      config.memory_bytes = memory;
      config.queueing = false;
      config.prefetch = true;
      config.prefetch_observer = &simulated;
      const sim::SimSummary summary = sim::simulate(w.catalog, w.trace, config, &simulated);
      const ServerSteps served = run_server_prefetching(w, policy, memory);
      const std::string where = policy + " at " + std::to_string(fraction);
      EXPECT_EQ(served.hits, simulated.hits) << where;
      // The server also decides after the last request (the simulator stops there): its
      // sequence is the simulator's, then prefetch steps only.
      ASSERT_GE(served.steps.size(), simulated.steps.size()) << where;
      std::size_t first_difference = simulated.steps.size();
      for (std::size_t k = 0; k < simulated.steps.size(); ++k) {
        if (served.steps[k] != simulated.steps[k]) {
          first_difference = k;
          break;
        }
      }
      EXPECT_EQ(first_difference, simulated.steps.size())
          << where << ": step " << first_difference << " is "
          << (first_difference < simulated.steps.size()
                  ? served.steps[first_difference] + " on the server, " +
                        simulated.steps[first_difference] + " in the simulator"
                  : "");
      for (std::size_t k = simulated.steps.size(); k < served.steps.size(); ++k) {
        EXPECT_NE(served.steps[k].rfind("load ", 0), 0u) << where << ": " << served.steps[k];
      }
      EXPECT_GE(served.counters.prefetches, summary.prefetches) << where;
      EXPECT_EQ(served.counters.prefetches_cancelled, 0u) << where;
      EXPECT_GT(summary.prefetches, 0u) << where;
      prefetches += summary.prefetches;
      // The warm-up's prefetches: a model's first step (never loaded before it).
      std::set<std::string> loaded;
      for (const std::string& step : simulated.steps) {
        const std::size_t space = step.find(' ');
        const std::string verb = step.substr(0, space), model = step.substr(space + 1);
        if (verb == "evict") continue;
        if (loaded.insert(model).second && verb == "prefetch") ++warm_ups;
      }
      evicting += static_cast<std::uint64_t>(
          std::count_if(simulated.steps.begin(), simulated.steps.end(),
                        [](const std::string& s) { return s.rfind("evict", 0) == 0; }));
    }
  }
  EXPECT_GT(prefetches, 20u);
  EXPECT_GT(evicting, 20u);
  EXPECT_GT(warm_ups, 0u);
}

// Server and simulator make the same loads, prefetches and evictions with a timer among many
// models (the timer is recognised, and prefetched).
void expect_timer_parity(const Workload& w, double fraction) {
  std::uint64_t footprint = 0;
  for (const auto& m : w.catalog) footprint += m.size_bytes;
  const auto memory = static_cast<std::uint64_t>(fraction * static_cast<double>(footprint));
  SimSteps simulated(w.catalog);
  sim::SimConfig config;
  config.policy = "cremebrulee";
  config.memory_bytes = memory;
  config.queueing = false;
  config.prefetch = true;
  config.prefetch_observer = &simulated;
  sim::simulate(w.catalog, w.trace, config, &simulated);
  const ServerSteps served = run_server_prefetching(w, "cremebrulee", memory);
  EXPECT_EQ(served.hits, simulated.hits);
  EXPECT_GE(served.steps.size(), simulated.steps.size());
  for (std::size_t k = 0; k < simulated.steps.size() && k < served.steps.size(); ++k) {
    if (served.steps[k] != simulated.steps[k]) {
      ADD_FAILURE() << "step " << k << ": " << served.steps[k] << " on the server, "
                    << simulated.steps[k] << " in the simulator";
      break;
    }
  }
  EXPECT_GT(std::count(simulated.steps.begin(), simulated.steps.end(), "prefetch t"), 3);
}

TEST(Parity, WithPrefetchingATimerIsPrefetchedAsInTheSimulator) {
  expect_timer_parity(make_timer_workload(5, 4000, 48, 5), 0.2);
}

// With 120 models (evictions churn through more than the prefetcher's 32-model ghost list)
// server and simulator still agree. Here, before the heap ordered equal keys by model
// (IndexedHeap::before), the sequences parted at step 79: the simulator and the server broke a
// tie between models never requested (a warm-up's, key 0) by their places in the heap, which
// the server's extra cost update had moved.
TEST(Parity, WithPrefetchingManyModelsAndATimerAsInTheSimulator) {
  expect_timer_parity(make_timer_workload(5, 4000, 120, 10), 0.2);
}

}  // namespace
}  // namespace brulee::serve::testing
