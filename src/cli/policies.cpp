// `brulee policies`: list the eviction policies, and a demonstration of them in the simulator.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/policy.hpp"
#include "core/units.hpp"
#include "sim/compact_trace.hpp"
#include "sim/simulator.hpp"
#include "workload/catalog.hpp"
#include "workload/generators.hpp"

namespace brulee::cli {
namespace {

struct DemoOptions {
  std::uint64_t requests = 200000;
  std::uint64_t models = 200;
  double zipf = 0.9;
  double memory_fraction = 0.3;
  std::uint64_t seed = 1;
};

// Every policy in the simulator's pure cache mode on one Zipf trace from the workload generator
// over the paper's catalog (copied up to --models models).
void run_demo(const DemoOptions& opts) {
  if (opts.models == 0 || opts.requests == 0)
    throw UsageError("--models and --requests must be > 0");
  if (opts.requests > 50'000'000) throw UsageError("--requests must be at most 50M");
  if (opts.models > 100'000) throw UsageError("--models must be at most 100000");
  if (opts.memory_fraction <= 0 || opts.memory_fraction > 1) {
    throw UsageError("--memory must be in (0, 1]");
  }
  workload::SynthOptions synth;
  synth.models = opts.models;
  synth.requests = opts.requests;
  synth.popularity = workload::Popularity::kZipf;
  synth.zipf_alpha = opts.zipf;
  synth.seed = opts.seed;
  // The generator writes a trace file; the demo reads it back and removes it.
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("brulee-policies-demo-" + std::to_string(::getpid()) + ".bin");
  workload::Catalog catalog;
  sim::CompactTrace trace;
  try {
    workload::generate_synth(synth, workload::paper_catalog(), path.string(), catalog);
    trace = sim::load_trace(path.string(), catalog.models);
  } catch (...) {
    std::filesystem::remove(path);
    throw;
  }
  std::filesystem::remove(path);
  std::uint64_t total_bytes = 0;
  for (const auto& model : catalog.models) total_bytes += model.size_bytes;
  const auto capacity =
      static_cast<std::uint64_t>(opts.memory_fraction * static_cast<double>(total_bytes));
  std::printf("%llu requests, %zu models (Zipf %.2f), footprint %s, memory %s (%.0f%%)\n\n",
              static_cast<unsigned long long>(trace.size()), catalog.models.size(), opts.zipf,
              format_bytes(total_bytes).c_str(), format_bytes(capacity).c_str(),
              opts.memory_fraction * 100);
  std::printf("%-22s %9s %10s %16s\n", "policy", "hit ratio", "evictions", "load time (s)");
  for (const auto& factory : policy_factories()) {
    sim::SimConfig config;
    config.policy = factory.name;
    config.memory_bytes = capacity;
    config.queueing = false;
    config.seed = opts.seed;
    const sim::SimSummary summary = sim::simulate(catalog.models, trace, config);
    std::printf("%-22s %9.4f %10llu %16.1f\n", factory.name, summary.hit_ratio(),
                static_cast<unsigned long long>(summary.evictions), summary.load_cost_s);
  }
}

const CommandRegistration kRegistration(90, [](CLI::App& root) {
  auto* cmd = root.add_subcommand("policies",
                                  "List the eviction policies; --demo compares them "
                                  "on a generated Zipf trace");
  auto opts = std::make_shared<DemoOptions>();
  auto demo = std::make_shared<bool>(false);
  cmd->add_flag("--demo", *demo,
                "Simulate every policy (pure cache mode) on a generated Zipf trace over the "
                "paper's catalog and print a table");
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
