// `brulee profile`: measures load, exec and unload latency and loaded bytes of every model of a
// repository with the paper's loop, and writes the catalog the simulator reads (docs/zoo.md).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/cpu_option.hpp"
#include "cli/list_option.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "runtime/memory.hpp"
#include "runtime/profiler.hpp"
#include "runtime/repository.hpp"
#include "workload/catalog.hpp"

namespace brulee::cli {
namespace {

struct ProfileCliOptions {
  std::string repo;
  std::string out;
  std::string format = "brulee";
  std::string models;
  std::uint64_t runs = 3;
  std::uint64_t execs = 3;
  std::uint64_t loads = 1;
  std::uint64_t seed = 1;
  int threads = 0;
  std::string exec_cpus, load_cpus;
  bool quiet = false;
  bool no_interference = false;
  std::size_t crowd = runtime::ProfileOptions{}.crowd;
  double cold_pause_s = runtime::ProfileOptions{}.cold_pause_s;
};

void run_profile(const ProfileCliOptions& opts) {
  if (opts.repo.empty()) throw UsageError("profile: --repo DIR is required");
  if (opts.threads < 0) throw UsageError("profile: --threads must be >= 0");
  if (!(opts.cold_pause_s >= 0.0 && opts.cold_pause_s <= 60.0))  // NaN too
    throw UsageError("profile: --cold-pause must be 0 to 60 seconds");
  // Loads measured as a serving cache runs them: into memory an unload left with the allocator.
  runtime::keep_freed_memory();
  const runtime::Repository repository(opts.repo);
  for (const auto& problem : repository.problems())
    std::fprintf(stderr, "profile: skipped: %s\n", problem.c_str());
  runtime::ProfileOptions options;
  options.runs = opts.runs;
  options.execs_per_load = opts.execs;
  options.loads_per_turn = opts.loads;
  options.seed = opts.seed;
  options.load.intra_op_threads = opts.threads;
  options.interference = !opts.no_interference;
  options.crowd = opts.crowd;
  options.cold_pause_s = opts.cold_pause_s;
  options.exec_cpus = cpu_option(opts.exec_cpus, "--exec-cpus");
  options.load_cpus = cpu_option(opts.load_cpus, "--load-cpus");
  if ((!options.exec_cpus.empty() || !options.load_cpus.empty()) && opts.threads != 1) {
    throw UsageError("profile: --exec-cpus and --load-cpus need --threads 1");
  }
  options.models = split_list(opts.models, "--models");
  if (!opts.quiet) {
    options.progress = [](const std::string& line) {
      std::fprintf(stderr, "profile: %s\n", line.c_str());
    };
  }
  const auto profiles = runtime::profile_models(repository, options);

  workload::Catalog catalog;
  std::printf("%-28s %-11s %10s %9s %9s %9s %9s %9s %10s %9s %9s %9s %9s %9s\n", "model", "backend",
              "bytes", "load_s", "load_p95", "exec_s", "exec_p95", "unload_s", "load/exec",
              "first_x", "exec_x", "load_x", "fresh_x", "cold_x");
  bool failed = false;
  for (const auto& profile : profiles) {
    if (!profile.error.empty()) {
      std::fprintf(stderr, "profile: %s failed: %s\n", profile.name.c_str(), profile.error.c_str());
      failed = true;
      continue;
    }
    ModelInfo info;
    info.name = profile.name;
    info.size_bytes = profile.resident_bytes > 0 ? profile.resident_bytes
                                                 : std::max<std::uint64_t>(1, profile.file_bytes);
    info.load_latency_s = profile.load.mean_s;
    info.exec_latency_s = profile.exec.mean_s;
    info.unload_latency_s = profile.unload.mean_s;
    const auto id = catalog.add(info);
    catalog.percentiles[id] = {{"load_latency_p50_s", profile.load.p50_s},
                               {"load_latency_p95_s", profile.load.p95_s},
                               {"exec_latency_p50_s", profile.exec.p50_s},
                               {"exec_latency_p95_s", profile.exec.p95_s},
                               {"unload_latency_p50_s", profile.unload.p50_s},
                               {"unload_latency_p95_s", profile.unload.p95_s}};
    ModelInterference& measured = catalog.interference[id];
    measured.exec_beside_load_s = profile.exec_beside_load.mean_s;
    measured.load_beside_exec_s = profile.load_beside_exec.mean_s;
    measured.first_exec_s = profile.first_exec.mean_s;
    measured.first_load_s = profile.first_load.mean_s;
    measured.exec_cold_s = profile.exec_cold.mean_s;
    if (measured.exec_cold_s > 0) measured.exec_cold_pause_s = opts.cold_pause_s;
    catalog.memory[id] = {profile.load_peak_bytes, profile.workspace_bytes};
    const double ratio = profile.exec.mean_s > 0 ? profile.load.mean_s / profile.exec.mean_s : 0.0;
    // Slowdowns: the first inference after a load, an inference beside a load, a load beside
    // inferences, a load into fresh memory, an inference after another model's and a pause, each
    // over the model's lone figure (0 when not measured).
    const double first_x =
        profile.exec.mean_s > 0 ? profile.first_exec.mean_s / profile.exec.mean_s : 0.0;
    std::printf(
        "%-28s %-11s %10s %9.4f %9.4f %9.4f %9.4f %9.4f %10.1f %9.2f %9.2f %9.2f %9.2f %9.2f\n",
        profile.name.c_str(), profile.backend.c_str(), format_bytes(info.size_bytes).c_str(),
        profile.load.mean_s, profile.load.p95_s, profile.exec.mean_s, profile.exec.p95_s,
        profile.unload.mean_s, ratio, first_x,
        measured.exec_beside_load_s > 0 ? measured.exec_factor(info.exec_latency_s) : 0.0,
        measured.load_beside_exec_s > 0 ? measured.load_factor(info.load_latency_s) : 0.0,
        profile.load.mean_s > 0 ? profile.first_load.mean_s / profile.load.mean_s : 0.0,
        profile.exec.mean_s > 0 ? profile.exec_cold.mean_s / profile.exec.mean_s : 0.0);
  }
  if (!catalog.models.empty()) {
    const std::string out =
        opts.out.empty() ? repository.root() + "/profile_catalog.json" : opts.out;
    workload::write_catalog(out, catalog, opts.format == "paper");
    std::printf("wrote %s (%zu models, %llu runs each)\n", out.c_str(), catalog.models.size(),
                static_cast<unsigned long long>(opts.runs));
  }
  if (failed) set_exit_code(1);
}

const CommandRegistration kRegistration(61, [](CLI::App& root) {
  auto* cmd =
      root.add_subcommand("profile",
                          "Measure load/exec/unload latency and loaded bytes of a repository's "
                          "models and write a catalog");
  // A count: "-1" would otherwise wrap to a huge unsigned one.
  const CLI::Validator kCount(
      [](std::string& text) {
        return text.find('-') == std::string::npos ? std::string() : "must be 0 or more";
      },
      "COUNT");
  auto opts = std::make_shared<ProfileCliOptions>();
  cmd->add_option("--repo", opts->repo, "Model repository (e.g. made by brulee zoo)");
  cmd->add_option("--runs", opts->runs,
                  "Rounds: each loads, runs and unloads every model once, in random order")
      ->check(kCount)
      ->capture_default_str();
  cmd->add_option("--execs", opts->execs, "Timed inferences per load (after the warm-up)")
      ->check(kCount)
      ->capture_default_str();
  cmd->add_option("--loads", opts->loads,
                  "Timed warm reloads per model a round (each more after its own unload)")
      ->check(kCount)
      ->capture_default_str();
  cmd->add_option("--out", opts->out,
                  "Catalog JSON to write (default <repo>/profile_catalog.json)");
  cmd->add_option("--format", opts->format, "brulee, or paper (also the paper's field names)")
      ->check(CLI::IsMember({"brulee", "paper"}))
      ->capture_default_str();
  cmd->add_option("--models", opts->models, "Comma-separated model names (default: all)");
  cmd->add_option("--seed", opts->seed, "Seed of the random order")->capture_default_str();
  cmd->add_option("--threads", opts->threads, "Intra-op threads (0 = all cores)")
      ->capture_default_str();
  cmd->add_option("--exec-cpus", opts->exec_cpus,
                  "CPUs the inferences run on, as serve --exec-cpus (needs --threads 1)");
  cmd->add_option("--load-cpus", opts->load_cpus,
                  "CPUs the loads run on, as serve --load-cpus (needs --threads 1)");
  cmd->add_flag("--quiet", opts->quiet, "No progress lines on stderr");
  cmd->add_flag("--no-interference", opts->no_interference,
                "Skip measuring a load beside inferences, inferences beside a load, and cold "
                "inferences");
  cmd->add_option("--cold-pause", opts->cold_pause_s,
                  "Seconds idle before each cold inference (after another model's), as a server "
                  "runs most of its hits; 0 = not measured")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  cmd->add_option("--crowd", opts->crowd,
                  "Models kept loaded after their turn, so warm reloads run among other models "
                  "and after a victim's unload, as in a serving cache (0 = none)")
      ->check(kCount)
      ->capture_default_str();
  cmd->callback([opts] { run_profile(*opts); });
});

}  // namespace
}  // namespace brulee::cli
