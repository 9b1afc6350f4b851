// `brulee simulate`: replay a trace against the eviction policies in virtual time
// (docs/simulator.md). One run, or --sweep over policies x memory sizes on all cores.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.hpp"
#include "cli/list_option.hpp"
#include "cli/progress.hpp"
#include "core/error.hpp"
#include "core/seconds.hpp"
#include "core/units.hpp"
#include "sim/output.hpp"
#include "sim/simulator.hpp"
#include "sim/sweep.hpp"
#include "workload/catalog.hpp"

namespace brulee::cli {
namespace {

struct SimulateOptions {
  std::string trace;
  std::string catalog = "paper";
  std::string costs_catalog;  // empty: the seconds of --catalog
  std::string memory;
  std::string policy = "cremebrulee";
  std::uint32_t workers = 1;
  bool no_queueing = false;
  bool parallel_load = false;
  std::string first_loads = "isolated";
  bool load_peaks = false;
  bool sweep = false;
  bool json = false;
  std::string report_dir;
  std::string csv_out;
  std::string json_out;
  std::string requests_out;
  std::uint64_t seed = 1;
  std::string latency = "profiled";
  double latency_cv = 0.1;
  std::string cost_mode = "direct";
  unsigned threads = 0;
  std::string bound;  // flow | interval | none; empty: flow for small traces, else interval
  bool no_bound = false;
  bool timing = false;
  bool prefetch = false;
};

// Redraws the progress line from a run's counters every ProgressLine::kInterval, on its own
// thread, until stop(). Does nothing when stderr is not a terminal.
class RunsProgress {
 public:
  RunsProgress(const sim::SimProgress& progress, std::uint64_t runs, std::uint64_t requests)
      : line_("simulate"), progress_(progress), runs_(runs), requests_(requests) {
    if (!line_.enabled()) return;
    // The first line is drawn here, not by the thread: a sweep that ends before the thread's
    // first turn (a millisecond on a busy machine) still shows one.
    draw();
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!wake_.wait_for(lock, ProgressLine::kInterval, [this] { return stopping_; })) draw();
    });
  }
  ~RunsProgress() { stop(); }
  bool enabled() const { return line_.enabled(); }
  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    line_.finish();
  }

 private:
  void draw() {
    const std::uint64_t done = progress_.requests.load(std::memory_order_relaxed);
    const std::uint64_t total = runs_ * requests_;
    const double elapsed = line_.elapsed_s();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    std::string text =
        "simulate: " + std::to_string(progress_.runs.load(std::memory_order_relaxed)) + "/" +
        std::to_string(runs_) + " runs, " + ProgressLine::count(static_cast<std::uint64_t>(rate)) +
        " requests/s";
    if (rate > 0 && done <= total)
      text += ", " + ProgressLine::clock(static_cast<double>(total - done) / rate) + " left";
    line_.show(text);
  }

  ProgressLine line_;
  const sim::SimProgress& progress_;
  std::uint64_t runs_;
  std::uint64_t requests_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

std::vector<std::string> expand_policies(const std::string& text) {
  std::vector<std::string> names;
  const std::vector<std::string> items = split_list(text, "--policy");
  if (items.empty()) throw UsageError("--policy needs at least one policy name");
  for (const auto& item : items) {
    if (item == "all" || item == "online") {
      for (const auto& factory : policy_factories()) {
        if (item == "all" || !factory.oracle) names.emplace_back(factory.name);
      }
    } else {
      find_policy(item);  // UsageError naming the known ones
      names.push_back(item);
    }
  }
  return names;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw UsageError("cannot write " + path);
  const bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  if (std::fclose(file) != 0 || !ok) throw UsageError("cannot write " + path);
}

void run_simulate(const SimulateOptions& opts) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  if (opts.memory.empty()) throw UsageError("--memory is required (bytes, 4GiB, or 50%)");
  if (opts.workers == 0) throw UsageError("--workers must be at least 1");
  if (opts.parallel_load && opts.no_queueing) {
    throw UsageError("--parallel-load needs queueing; drop --no-queueing");
  }
  const std::vector<std::string> policies = expand_policies(opts.policy);
  sim::SimConfig base;
  base.workers = opts.workers;
  base.queueing = !opts.no_queueing;
  base.parallel_load = opts.parallel_load;
  if (opts.first_loads != "isolated" && opts.first_loads != "concurrent") {
    throw UsageError("--first-loads must be isolated or concurrent");
  }
  base.isolated_first_loads = opts.first_loads == "isolated";
  base.latency_mode = sim::parse_latency_mode(opts.latency);
  base.latency_cv = opts.latency_cv;
  if (!(opts.latency_cv >= 0) || opts.latency_cv > 100) {
    throw UsageError("--latency-cv must be between 0 and 100");
  }
  base.seed = opts.seed;
  base.cost_mode = parse_cost_mode(opts.cost_mode);
  base.prefetch = opts.prefetch;
  if (opts.prefetch && opts.workers != 1) throw UsageError("--prefetch needs --workers 1");

  const workload::Catalog catalog = workload::load_catalog(opts.catalog);
  if (catalog.models.empty()) throw UsageError("catalog " + opts.catalog + " holds no models");
  // --costs-catalog: the simulated time follows its seconds, the policies rank by --catalog's.
  // Both in --catalog's order, which the trace's ids follow.
  std::vector<ModelInterference> interference = catalog.interference;
  if (!opts.costs_catalog.empty()) {
    const workload::Catalog costs = workload::load_catalog(opts.costs_catalog);
    if (costs.models.size() != catalog.models.size()) {
      throw UsageError("--costs-catalog " + opts.costs_catalog + " holds " +
                       std::to_string(costs.models.size()) + " models, --catalog " +
                       std::to_string(catalog.models.size()) + ": they must hold the same");
    }
    for (std::size_t m = 0; m < catalog.models.size(); ++m) {
      const auto id = costs.find(catalog.models[m].name);
      if (!id) {
        throw UsageError("--costs-catalog " + opts.costs_catalog + " has no model '" +
                         catalog.models[m].name + "' of --catalog");
      }
      base.costs.push_back(costs.models[*id]);
      interference[m] = costs.interference[*id];
    }
  }
  // --parallel-load uses the profiler's interference figures when the catalog has them (the
  // costs catalog's, with its seconds).
  if (base.parallel_load) base.interference = std::move(interference);
  if (base.parallel_load) {
    for (std::size_t m = 0; m < catalog.memory.size(); ++m) {
      if (catalog.memory[m].load_peak_bytes == 0) continue;
      base.load_heap_bytes.resize(catalog.models.size(), 0);
      base.load_heap_bytes[m] = catalog.memory[m].load_peak_bytes;
    }
  }
  // --load-peaks: a load holds its peak while it runs (as under `serve --process-memory`), from
  // the profiler's memory figures in the catalog. Off by default, like the server's limit.
  const bool has_peaks = std::any_of(catalog.memory.begin(), catalog.memory.end(),
                                     [](const auto& m) { return m.load_peak_bytes != 0; });
  if (opts.load_peaks && !has_peaks) {
    throw UsageError(
        "--load-peaks needs a catalog with the profiler's memory figures "
        "(load_peak_bytes; brulee profile writes them)");
  }
  for (std::size_t m = 0; opts.load_peaks && m < catalog.memory.size(); ++m) {
    if (catalog.memory[m].load_peak_bytes == 0) continue;
    base.load_peak_bytes.resize(catalog.models.size(), 0);
    base.load_peak_bytes[m] = catalog.memory[m].load_peak_bytes;
  }
  const std::uint64_t footprint = catalog.total_bytes();
  std::vector<std::uint64_t> memories;
  for (const auto& item : split_list(opts.memory, "--memory")) {
    const SizeSpec spec = parse_size(item);
    const std::uint64_t bytes = spec.resolve(footprint);
    if (bytes == 0) throw UsageError("--memory " + item + " is 0 bytes");
    memories.push_back(bytes);
  }
  if (memories.empty()) throw UsageError("--memory needs at least one size");
  if (!opts.sweep && (policies.size() != 1 || memories.size() != 1)) {
    throw UsageError("several policies or memory sizes need --sweep");
  }
  if (opts.sweep && !opts.requests_out.empty()) {
    throw UsageError("--requests-out writes one run; it cannot be combined with --sweep");
  }

  if (opts.no_bound && !opts.bound.empty() && opts.bound != "none") {
    throw UsageError("--no-bound contradicts --bound " + opts.bound);
  }
  std::optional<sim::BoundKind> asked_bound;
  if (opts.no_bound) asked_bound = sim::BoundKind::kNone;
  if (!opts.bound.empty()) asked_bound = sim::parse_bound(opts.bound);

  bool oracle = false;
  for (const auto& name : policies) oracle = oracle || find_policy(name).oracle;
  // One run that reads each request once (no oracle policy, no bound) reads a binary trace as it
  // simulates, a block at a time, instead of holding it whole (the same results). A binary
  // trace's header gives its length, for the progress line. Otherwise the trace is read first;
  // the next-use column is read by oracle policies and the bounds only: skip it otherwise.
  std::optional<sim::TraceStream> stream;
  sim::CompactTrace trace;
  sim::BoundKind bound_kind = sim::BoundKind::kNone;
  if (!opts.sweep && !oracle && asked_bound == sim::BoundKind::kNone) {
    stream.emplace(opts.trace, catalog.models);
    if (!stream->binary()) stream.reset();
  }
  if (stream) {
    if (stream->size_hint() == 0) throw InputError(opts.trace, 0, "the trace holds no requests");
  } else {
    trace = sim::load_trace(opts.trace, catalog.models, false);
    bound_kind = asked_bound ? *asked_bound : sim::default_bound(trace.size());
    if (oracle || bound_kind != sim::BoundKind::kNone) {
      sim::compute_next_use(trace, catalog.models.size());
    }
  }
  const std::uint64_t requests = stream ? stream->size_hint() : trace.size();
  const auto loaded = Clock::now();

  sim::RunInfo info;
  info.trace = opts.trace;
  info.catalog = opts.catalog;
  info.requests = requests;
  if (!stream) {  // streaming: the stream counts them as the run reads it (filled in below)
    std::vector<std::uint8_t> seen(catalog.models.size(), 0);
    for (ModelId model : trace.model) seen[model] = 1;  // no branch per request
    for (std::uint8_t requested : seen) info.models_requested += requested;
  }
  info.footprint_bytes = footprint;
  info.seed = opts.seed;

  // On a terminal, a progress line (runs done, requests per second, time left) while the runs
  // go; nothing at all otherwise.
  sim::SimProgress progress;
  const std::uint64_t total_runs = opts.sweep ? policies.size() * memories.size() : 1;
  RunsProgress runs_progress(progress, total_runs, requests);
  if (runs_progress.enabled()) base.progress = &progress;

  std::vector<sim::SimSummary> results;
  double bound_s = 0.0;  // the bound's own time (single run), for --timing
  if (!opts.sweep) {
    base.policy = policies.front();
    base.memory_bytes = memories.front();
    std::unique_ptr<sim::CsvOutcomeWriter> writer;
    if (!opts.requests_out.empty()) {
      writer = std::make_unique<sim::CsvOutcomeWriter>(opts.requests_out, catalog.models);
    }
    // The bound (a sort of the trace's reuse intervals, or a min-cost flow) runs on a second
    // core while the run simulates, unless --threads 1 asks for one core.
    const std::uint64_t total_memory = base.memory_bytes * static_cast<std::uint64_t>(base.workers);
    std::optional<sim::BoundValue> bound;
    std::exception_ptr bound_error;
    std::thread bound_thread;
    const auto compute = [&] {
      const auto begin = Clock::now();
      bound = sim::compute_bound(bound_kind, catalog.models, trace, total_memory);
      bound_s = seconds_since(begin);
    };
    const unsigned cores = opts.threads ? opts.threads : std::thread::hardware_concurrency();
    // A streamed trace is read on the second core while the run simulates.
    base.read_ahead = stream && cores > 1;
    if (bound_kind != sim::BoundKind::kNone && cores > 1) {
      bound_thread = std::thread([&] {
        try {
          compute();
        } catch (...) {
          bound_error = std::current_exception();
        }
      });
    }
    try {
      results.push_back(stream ? sim::simulate(catalog.models, *stream, base, writer.get())
                               : sim::simulate(catalog.models, trace, base, writer.get()));
    } catch (...) {
      if (bound_thread.joinable()) bound_thread.join();
      throw;
    }
    if (writer) writer->close();
    if (stream) {
      info.requests = stream->requests_read();
      info.models_requested = stream->models_requested();
    }
    if (bound_thread.joinable()) bound_thread.join();
    if (bound_error) std::rethrow_exception(bound_error);
    if (bound_kind != sim::BoundKind::kNone) {
      if (!bound) compute();
      results.back().bound_load_cost_s = bound->lower_s;
      results.back().schedule_load_cost_s = bound->schedule_s;
    }
    results.back().bound = bound_kind;
  } else {
    sim::SweepSpec spec;
    spec.policies = policies;
    spec.memory_bytes = memories;
    spec.base = base;
    spec.threads = opts.threads;
    spec.bound = bound_kind;
    results = sim::run_sweep(catalog.models, trace, spec);
  }
  runs_progress.stop();
  const auto simulated = Clock::now();

  if (opts.json) {
    const auto json =
        opts.sweep ? sim::sweep_json(results, info) : sim::summary_json(results.front(), info);
    std::printf("%s\n", json.dump(2).c_str());
  } else if (opts.sweep) {
    std::printf("%s", sim::sweep_text(results, info).c_str());
  } else {
    std::printf("%s", sim::summary_text(results.front(), info).c_str());
  }
  if (!opts.csv_out.empty()) write_text_file(opts.csv_out, sim::sweep_csv(results, info));
  if (!opts.json_out.empty())
    write_text_file(opts.json_out, sim::sweep_json(results, info).dump(2) + "\n");
  if (!opts.report_dir.empty()) sim::write_report(opts.report_dir, results, info);
  if (opts.timing) {
    const double load_s = seconds_between(started, loaded);
    const double run_s = seconds_between(loaded, simulated);
    const double simulated_requests =
        static_cast<double>(info.requests) * static_cast<double>(results.size());
    std::fprintf(stderr,
                 "timing: trace read in %.3f s; %zu run(s) x %zu requests in %.3f s "
                 "(%.2f M requests/s over all runs)\n",
                 load_s, results.size(), static_cast<std::size_t>(info.requests), run_s,
                 simulated_requests / std::max(run_s, 1e-9) / 1e6);
    if (!opts.sweep && bound_kind != sim::BoundKind::kNone) {
      std::fprintf(stderr, "timing: %s bound in %.3f s (within the runs' time)\n",
                   sim::bound_name(bound_kind), bound_s);
    }
  }
}

const CommandRegistration kRegistration(20, [](CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "simulate",
      "Replay a trace against eviction policies in virtual time (the paper's edge "
      "server: workers, FIFO queues, loads and executions)");
  auto opts = std::make_shared<SimulateOptions>();
  cmd->add_option("--trace", opts->trace, "brulee trace (CSV or binary)")->required();
  cmd->add_option("--catalog", opts->catalog, "Model catalog JSON, or 'paper'")
      ->capture_default_str();
  cmd->add_option("--costs-catalog", opts->costs_catalog,
                  "Catalog (the same models) whose load, exec and unload seconds and interference "
                  "figures the simulated time follows; the policies still rank by --catalog's, as "
                  "a server ranks by the catalog it was given while its machine runs at its own "
                  "speed");
  cmd->add_option("--memory", opts->memory,
                  "Memory per worker: bytes, 4GiB, or 50% of the catalog's footprint; "
                  "a comma list with --sweep");
  cmd->add_option("--policy", opts->policy,
                  "Policy name, a comma list, 'all' or 'online' (non-oracle); see brulee policies")
      ->capture_default_str();
  cmd->add_option("--workers", opts->workers, "Workers, each with --memory bytes")
      ->capture_default_str();
  cmd->add_flag("--no-queueing", opts->no_queueing,
                "Pure cache mode: a request is a hit, or a miss costing its load latency");
  cmd->add_flag("--parallel-load", opts->parallel_load,
                "Loads run on a loading lane in parallel with execution (with the catalog's "
                "interference figures, if profiled)");
  cmd->add_option("--first-loads", opts->first_loads,
                  "With --parallel-load: a model's first load runs alone (isolated: a server "
                  "measuring an unknown model's size) or beside inferences (concurrent: serve "
                  "--first-loads concurrent with the profiled catalog)")
      ->capture_default_str();
  cmd->add_flag("--load-peaks", opts->load_peaks,
                "A load holds its measured peak while it runs, as under serve --process-memory "
                "(needs the catalog's load_peak_bytes)");
  cmd->add_flag("--sweep", opts->sweep, "Run every policy x memory size, in parallel");
  cmd->add_flag("--json", opts->json, "Print the summary (or sweep) as JSON on stdout");
  cmd->add_option("--report", opts->report_dir, "Write an HTML report with figures to DIR");
  cmd->add_option("--csv", opts->csv_out, "Write the results as CSV to FILE");
  cmd->add_option("--json-out", opts->json_out, "Write the results as JSON to FILE");
  cmd->add_option("--requests-out", opts->requests_out,
                  "Write every request's outcome (arrival, start, completion, hit, delays) as CSV");
  cmd->add_option("--seed", opts->seed, "Seed of random policies and sampled latencies")
      ->capture_default_str();
  cmd->add_option("--latency", opts->latency, "profiled | sampled (log-normal around profiled)")
      ->capture_default_str();
  cmd->add_option("--latency-cv", opts->latency_cv, "Coefficient of variation when sampled")
      ->capture_default_str();
  cmd->add_option("--cost-mode", opts->cost_mode, "direct | increase (cost-weighted policies)")
      ->capture_default_str();
  cmd->add_option(
         "--threads", opts->threads,
         "Threads: sweep runs in parallel, or a single run beside the bound or the trace's reader "
         "(0 = all cores)")
      ->capture_default_str();
  cmd->add_option("--bound", opts->bound,
                  "Offline lower bound: flow (min-cost flow LP, tight), interval (fast), none; "
                  "default flow up to " +
                      std::to_string(sim::kFlowBoundDefaultMaxRequests) +
                      " requests, else interval");
  cmd->add_flag("--no-bound", opts->no_bound, "Skip the offline lower bound (--bound none)");
  cmd->add_flag("--prefetch", opts->prefetch,
                "Load models predicted to be requested while the loading lane is idle "
                "(docs/prefetch.md; one worker)");
  cmd->add_flag("--timing", opts->timing, "Print wall-clock time and throughput on stderr");
  cmd->callback([opts] { run_simulate(*opts); });
});

}  // namespace
}  // namespace brulee::cli
