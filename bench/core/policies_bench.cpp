// Per-request cost of every policy: 10,000 models, a 1M-request Zipf(0.9) stream, memory at
// ~30% of the footprint. Reported as "per_request" (seconds per request; Google Benchmark
// prints it with an SI prefix, e.g. 45n = 45 ns).
//   build/release/bench/core/bench_policies [--benchmark_filter=lru]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/model_cache.hpp"
#include "core/next_use.hpp"
#include "core/rng.hpp"

namespace brulee {
namespace {

constexpr std::size_t kModels = 10000;
constexpr std::size_t kRequests = 1000000;
constexpr double kZipf = 0.9;
constexpr double kMemoryFraction = 0.3;

struct Workload {
  ModelTable models;
  std::vector<ModelId> stream;
  std::vector<std::uint64_t> next;
  std::uint64_t capacity = 0;
};

const Workload& workload() {
  static const Workload w = [] {
    Workload out;
    Rng rng(2021);
    out.models.resize(kModels);
    std::uint64_t total = 0;
    for (std::size_t m = 0; m < kModels; ++m) {
      auto& model = out.models[m];
      model.name = std::to_string(m);
      model.name.insert(0, "m");
      model.size_bytes = static_cast<std::uint64_t>((10 + rng.uniform() * 540) * 1e6);
      model.load_latency_s =
          0.2 + static_cast<double>(model.size_bytes) * 1e-8 * (0.5 + rng.uniform());
      model.exec_latency_s = 0.02 + rng.uniform() * 0.4;
      total += model.size_bytes;
    }
    out.capacity = static_cast<std::uint64_t>(kMemoryFraction * static_cast<double>(total));
    // Zipf by inverse CDF; popularity rank shuffled against model ids.
    std::vector<double> cdf(kModels);
    double sum = 0;
    for (std::size_t r = 0; r < kModels; ++r)
      cdf[r] = sum += std::pow(static_cast<double>(r + 1), -kZipf);
    std::vector<ModelId> rank_to_model(kModels);
    for (std::size_t m = 0; m < kModels; ++m) rank_to_model[m] = static_cast<ModelId>(m);
    for (std::size_t i = kModels - 1; i > 0; --i)
      std::swap(rank_to_model[i], rank_to_model[rng.below(i + 1)]);
    out.stream.resize(kRequests);
    for (auto& model : out.stream) {
      const auto rank = std::lower_bound(cdf.begin(), cdf.end(), rng.uniform() * sum) - cdf.begin();
      model = rank_to_model[static_cast<std::size_t>(rank)];
    }
    out.next = next_use_indices(out.stream, kModels);
    return out;
  }();
  return w;
}

void BM_Policy(benchmark::State& state, const char* policy) {
  const Workload& w = workload();
  std::vector<ModelId> evicted;
  evicted.reserve(64);
  std::uint64_t hits = 0;
  for (auto _ : state) {
    ModelCache cache(w.capacity, w.models, make_policy(policy, w.models, {}));
    hits = 0;
    for (std::size_t i = 0; i < kRequests; ++i) {
      const ModelId model = w.stream[i];
      if (cache.record({model, static_cast<double>(i), i, w.next[i], false})) {
        ++hits;
        continue;
      }
      evicted.clear();
      cache.admit(model, evicted);
    }
    benchmark::DoNotOptimize(hits);
  }
  state.counters["per_request"] = benchmark::Counter(
      static_cast<double>(kRequests),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(kRequests);
}

const bool kRegistered = [] {
  for (const auto& factory : policy_factories()) {
    benchmark::RegisterBenchmark(factory.name, BM_Policy, factory.name)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0)
        ->Setup([](const benchmark::State&) { workload(); });
  }
  return true;
}();

}  // namespace
}  // namespace brulee

BENCHMARK_MAIN();
