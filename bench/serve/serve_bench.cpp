// Load client for the server's targets (docs/server.md, "Measured"). Starts the real server
// in-process on 127.0.0.1 (free port) over a model repository and the real runtime, then:
//   hit    4 keep-alive clients hammer one resident model; latency minus the server-reported
//          execution time = the server's overhead on the hit path (p50, p99).
//   burst  N clients (default 512, in a child process) each send one request at once across
//          every model, with a budget smaller than the repository; counts errors and the
//          server process's peak threads.
//   rss    loads every model (budget above the footprint) and compares the bytes the server
//          charges with the process's RSS growth.
// Usage: serve_bench MODE --repo DIR [--model NAME] [--requests N] [--clients N]
//                          [--memory-fraction F] [--policy NAME]
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/seconds.hpp"
#include "runtime/repository.hpp"
#include "serve/http_server.hpp"
#include "serve/kserve.hpp"
#include "serve/service.hpp"

using namespace brulee;
using nlohmann::json;

namespace {

struct Args {
  std::string mode;
  std::string repo;
  std::string model;
  std::string policy = "cremebrulee";
  int requests = 2000;
  int clients = 0;
  double memory_fraction = 0.5;
  bool log_loads = false;  // --log-loads 1: one line per load/eviction of the measured server
};

class RepoLoader : public serve::ModelLoader {
 public:
  explicit RepoLoader(const runtime::Repository& repository) {
    for (const auto& m : repository.models()) models_.emplace(m.name, m);
  }
  std::unique_ptr<runtime::LoadedModel> load(const serve::ServedModel& served) override {
    runtime::LoadOptions options;
    options.intra_op_threads = 1;
    return runtime::load_model(models_.at(served.name), options);
  }

 private:
  std::unordered_map<std::string, runtime::RepositoryModel> models_;
};

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

long status_field(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::string(key).size());
  }
  return -1;
}

// A request body of zeros/ones matching the model's metadata.
std::string body_for(const json& metadata) {
  json inputs = json::array();
  for (const auto& input : metadata["inputs"]) {
    std::vector<std::int64_t> shape;
    std::size_t count = 1;
    for (const auto& dim : input["shape"]) {
      const std::int64_t d = dim.get<std::int64_t>() > 0 ? dim.get<std::int64_t>() : 1;
      shape.push_back(d);
      count *= static_cast<std::size_t>(d);
    }
    const std::string dtype = input["datatype"];
    json data = json::array();
    for (std::size_t i = 0; i < count; ++i) {
      if (dtype == "FP32" || dtype == "FP64") {
        data.push_back(static_cast<double>(i % 7) * 0.1);
      } else if (dtype == "BOOL") {
        data.push_back(false);
      } else {
        data.push_back(0);
      }
    }
    inputs.push_back(
        {{"name", input["name"]}, {"shape", shape}, {"datatype", dtype}, {"data", data}});
  }
  return json{{"inputs", inputs}}.dump();
}

bool read_exactly(int fd, void* data, std::size_t size) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t got = ::read(fd, bytes, size);
    if (got <= 0) return false;
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

struct BurstChild {
  pid_t pid = -1;
  int to_child = -1;    // the server's port goes here
  int from_child = -1;  // error count, then one latency (s) per client
  int clients = 0;
};

// Forks the burst's client process: it waits for the port, sends one request per client thread
// (model chosen by a fixed seed), and reports back.
bool fork_burst_clients(BurstChild& child, const std::vector<std::string>& names,
                        const std::vector<std::string>& bodies) {
  int down[2], up[2];
  if (::pipe(down) != 0 || ::pipe(up) != 0) return false;
  child.pid = ::fork();
  if (child.pid < 0) return false;
  if (child.pid > 0) {
    ::close(down[0]);
    ::close(up[1]);
    child.to_child = down[1];
    child.from_child = up[0];
    return true;
  }
  ::close(down[1]);
  ::close(up[0]);
  int port = 0;
  if (!read_exactly(down[0], &port, sizeof port)) ::_exit(1);
  const int clients = child.clients;
  std::mt19937 rng(1);
  std::vector<std::size_t> pick(static_cast<std::size_t>(clients));
  for (auto& p : pick) p = rng() % names.size();
  std::atomic<int> errors{0};
  std::vector<double> latency(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(300, 0);
      c.set_connection_timeout(30, 0);
      c.set_tcp_nodelay(true);
      const std::size_t m = pick[static_cast<std::size_t>(t)];
      ++ready;
      while (!go) std::this_thread::yield();
      const auto s0 = std::chrono::steady_clock::now();
      auto res =
          c.Post(("/v2/models/" + names[m] + "/infer").c_str(), bodies[m], "application/json");
      latency[static_cast<std::size_t>(t)] = seconds_since(s0);
      if (!res || res->status != 200) {
        ++errors;
        std::fprintf(stderr, "  error: %s\n",
                     res ? (std::to_string(res->status) + " " + res->body).c_str()
                         : httplib::to_string(res.error()).c_str());
      }
    });
  }
  while (ready < clients) std::this_thread::yield();
  go = true;
  for (auto& thread : threads) thread.join();
  const int count = errors.load();
  const bool sent = ::write(up[1], &count, sizeof count) == static_cast<ssize_t>(sizeof count) &&
                    ::write(up[1], latency.data(), latency.size() * sizeof(double)) ==
                        static_cast<ssize_t>(latency.size() * sizeof(double));
  ::_exit(sent ? 0 : 1);
}

int run(const Args& args) {
  runtime::Repository repository(args.repo);
  std::vector<serve::ServedModel> models;
  for (const auto& m : repository.models()) {
    serve::ServedModel served;
    served.name = m.name;
    served.version = std::to_string(m.version);
    served.platform = m.backend;
    served.path = m.path;
    served.estimate_bytes = m.file_bytes;
    served.min_bytes = m.file_bytes;
    models.push_back(served);
  }
  if (models.empty()) {
    std::fprintf(stderr, "no models in %s\n", args.repo.c_str());
    return 2;
  }
  RepoLoader loader(repository);
  // Budget: the measured footprint is unknown before loading; use file bytes times a margin
  // for "everything fits", or a fraction of it for the burst.
  std::uint64_t footprint = 0;
  for (const auto& m : models) footprint += m.estimate_bytes;
  serve::SchedulerOptions options;
  options.policy = args.policy;
  options.exec_threads = 2;
  options.loader_threads = 1;
  options.max_queue_per_model = 1024;
  options.max_queue_total = 4096;
  options.memory_bytes = footprint * 64 + (256ull << 20);
  std::vector<std::string> bodies;
  std::uint64_t measured_total = 0;
  if (args.mode == "burst") {
    // Probe: load every model once with room for all, to learn its measured size and inputs;
    // the burst's server then starts cold with those sizes as its estimates.
    serve::SchedulerOptions probe_options = options;
    probe_options.memory_bytes = footprint * 64 + (1ull << 30);
    serve::Scheduler probe(models, loader, probe_options);
    for (std::size_t i = 0; i < models.size(); ++i) {
      const auto id = static_cast<ModelId>(i);
      const serve::LoadOutcome outcome = probe.load(id).get();
      if (outcome.status != serve::Status::kOk) {
        std::fprintf(stderr, "load %s: %s\n", models[i].name.c_str(), outcome.error.c_str());
        return 1;
      }
      std::vector<runtime::TensorSpec> inputs, outputs;
      probe.specs(id, inputs, outputs);
      json meta{{"inputs", json::array()}};
      for (const auto& spec : inputs) meta["inputs"].push_back(serve::tensor_spec_json(spec));
      bodies.push_back(body_for(meta));
    }
    const serve::CacheSnapshot snap = probe.snapshot();
    for (std::size_t i = 0; i < models.size(); ++i) {
      models[i].estimate_bytes = snap.models[i].resident_bytes;
      measured_total += snap.models[i].resident_bytes;
    }
    probe.stop();
    options.memory_bytes =
        static_cast<std::uint64_t>(args.memory_fraction * static_cast<double>(measured_total));
  }
  BurstChild burst_child;
  if (args.mode == "burst") {
    // The clients run in a child process forked now, while this process has one thread: their
    // own allocations (each copies its request body) stay out of the server's heap, so out of
    // its per-model measurements, as with real clients.
    if (status_field("Threads:") != 1) {
      std::fprintf(stderr, "note: forking the clients with %ld threads alive\n",
                   status_field("Threads:"));
    }
    burst_child.clients = args.clients > 0 ? args.clients : 512;
    std::vector<std::string> names;
    for (const auto& m : models) names.push_back(m.name);
    if (!fork_burst_clients(burst_child, names, bodies)) return 1;
  }
  const long rss_before_kib = status_field("VmRSS:");
  serve::Logger logger(serve::LogFormat::kText, args.log_loads);
  serve::EventSink events;
  if (args.log_loads) {
    events = [&logger](const serve::SchedulerEvent& event) {
      logger.log("info", "event " + std::to_string(static_cast<int>(event.kind)),
                 {{"model", event.model},
                  {"bytes", std::to_string(event.bytes)},
                  {"detail", event.detail}});
    };
  }
  serve::Scheduler scheduler(models, loader, options, events);
  serve::HttpOptions http_options;
  http_options.port = 0;
  serve::Service service(scheduler);
  serve::HttpServer http(service, http_options, logger);
  const int port = http.bind();
  http.start();
  auto client = [port] {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_read_timeout(300, 0);
    c->set_connection_timeout(30, 0);
    c->set_tcp_nodelay(true);
    return c;
  };
  int status = 0;
  if (args.mode == "hit") {
    const std::string name = args.model.empty() ? models.front().name : args.model;
    auto meta = client()->Get(("/v2/models/" + name).c_str());
    if (!meta || meta->status != 200) {
      std::fprintf(stderr, "metadata of %s failed\n", name.c_str());
      return 1;
    }
    const std::string body = body_for(json::parse(meta->body));
    const int clients = args.clients > 0 ? args.clients : 4;
    std::vector<std::vector<double>> latency(static_cast<std::size_t>(clients)),
        overhead(static_cast<std::size_t>(clients)), exec(static_cast<std::size_t>(clients));
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        auto c = client();
        c->set_keep_alive(true);
        const int per_client = args.requests / clients;
        for (int i = 0; i < per_client + 20; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          auto res = c->Post(("/v2/models/" + name + "/infer").c_str(), body, "application/json");
          const double seconds = seconds_since(t0);
          if (!res || res->status != 200) {
            ++errors;
            continue;
          }
          if (i < 20) continue;  // warm-up
          const double exec_s = json::parse(res->body)["parameters"]["exec_s"].get<double>();
          latency[static_cast<std::size_t>(t)].push_back(seconds);
          exec[static_cast<std::size_t>(t)].push_back(exec_s);
          overhead[static_cast<std::size_t>(t)].push_back(seconds - exec_s);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    std::vector<double> all_latency, all_overhead, all_exec;
    for (int t = 0; t < clients; ++t) {
      const auto i = static_cast<std::size_t>(t);
      all_latency.insert(all_latency.end(), latency[i].begin(), latency[i].end());
      all_overhead.insert(all_overhead.end(), overhead[i].begin(), overhead[i].end());
      all_exec.insert(all_exec.end(), exec[i].begin(), exec[i].end());
    }
    std::printf("hit path: model %s, %d clients, %zu requests, %d errors\n", name.c_str(), clients,
                all_latency.size(), errors.load());
    std::printf("  latency        p50 %.3f ms  p99 %.3f ms\n", percentile(all_latency, 0.5) * 1e3,
                percentile(all_latency, 0.99) * 1e3);
    std::printf("  exec (server)  p50 %.3f ms  p99 %.3f ms\n", percentile(all_exec, 0.5) * 1e3,
                percentile(all_exec, 0.99) * 1e3);
    std::printf("  overhead       p50 %.3f ms  p99 %.3f ms  (latency - exec, per request)\n",
                percentile(all_overhead, 0.5) * 1e3, percentile(all_overhead, 0.99) * 1e3);
    status = errors.load() == 0 ? 0 : 1;
  } else if (args.mode == "burst") {
    std::atomic<bool> sampling{true};
    std::atomic<long> peak_threads{status_field("Threads:")};
    std::thread sampler([&] {
      while (sampling) {
        peak_threads = std::max(peak_threads.load(), status_field("Threads:"));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    const auto t0 = std::chrono::steady_clock::now();
    if (::write(burst_child.to_child, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) {
      std::fprintf(stderr, "cannot start the client process\n");
      return 1;
    }
    int errors = 0;
    std::vector<double> latency(static_cast<std::size_t>(burst_child.clients));
    const bool read_all =
        read_exactly(burst_child.from_child, &errors, sizeof errors) &&
        read_exactly(burst_child.from_child, latency.data(), latency.size() * sizeof(double));
    int child_status = 0;
    ::waitpid(burst_child.pid, &child_status, 0);
    if (!read_all) errors = burst_child.clients;
    const double wall_s = seconds_since(t0);
    sampling = false;
    sampler.join();
    const json cache = json::parse(client()->Get("/v2/cache")->body);
    std::uint64_t loads = 0, evictions = 0;
    for (const auto& m : cache["models"]) {
      loads += m["loads"].get<std::uint64_t>();
      evictions += m["evictions"].get<std::uint64_t>();
    }
    std::printf(
        "burst: %d concurrent requests over %zu models, budget %llu of %llu measured "
        "bytes\n",
        burst_child.clients, models.size(), static_cast<unsigned long long>(options.memory_bytes),
        static_cast<unsigned long long>(measured_total));
    std::printf("  errors %d, wall %.2f s, latency p50 %.1f ms p99 %.1f ms\n", errors, wall_s,
                percentile(latency, 0.5) * 1e3, percentile(latency, 0.99) * 1e3);
    std::printf("  loads %llu, evictions %llu\n", static_cast<unsigned long long>(loads),
                static_cast<unsigned long long>(evictions));
    std::printf(
        "  peak server process threads %ld (the %d clients run in a child process; 1 of the "
        "threads is this bench's sampler)\n",
        peak_threads.load(), burst_child.clients);
    status = errors == 0 ? 0 : 1;
  } else if (args.mode == "rss") {
    for (const auto& m : models) {
      auto res = client()->Post(("/v2/repository/models/" + m.name + "/load").c_str(), "",
                                "application/json");
      if (!res || res->status != 200) {
        std::fprintf(stderr, "load %s failed\n", m.name.c_str());
        return 1;
      }
    }
    const long rss_after_kib = status_field("VmRSS:");
    const json cache = json::parse(client()->Get("/v2/cache")->body);
    const auto used = cache["used_bytes"].get<std::uint64_t>();
    const double growth = static_cast<double>(rss_after_kib - rss_before_kib) * 1024.0;
    std::printf(
        "rss: %zu models loaded; charged %llu bytes; RSS growth %.0f bytes (includes the "
        "HTTP server and thread stacks); charged/growth %.3f\n",
        models.size(), static_cast<unsigned long long>(used), growth,
        static_cast<double>(used) / growth);
  } else {
    std::fprintf(stderr, "unknown mode %s (hit, burst, rss)\n", args.mode.c_str());
    status = 2;
  }
  http.shutdown(std::chrono::seconds(10));
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: serve_bench hit|burst|rss --repo DIR [--model NAME] "
                 "[--requests N] [--clients N] [--memory-fraction F] [--policy P]\n");
    return 2;
  }
  args.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string value = argv[i + 1];
    if (key == "--repo")
      args.repo = value;
    else if (key == "--model")
      args.model = value;
    else if (key == "--policy")
      args.policy = value;
    else if (key == "--requests")
      args.requests = std::atoi(value.c_str());
    else if (key == "--clients")
      args.clients = std::atoi(value.c_str());
    else if (key == "--memory-fraction")
      args.memory_fraction = std::atof(value.c_str());
    else if (key == "--log-loads")
      args.log_loads = value == "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_bench: %s\n", e.what());
    return 1;
  }
}
