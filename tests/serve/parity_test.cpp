// Decide offline, run online: the same trace through the simulator (pure cache mode) and through
// the server's scheduler (one execution thread, requests one at a time, each carrying its place
// and time in the trace, as `brulee replay` sends them) makes the same decisions: the same hit or
// miss for every request, the same loads, the same number of evictions, for every deterministic
// policy (docs/fidelity.md, "Parity").
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "core/policy.hpp"
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

// Eight models of different sizes and load costs; a skewed, bursty trace over them.
Workload make_workload(std::uint64_t seed, std::size_t requests) {
  Workload w;
  for (int i = 0; i < 8; ++i) {
    ModelInfo m;
    m.name = "m" + std::to_string(i);
    m.size_bytes = static_cast<std::uint64_t>(1 + (i * 3) % 7) * kMiB;
    m.load_latency_s = 0.01 * static_cast<double>(1 + (i * 5) % 9);
    m.exec_latency_s = 0.001;
    m.unload_latency_s = 0.0;
    w.catalog.push_back(m);
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

}  // namespace
}  // namespace brulee::serve::testing
