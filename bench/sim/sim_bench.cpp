// Simulator throughput on a 20M-request Zipf(1.0) trace over 10,000 models, built in memory
// (sizes 10-550 MB, load latency ~ size, like the paper's profiles). Memory = 10% of the
// footprint. Items processed = requests, so Google Benchmark prints requests per second.
//   build/sim/bench/sim/bench_sim --benchmark_repetitions=3 --benchmark_report_aggregates_only
// BRULEE_BENCH_REQUESTS overrides the trace length. BM_Sweep8x10 is the whole sweep (2 threads);
// BM_SweepRun is its runs one at a time (which policies and sizes dominate).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "sim/offline_bound.hpp"
#include "sim/simulator.hpp"
#include "sim/sweep.hpp"

using namespace brulee;
using namespace brulee::sim;

namespace {

struct Workload {
  ModelTable models;
  CompactTrace trace;
  std::uint64_t footprint = 0;
};

const Workload& workload() {
  static const Workload w = [] {
    Workload out;
    const std::size_t model_count = 10000;
    std::size_t requests = 20'000'000;
    if (const char* text = std::getenv("BRULEE_BENCH_REQUESTS"))
      requests = std::strtoull(text, nullptr, 10);
    Rng rng(42);
    for (std::size_t m = 0; m < model_count; ++m) {
      const auto size = static_cast<std::uint64_t>((10 + rng.uniform() * 540) * 1e6);
      const double load = 0.5 + static_cast<double>(size) / 1e8 * (0.5 + rng.uniform());
      out.models.push_back({"m" + std::to_string(m), size, load, 0.05 + rng.uniform() * 0.5, 0.01});
      out.footprint += size;
    }
    std::vector<double> cdf(model_count);
    double sum = 0;
    for (std::size_t m = 0; m < model_count; ++m) cdf[m] = sum += 1.0 / static_cast<double>(m + 1);
    // Popularity rank independent of id (a random permutation). Poisson arrivals at 0.5/s: one
    // worker serves ~1 request/s here, so the queue stays stable (an overloaded FIFO grows
    // without bound and pins every model; docs/simulator.md).
    std::vector<ModelId> rank_to_model(model_count);
    for (std::size_t m = 0; m < model_count; ++m) rank_to_model[m] = static_cast<ModelId>(m);
    for (std::size_t m = model_count; m-- > 1;)
      std::swap(rank_to_model[m], rank_to_model[rng.below(m + 1)]);
    out.trace.model.reserve(requests);
    out.trace.time_s.reserve(requests);
    double time_s = 0;
    for (std::size_t i = 0; i < requests; ++i) {
      const double u = rng.uniform() * sum;
      const auto rank =
          static_cast<std::size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
      time_s += rng.exponential(0.5);
      out.trace.push_back(rank_to_model[std::min(rank, model_count - 1)], time_s);
    }
    compute_next_use(out.trace, model_count);
    return out;
  }();
  return w;
}

void run_one(benchmark::State& state, const char* policy, bool queueing) {
  const Workload& w = workload();
  SimConfig config;
  config.policy = policy;
  config.queueing = queueing;
  config.memory_bytes = w.footprint / 10;
  double hit_ratio = 0;
  for (auto _ : state) {
    const SimSummary s = simulate(w.models, w.trace, config);
    hit_ratio = s.hit_ratio();
    benchmark::DoNotOptimize(s.total_load_delay_s);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.trace.size()));
  state.counters["hit_ratio"] = hit_ratio;
}

void BM_NoQueueing_Lru(benchmark::State& s) { run_one(s, "lru", false); }
void BM_NoQueueing_CremeBrulee(benchmark::State& s) { run_one(s, "cremebrulee", false); }
void BM_Queueing_Lru(benchmark::State& s) { run_one(s, "lru", true); }
void BM_Queueing_CremeBrulee(benchmark::State& s) { run_one(s, "cremebrulee", true); }
BENCHMARK(BM_NoQueueing_Lru)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NoQueueing_CremeBrulee)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Queueing_Lru)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Queueing_CremeBrulee)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_OfflineBound(benchmark::State& state) {
  const Workload& w = workload();
  for (auto _ : state) {
    const OfflineBound bound(w.models, w.trace);
    benchmark::DoNotOptimize(bound.lower_bound_s(w.footprint / 10));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.trace.size()));
}
BENCHMARK(BM_OfflineBound)->Unit(benchmark::kMillisecond)->UseRealTime();

// 8 policies x 10 memory sizes (5%..50% of the footprint), both cores, with the bound.
void BM_Sweep8x10(benchmark::State& state) {
  const Workload& w = workload();
  SweepSpec spec;
  spec.policies = {"lru", "lfu", "random", "fifo", "gdsf", "sieve", "cremebrulee", "belady"};
  for (int k = 1; k <= 10; ++k)
    spec.memory_bytes.push_back(w.footprint / 20 * static_cast<std::uint64_t>(k));
  spec.base.queueing = state.range(0) != 0;
  spec.threads = 2;
  for (auto _ : state) benchmark::DoNotOptimize(run_sweep(w.models, w.trace, spec).size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.trace.size() * 80));
}
BENCHMARK(BM_Sweep8x10)->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

// One run of the sweep: policy (index into the sweep's list) x memory (k * 5% of the footprint),
// queueing mode. Shows which runs dominate the sweep.
void BM_SweepRun(benchmark::State& state) {
  static const char* const kPolicies[] = {"lru",  "lfu",   "random",      "fifo",
                                          "gdsf", "sieve", "cremebrulee", "belady"};
  const Workload& w = workload();
  SimConfig config;
  config.policy = kPolicies[state.range(0)];
  config.queueing = true;
  config.memory_bytes = w.footprint / 20 * static_cast<std::uint64_t>(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(simulate(w.models, w.trace, config).hits);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.trace.size()));
  state.SetLabel(config.policy);
}
BENCHMARK(BM_SweepRun)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7}, {1, 5, 10}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
