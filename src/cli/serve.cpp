// `brulee serve`: the inference server (KServe v2 over REST and gRPC) over a model repository,
// loading models on demand under a memory budget and evicting by policy. docs/server.md,
// docs/api.md.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cli/command.hpp"
#include "cli/cpu_option.hpp"
#include "cli/list_option.hpp"
#include "core/error.hpp"
#include "core/seconds.hpp"
#include "core/units.hpp"
#include "runtime/cpus.hpp"
#include "runtime/memory.hpp"
#include "runtime/repository.hpp"
#include "serve/grpc_server.hpp"
#include "serve/http_server.hpp"
#include "serve/scheduler.hpp"
#include "serve/service.hpp"
#include "workload/catalog.hpp"

namespace brulee::cli {
namespace {

// "64MiB" for 64 << 20: the largest binary unit that divides the size exactly, as a user would
// write it (parse_bytes reads it back to the same number).
std::string size_text(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (unit + 1 < std::size(kUnits) && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kUnits[unit];
}

// The server's own defaults, read from its option structs (one place each).
const serve::HttpOptions kHttp{};
const serve::GrpcOptions kGrpc{};
const serve::SchedulerOptions kScheduler{};

struct ServeOptions {
  std::string repo;
  std::string host = kHttp.host;
  int port = kHttp.port;
  int grpc_port = kGrpc.port;
  int admin_port = -1;
  std::string grpc_max_message = size_text(kGrpc.max_message_bytes);
  std::uint32_t grpc_max_streams = kGrpc.max_concurrent_streams;
  std::uint32_t grpc_stream_inflight = kGrpc.max_stream_inflight;
  std::string grpc_transport_memory = size_text(kGrpc.transport_memory_bytes);
  double grpc_idle_timeout_s = kGrpc.idle_timeout_s;
  std::string memory = "4GiB";  // the command's own: no struct holds a budget
  std::string process_memory;   // empty: no process limit
  int malloc_arenas = 0;        // 0: glibc's default
  std::string policy = kScheduler.policy;
  std::string cost_mode = "direct";
  std::uint64_t seed = 1;  // as `simulate --seed`: the same draws for a randomised policy
  std::string catalog;
  std::string first_loads = "isolated";
  std::string preload;
  unsigned exec_threads = kScheduler.exec_threads;
  // Inline hits are off unless asked for on the command line (docs/server.md); the 1 ms in
  // SchedulerOptions is for programs that build a Scheduler themselves.
  double inline_exec_max_ms = 0.0;
  double learn_rate = kScheduler.ewma_alpha;
  unsigned loader_threads = kScheduler.loader_threads;
  bool prefetch = kScheduler.prefetch;
  unsigned http_threads = kHttp.network_threads;
  std::size_t max_connections = kHttp.max_connections;
  int intra_op_threads = 1;  // one thread per inference: inferences of several models in parallel
  std::string exec_cpus, load_cpus;  // empty: the threads run wherever the kernel puts them
  std::string max_body = size_text(kHttp.max_body_bytes);
  std::string max_header = size_text(kHttp.max_header_bytes);
  std::string max_inflight = size_text(serve::kDefaultInflightBytes);
  double header_timeout_s = kHttp.header_timeout_s;
  double idle_timeout_s = kHttp.idle_timeout_s;
  double inflight_wait_s = kHttp.inflight_wait_s;
  std::uint64_t max_image_pixels = kHttp.max_image_pixels;
  std::size_t max_queue = kScheduler.max_queue_per_model;
  std::size_t max_queue_total = kScheduler.max_queue_total;
  double request_timeout_s = kHttp.request_timeout_s;  // REST and gRPC alike
  double drain_timeout_s = 30.0;
  std::string log_format = "text";
};

class RepositoryLoader : public serve::ModelLoader {
 public:
  RepositoryLoader(const runtime::Repository& repository, int intra_op_threads)
      : intra_op_threads_(intra_op_threads) {
    for (const auto& model : repository.models()) models_.emplace(model.name, model);
  }
  std::unique_ptr<runtime::LoadedModel> load(const serve::ServedModel& served) override {
    runtime::LoadOptions options;
    options.intra_op_threads = intra_op_threads_;
    return runtime::load_model(models_.at(served.name), options);
  }

 private:
  std::unordered_map<std::string, runtime::RepositoryModel> models_;
  int intra_op_threads_;
};

std::string fixed(double value, int digits) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

// The runtimes' one-time setup (thread pools, kernel and operator registries, the libraries'
// allocator caches) belongs to the idle process, not to whichever model loads first: the
// smallest model of each backend in the repository is loaded once, with its warm-up inference,
// and dropped before the server takes requests. Else the first model's measured bytes carry
// that setup (libtorch's: 5.8 MB on shufflenet_v2's 21.5) for as long as it keeps that figure,
// and the cache holds less than the budget says; under a process limit the setup is part of
// the idle baseline (docs/server.md, "Measured bytes under load" and "Process memory"). A model
// that fails here is only logged: its own requests will say what is wrong.
void prime_runtimes(const runtime::Repository& repository, int intra_op_threads,
                    serve::Logger& logger) {
  std::map<std::string, const runtime::RepositoryModel*> smallest;
  for (const auto& model : repository.models()) {
    auto& best = smallest[model.backend];
    if (!best || model.file_bytes < best->file_bytes) best = &model;
  }
  for (const auto& [backend, model] : smallest) {
    const std::uint64_t rss_before = runtime::resident_set_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    try {
      runtime::LoadOptions options;
      options.intra_op_threads = intra_op_threads;
      runtime::load_model(*model, options).reset();
    } catch (const std::exception& e) {
      logger.log("warn", "runtime not primed", {{"backend", backend}, {"reason", e.what()}});
      continue;
    }
    runtime::release_free_memory();
    const std::uint64_t rss_after = runtime::resident_set_bytes();
    logger.log("info", "runtime primed",
               {{"backend", backend},
                {"model", model->name},
                {"seconds", fixed(seconds_since(t0), 3)},
                {"rss_growth", format_bytes(rss_after > rss_before ? rss_after - rss_before : 0)}});
  }
}

void run_serve(const ServeOptions& opts) {
  const serve::LogFormat log_format = serve::parse_log_format(opts.log_format);
  serve::HttpOptions http_options;
  http_options.host = opts.host;
  http_options.port = opts.port;
  http_options.admin_port = opts.admin_port;
  http_options.network_threads = opts.http_threads;
  http_options.max_connections = opts.max_connections;
  http_options.max_body_bytes = parse_bytes(opts.max_body);
  const std::uint64_t max_header_bytes = parse_bytes(opts.max_header);
  http_options.max_header_bytes =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(max_header_bytes, 1ull << 31));
  http_options.request_timeout_s = opts.request_timeout_s;
  http_options.header_timeout_s = opts.header_timeout_s;
  http_options.idle_timeout_s = opts.idle_timeout_s;
  http_options.inflight_wait_s = opts.inflight_wait_s;
  http_options.max_image_pixels = opts.max_image_pixels;
  serve::validate(http_options);  // every flag checked before anything starts
  const std::uint64_t max_inflight_bytes = parse_bytes(opts.max_inflight);
  if (max_inflight_bytes < serve::kMinInflightBytes) {
    throw UsageError("--max-inflight-bytes must be at least " +
                     format_bytes(serve::kMinInflightBytes));
  }
  serve::GrpcOptions grpc_options;
  grpc_options.host = opts.host;
  grpc_options.port = std::max(opts.grpc_port, 0);
  grpc_options.max_message_bytes = parse_bytes(opts.grpc_max_message);
  grpc_options.max_concurrent_streams = opts.grpc_max_streams;
  grpc_options.max_stream_inflight = opts.grpc_stream_inflight;
  grpc_options.transport_memory_bytes = parse_bytes(opts.grpc_transport_memory);
  grpc_options.request_timeout_s = opts.request_timeout_s;
  grpc_options.idle_timeout_s = opts.grpc_idle_timeout_s;
  if (opts.grpc_port < -1 || opts.grpc_port > 65535) {
    throw UsageError("--grpc-port must be in 0..65535, or -1 for no gRPC");
  }
  serve::validate(grpc_options);
  if (!std::isfinite(opts.drain_timeout_s) || opts.drain_timeout_s < 0 ||
      opts.drain_timeout_s > 86400) {
    throw UsageError("--drain-timeout must be a number of seconds in [0, 86400]");
  }
  const SizeSpec memory = parse_size(opts.memory);
  // --process-memory: an absolute RSS bound, or "+SIZE" / "+N%" over the idle baseline
  // (measured once the server is up; N% of the models' footprint). docs/server.md.
  const bool process_relative = !opts.process_memory.empty() && opts.process_memory[0] == '+';
  std::optional<SizeSpec> process_memory;
  if (!opts.process_memory.empty()) {
    process_memory = parse_size(process_relative ? std::string_view(opts.process_memory).substr(1)
                                                 : std::string_view(opts.process_memory));
    if (!process_relative && process_memory->fraction) {
      throw UsageError("--process-memory: a percentage is relative to the baseline: write +" +
                       opts.process_memory);
    }
  }
  // A prefetch load does not reserve its load peak in the process budget yet (docs/prefetch.md).
  if (process_memory && opts.prefetch) {
    throw UsageError("--prefetch and --process-memory cannot be combined yet");
  }
  if (opts.malloc_arenas < 0 || opts.malloc_arenas > 1024) {
    throw UsageError("--malloc-arenas must be in [0, 1024]");
  }
  runtime::limit_malloc_arenas(opts.malloc_arenas);  // before any other thread starts
  // Freed memory stays with the allocator for the next load; under --process-memory, only until
  // RSS reaches half the budget (then large blocks go back to the system when freed, and the
  // scheduler trims after each load and unload; ProcessBudget::keeping_freed).
  runtime::keep_freed_memory();

  runtime::Repository repository(opts.repo);
  if (repository.models().empty()) {
    throw UsageError("repository " + opts.repo + " holds no loadable model");
  }
  std::vector<serve::ServedModel> models;
  for (const auto& model : repository.models()) {
    serve::ServedModel served;
    served.name = model.name;
    served.version = std::to_string(model.version);
    served.platform = model.backend;
    served.path = model.path;
    served.estimate_bytes = model.file_bytes;
    served.min_bytes = model.file_bytes;
    served.labels = model.config.labels;
    served.inputs = model.config.inputs;
    served.outputs = model.config.outputs;
    models.push_back(std::move(served));
  }
  std::uint64_t footprint_bytes = repository.total_file_bytes();
  if (!opts.catalog.empty()) {
    const workload::Catalog catalog = workload::load_catalog(opts.catalog);
    std::uint64_t seeded_bytes = 0;
    for (auto& served : models) {
      if (auto id = catalog.find(served.name)) {
        const ModelInfo& info = catalog.models[*id];
        if (info.size_bytes > 0) {
          served.estimate_bytes = info.size_bytes;
          served.size_profiled = true;
        }
        if (*id < catalog.memory.size()) {
          served.load_peak_bytes = catalog.memory[*id].load_peak_bytes;
          served.workspace_bytes = catalog.memory[*id].workspace_bytes;
        }
        served.load_latency_s = info.load_latency_s;
        served.exec_latency_s = info.exec_latency_s;
      }
      seeded_bytes += served.estimate_bytes;
    }
    footprint_bytes = seeded_bytes;
  }

  serve::Logger logger(log_format);
  for (const auto& problem : repository.problems()) {
    logger.log("warn", "skipped repository entry", {{"reason", problem}});
  }
  serve::SchedulerOptions scheduler_options;
  scheduler_options.memory_bytes = memory.resolve(footprint_bytes);
  scheduler_options.policy = opts.policy;
  scheduler_options.policy_options.cost_mode = parse_cost_mode(opts.cost_mode);
  scheduler_options.policy_options.seed = opts.seed;
  scheduler_options.exec_threads = opts.exec_threads;
  if (!std::isfinite(opts.inline_exec_max_ms) || opts.inline_exec_max_ms < 0 ||
      opts.inline_exec_max_ms > 1000) {
    throw UsageError("--inline-exec-max-ms must be in [0, 1000]");
  }
  scheduler_options.inline_exec_max_s = opts.inline_exec_max_ms / 1000.0;
  if (!(opts.learn_rate >= 0.0 && opts.learn_rate <= 1.0)) {
    throw UsageError("--learn-rate must be in [0, 1]");
  }
  scheduler_options.ewma_alpha = opts.learn_rate;
  // One network thread always stays free of inline inferences.
  scheduler_options.inline_max_concurrent = opts.http_threads > 0 ? opts.http_threads - 1 : 0;
  scheduler_options.loader_threads = opts.loader_threads;
  scheduler_options.exec_cpus = cpu_option(opts.exec_cpus, "--exec-cpus");
  scheduler_options.load_cpus = cpu_option(opts.load_cpus, "--load-cpus");
  if (!scheduler_options.exec_cpus.empty() || !scheduler_options.load_cpus.empty()) {
    // The libraries' own worker threads are process-wide and placed by neither list, and inline
    // hits run on the network threads: only one-thread inferences on the execution threads keep
    // the two budgets apart (docs/server.md, "Queues and threads").
    if (opts.intra_op_threads != 1) {
      throw UsageError("--exec-cpus and --load-cpus need --intra-op-threads 1");
    }
    if (opts.inline_exec_max_ms > 0) {
      throw UsageError("--exec-cpus and --load-cpus do not go with --inline-exec-max-ms");
    }
  }
  scheduler_options.prefetch = opts.prefetch;
  if (opts.first_loads != "isolated" && opts.first_loads != "concurrent") {
    throw UsageError("--first-loads must be isolated or concurrent");
  }
  scheduler_options.concurrent_first_loads = opts.first_loads == "concurrent";
  scheduler_options.max_queue_per_model = opts.max_queue;
  scheduler_options.max_queue_total = opts.max_queue_total;
  scheduler_options.process_rss = [] { return runtime::resident_set_bytes(); };
  (void)find_policy(opts.policy);  // UsageError naming the known policies

  // SIGTERM and SIGINT go to one waiting thread (blocked everywhere else, so block them before
  // any thread starts).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RepositoryLoader loader(repository, opts.intra_op_threads);
  auto events = [&logger](const serve::SchedulerEvent& event) {
    using Kind = serve::SchedulerEvent::Kind;
    const char* message = "event";
    switch (event.kind) {
      case Kind::kLoadStart:
        message = "loading";
        break;
      case Kind::kLoaded:
        message = "loaded";
        break;
      case Kind::kLoadFailed:
        message = "load failed";
        break;
      case Kind::kEvicted:
        message = "evicted";
        break;
      case Kind::kUnloaded:
        message = "unloaded";
        break;
      case Kind::kResized:
        message = "resized";
        break;
    }
    serve::Logger::Fields fields{{"model", event.model}, {"bytes", std::to_string(event.bytes)}};
    if (event.kind != Kind::kLoadStart) fields.emplace_back("seconds", fixed(event.seconds, 4));
    if (event.work) {
      if (event.kind == Kind::kLoaded) fields.emplace_back("backend_s", fixed(event.backend_s, 4));
      fields.emplace_back("cpu_s", fixed(event.work->cpu_s, 4));
      fields.emplace_back("minor_faults", std::to_string(event.work->minor_faults));
      fields.emplace_back("major_faults", std::to_string(event.work->major_faults));
      fields.emplace_back("rss", std::to_string(event.rss_bytes));
    }
    if (!event.detail.empty()) fields.emplace_back("detail", event.detail);
    logger.log(event.kind == Kind::kLoadFailed ? "warn" : "info", message, fields);
  };
  serve::Scheduler scheduler(models, loader, scheduler_options, events);
  // Disjoint thread budgets: the threads started from here on (network, gRPC, signals) run with
  // the loaders, so the execution threads keep their CPUs to themselves.
  if (!scheduler_options.load_cpus.empty() &&
      !runtime::place_this_thread(nullptr, scheduler_options.load_cpus)) {
    throw UsageError("could not restrict the server's threads to --load-cpus " + opts.load_cpus);
  }

  serve::Service service(scheduler, max_inflight_bytes);
  serve::HttpServer http(service, http_options, logger);
  const int port = http.bind();
  std::unique_ptr<serve::GrpcServer> grpc;
  int grpc_port = -1;
  if (opts.grpc_port >= 0) {
    grpc = std::make_unique<serve::GrpcServer>(service, grpc_options, logger);
    grpc_port = grpc->start();
  }
  logger.log("info", "serving",
             {{"models", std::to_string(models.size())},
              {"memory", format_bytes(scheduler_options.memory_bytes)},
              {"footprint", format_bytes(footprint_bytes)},
              {"policy", opts.policy},
              {"prefetch", opts.prefetch ? "on" : "off"},
              {"exec_threads", std::to_string(opts.exec_threads)},
              {"exec_cpus", opts.exec_cpus.empty() ? "any" : opts.exec_cpus},
              {"load_cpus", opts.load_cpus.empty() ? "any" : opts.load_cpus},
              {"http_threads", std::to_string(opts.http_threads)},
              {"grpc_port", std::to_string(grpc_port)},
              {"admin_port", std::to_string(http.admin_port())}});

  prime_runtimes(repository, opts.intra_op_threads, logger);
  if (process_memory) {
    // The idle baseline: the process with its fronts up, its runtimes set up and no model
    // loaded.
    runtime::release_free_memory();
    auto& budget = scheduler.process_budget();
    budget.set_baseline(runtime::resident_set_bytes());
    const std::uint64_t bytes = process_memory->resolve(footprint_bytes);
    const std::uint64_t limit = process_relative ? budget.baseline() + bytes : bytes;
    if (limit <= budget.baseline()) {
      throw UsageError("--process-memory " + opts.process_memory + " (" + format_bytes(limit) +
                       ") is not above the idle process (" + format_bytes(budget.baseline()) + ")");
    }
    budget.set_limit(limit);
    logger.log("info", "process memory",
               {{"limit", format_bytes(limit)},
                {"baseline", format_bytes(budget.baseline())},
                {"budget", format_bytes(limit - budget.baseline())}});
  }
  for (const auto& name : split_list(opts.preload, "--preload")) {
    auto id = scheduler.find(name);
    if (!id) throw UsageError("--preload names unknown model " + name);
    const serve::LoadOutcome outcome = scheduler.load(*id).get();
    if (outcome.status != serve::Status::kOk) {
      logger.log("warn", "preload failed", {{"model", name}, {"reason", outcome.error}});
    }
  }

  std::thread signal_thread([&] {
    int received = 0;
    sigwait(&signals, &received);
    logger.log("info", "shutting down", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
    // The REST front drains the shared scheduler (gRPC calls are refused from the moment the
    // Service drains) and stops it, which answers every gRPC call still waiting.
    http.shutdown(std::chrono::milliseconds(static_cast<long>(opts.drain_timeout_s * 1000)));
    if (grpc) grpc->shutdown(std::chrono::seconds(1));
  });
  std::printf("listening on %s:%d\n", opts.host.c_str(), port);
  if (grpc) std::printf("grpc listening on %s:%d\n", opts.host.c_str(), grpc_port);
  if (http.admin_port() >= 0) {
    std::printf("admin listening on %s:%d\n", opts.host.c_str(), http.admin_port());
  }
  std::fflush(stdout);
  http.run();
  signal_thread.join();
  logger.log("info", "stopped");
}

const CommandRegistration kRegistration(40, [](CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "serve",
      "Serve a model repository over REST and gRPC (KServe v2), loading models on demand under a "
      "memory budget and evicting by policy");
  auto opts = std::make_shared<ServeOptions>();
  cmd->add_option("--repo", opts->repo, "Model repository folder (<model>/<version>/model.onnx)")
      ->required();
  cmd->add_option("--host", opts->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->port, "Port (0: any free port; printed on stdout)")
      ->capture_default_str();
  cmd->add_option("--admin-port", opts->admin_port,
                  "A second REST port for health checks and metrics only, never waiting for "
                  "memory (docs/server.md, \"The admin port\"; 0: any free port, printed on "
                  "stdout; -1: none)")
      ->capture_default_str();
  cmd->add_option("--grpc-port", opts->grpc_port,
                  "gRPC port (KServe v2 GRPCInferenceService; 0: any free port, printed on "
                  "stdout; -1: no gRPC)")
      ->capture_default_str();
  cmd->add_option("--grpc-max-message", opts->grpc_max_message,
                  "Largest gRPC message received or sent (RESOURCE_EXHAUSTED above)")
      ->capture_default_str();
  cmd->add_option("--grpc-max-streams", opts->grpc_max_streams,
                  "gRPC calls open at once on one connection (HTTP/2 streams)")
      ->capture_default_str();
  cmd->add_option("--grpc-stream-inflight", opts->grpc_stream_inflight,
                  "ModelStreamInfer: requests of one stream in progress at once")
      ->capture_default_str();
  cmd->add_option("--grpc-transport-memory", opts->grpc_transport_memory,
                  "Memory for gRPC's own buffers, all connections")
      ->capture_default_str();
  cmd->add_option("--grpc-idle-timeout", opts->grpc_idle_timeout_s,
                  "Seconds a gRPC connection with no call stays open")
      ->capture_default_str();
  cmd->add_option("--memory", opts->memory,
                  "Memory budget: bytes, 512MiB, 4GiB, or 50% of the repository's footprint")
      ->capture_default_str();
  cmd->add_option("--process-memory", opts->process_memory,
                  "Bound on the whole process's memory (models, load peaks, inference "
                  "workspaces, request buffers, idle baseline): an RSS size (2GiB), or +SIZE / "
                  "+N% over the idle process measured at start (docs/server.md)");
  cmd->add_option("--malloc-arenas", opts->malloc_arenas,
                  "At most this many glibc malloc arenas (0: glibc's default, 8 per core)")
      ->capture_default_str();
  cmd->add_option("--policy", opts->policy, "Eviction policy (brulee policies)")
      ->capture_default_str();
  cmd->add_option("--cost-mode", opts->cost_mode, "Reload cost: direct or increase")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed,
                  "Seed of a randomised policy (random): the same as simulate --seed gives the "
                  "same draws")
      ->capture_default_str();
  cmd->add_option("--catalog", opts->catalog, "Seed sizes and latencies from a catalog JSON");
  cmd->add_option("--preload", opts->preload, "Comma-separated models to load at start");
  cmd->add_option("--exec-threads", opts->exec_threads, "Inference threads")->capture_default_str();
  cmd->add_option("--inline-exec-max-ms", opts->inline_exec_max_ms,
                  "Run hits of models whose learned exec time is below this on the network "
                  "thread that read them (no hand-off), on all network threads but one; 0: never")
      ->capture_default_str();
  cmd->add_option("--learn-rate", opts->learn_rate,
                  "Weight of each new measurement in a model's learned load, exec and unload "
                  "times, which the policy ranks by; 0: keep the catalog's figures (a model "
                  "without one takes its first measurement), as the simulator does")
      ->capture_default_str();
  cmd->add_option("--loader-threads", opts->loader_threads, "Model loading threads")
      ->capture_default_str();
  cmd->add_option("--first-loads", opts->first_loads,
                  "isolated: a model's first load runs alone, to measure its size; concurrent: "
                  "beside inferences for a model --catalog sizes (a profile of this runtime on "
                  "this machine), charged the catalog's size until a load nothing disturbed "
                  "measures it (docs/server.md, \"First loads beside inferences\")")
      ->capture_default_str();
  cmd->add_flag("--prefetch", opts->prefetch,
                "Load models predicted to be requested while the loader is idle, on a thread of "
                "their own (docs/prefetch.md)");
  cmd->add_option("--http-threads", opts->http_threads,
                  "Network threads (a fixed pool, whatever the number of connections)")
      ->capture_default_str();
  cmd->add_option("--max-connections", opts->max_connections,
                  "Open connections at most (more are closed at accept)")
      ->capture_default_str();
  cmd->add_option("--max-header", opts->max_header, "Largest request line + headers (431 above)")
      ->capture_default_str();
  cmd->add_option("--max-inflight-bytes", opts->max_inflight,
                  "Memory for request and response buffers across all requests in flight "
                  "(503 above)")
      ->capture_default_str();
  cmd->add_option("--header-timeout", opts->header_timeout_s,
                  "Seconds from a request's first byte to its whole header (408 after)")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", opts->idle_timeout_s, "Seconds an idle connection stays open")
      ->capture_default_str();
  cmd->add_option("--inflight-wait", opts->inflight_wait_s,
                  "Seconds a REST request whose body does not fit the in-flight ceiling (or the "
                  "process limit's share for buffers) waits for room, unread, before its 503")
      ->capture_default_str();
  cmd->add_option("--max-image-pixels", opts->max_image_pixels,
                  "Largest image /classify decodes, in pixels (400 above)")
      ->capture_default_str();
  cmd->add_option("--intra-op-threads", opts->intra_op_threads,
                  "Threads each inference may use inside the backend (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--exec-cpus", opts->exec_cpus,
                  "CPUs the execution threads run on (e.g. 1 or 2-3; needs --intra-op-threads "
                  "1); default: any");
  cmd->add_option("--load-cpus", opts->load_cpus,
                  "CPUs the loader, prefetch, network and every other thread but the execution "
                  "threads run on, e.g. 0; default: any");
  cmd->add_option("--max-body", opts->max_body, "Largest request body (413 above)")
      ->capture_default_str();
  cmd->add_option("--max-queue", opts->max_queue, "Queued requests per model (503 above)")
      ->capture_default_str();
  cmd->add_option("--max-queue-total", opts->max_queue_total, "Queued requests in all (503 above)")
      ->capture_default_str();
  cmd->add_option("--request-timeout", opts->request_timeout_s,
                  "Seconds a request may take, including a load (504 after)")
      ->capture_default_str();
  cmd->add_option("--drain-timeout", opts->drain_timeout_s,
                  "Seconds to let in-flight requests finish on SIGTERM")
      ->capture_default_str();
  cmd->add_option("--log-format", opts->log_format, "text or json")->capture_default_str();
  cmd->callback([opts] { run_serve(*opts); });
});

}  // namespace
}  // namespace brulee::cli
