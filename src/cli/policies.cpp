// `brulee policies`: list the eviction policies, and a small built-in demonstration of them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/model_cache.hpp"
#include "core/next_use.hpp"
#include "core/rng.hpp"
#include "core/units.hpp"

namespace brulee::cli {
namespace {

struct DemoOptions {
  std::uint64_t requests = 200000;
  std::uint64_t models = 200;
  double zipf = 0.9;
  double memory_fraction = 0.3;
  std::uint64_t seed = 1;
};

// A Zipf-popular stream over models with sizes and load costs spread like the paper's profiles
// (tens to hundreds of MB, load latency roughly proportional to size).
void run_demo(const DemoOptions& opts) {
  if (opts.models == 0 || opts.requests == 0)
    throw UsageError("--models and --requests must be > 0");
  if (opts.memory_fraction <= 0 || opts.memory_fraction > 1) {
    throw UsageError("--memory must be in (0, 1]");
  }
  Rng rng(opts.seed);
  ModelTable models(opts.models);
  std::uint64_t total_bytes = 0;
  for (std::size_t m = 0; m < models.size(); ++m) {
    auto& model = models[m];
    model.name = "model" + std::to_string(m);
    model.size_bytes = static_cast<std::uint64_t>((10 + rng.uniform() * 540) * 1e6);
    model.load_latency_s =
        0.5 + static_cast<double>(model.size_bytes) / 1e8 * (0.5 + rng.uniform());
    model.exec_latency_s = 0.05 + rng.uniform() * 0.5;
    total_bytes += model.size_bytes;
  }
  std::vector<double> cdf(models.size());
  double sum = 0;
  for (std::size_t m = 0; m < models.size(); ++m) {
    sum += 1.0 / std::pow(static_cast<double>(m + 1), opts.zipf);
    cdf[m] = sum;
  }
  std::vector<ModelId> stream(opts.requests);
  for (auto& model : stream) {
    const double u = rng.uniform() * sum;
    model = static_cast<ModelId>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  }
  const std::vector<std::uint64_t> next = next_use_indices(stream, models.size());
  const auto capacity =
      static_cast<std::uint64_t>(opts.memory_fraction * static_cast<double>(total_bytes));
  std::printf("%llu requests, %llu models (Zipf %.2f), footprint %s, memory %s (%.0f%%)\n\n",
              static_cast<unsigned long long>(opts.requests),
              static_cast<unsigned long long>(opts.models), opts.zipf,
              format_bytes(total_bytes).c_str(), format_bytes(capacity).c_str(),
              opts.memory_fraction * 100);
  std::printf("%-22s %9s %10s %16s\n", "policy", "hit ratio", "evictions", "load time (s)");
  std::vector<ModelId> evicted;
  for (const auto& factory : policy_factories()) {
    PolicyOptions policy_options;
    policy_options.seed = opts.seed;
    ModelCache cache(capacity, models, factory.make(models, policy_options));
    std::uint64_t hits = 0, evictions = 0;
    double load_s = 0;
    for (std::size_t i = 0; i < stream.size(); ++i) {
      RequestEvent request{stream[i], static_cast<double>(i), i, next[i], false};
      if (cache.record(request)) {
        ++hits;
        continue;
      }
      evicted.clear();
      cache.admit(stream[i], evicted);
      evictions += evicted.size();
      load_s += models[stream[i]].load_latency_s;
    }
    std::printf("%-22s %9.4f %10llu %16.1f\n", factory.name,
                static_cast<double>(hits) / static_cast<double>(stream.size()),
                static_cast<unsigned long long>(evictions), load_s);
  }
}

const CommandRegistration kRegistration(90, [](CLI::App& root) {
  auto* cmd = root.add_subcommand("policies",
                                  "List the eviction policies; --demo compares them "
                                  "on a built-in synthetic stream");
  auto opts = std::make_shared<DemoOptions>();
  auto demo = std::make_shared<bool>(false);
  cmd->add_flag("--demo", *demo, "Run every policy on a built-in Zipf stream and print a table");
  cmd->add_option("--requests", opts->requests, "Requests in the demo stream")
      ->capture_default_str();
  cmd->add_option("--models", opts->models, "Models in the demo catalog")->capture_default_str();
  cmd->add_option("--zipf", opts->zipf, "Zipf exponent of popularity")->capture_default_str();
  cmd->add_option("--memory", opts->memory_fraction, "Memory as a fraction of the footprint")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Random seed")->capture_default_str();
  cmd->callback([opts, demo] {
    if (*demo) {
      run_demo(*opts);
      return;
    }
    for (const auto& factory : policy_factories()) {
      std::printf("%-22s %s%s\n", factory.name, factory.summary, factory.oracle ? " [oracle]" : "");
    }
  });
});

}  // namespace
}  // namespace brulee::cli
