// `brulee replay`: send a trace's requests to a running server and measure what happens.
#include <unistd.h>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "replay/replay.hpp"

namespace brulee::cli {
namespace {

void print_summary(const replay::ReplaySummary& s) {
  std::printf("requests      %llu (ok %llu, errors %llu)\n",
              static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.ok),
              static_cast<unsigned long long>(s.errors));
  std::printf("duration      %.2f s, throughput %.1f req/s\n", s.duration_s, s.throughput_rps);
  std::printf("latency       mean %.1f ms, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n",
              s.latency_mean_s * 1e3, s.latency_p50_s * 1e3, s.latency_p95_s * 1e3,
              s.latency_p99_s * 1e3);
  if (s.hits + s.misses > 0) {
    std::printf("server        hits %llu, misses %llu (hit ratio %.3f)\n",
                static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
                static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses));
    std::printf(
        "per request   load %.1f ms, queue %.1f ms, exec %.1f ms (load/exec %.3f), "
        "server latency %.1f ms\n",
        s.mean_load_s * 1e3, s.mean_queue_s * 1e3, s.mean_exec_s * 1e3,
        s.mean_exec_s > 0 ? s.mean_load_s / s.mean_exec_s : 0.0, s.mean_server_latency_s * 1e3);
  }
  std::printf("send lag      max %.1f ms behind the trace\n", s.max_send_lag_s * 1e3);
}

nlohmann::json summary_json(const replay::ReplaySummary& s) {
  return {{"requests", s.requests},
          {"ok", s.ok},
          {"errors", s.errors},
          {"hits", s.hits},
          {"misses", s.misses},
          {"duration_s", s.duration_s},
          {"throughput_rps", s.throughput_rps},
          {"latency_mean_s", s.latency_mean_s},
          {"latency_p50_s", s.latency_p50_s},
          {"latency_p95_s", s.latency_p95_s},
          {"latency_p99_s", s.latency_p99_s},
          {"mean_load_s", s.mean_load_s},
          {"mean_exec_s", s.mean_exec_s},
          {"mean_queue_s", s.mean_queue_s},
          {"mean_server_latency_s", s.mean_server_latency_s},
          {"max_send_lag_s", s.max_send_lag_s}};
}

const CommandRegistration kRegistration(50, [](CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "replay",
      "Replay a trace against a running server (KServe v2 REST or gRPC): open loop at the "
      "trace's timestamps, or closed loop");
  auto opts = std::make_shared<replay::ReplayOptions>();
  auto as_json = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("--url", opts->url,
                  "Server address: http://HOST:PORT (REST), grpc://HOST:PORT or HOST:PORT (gRPC)")
      ->required();
  cmd->add_option("--protocol", opts->protocol, "http (KServe v2 REST) or grpc")
      ->capture_default_str();
  cmd->add_option("--trace", opts->trace_path, "Trace to replay (CSV or binary)")->required();
  cmd->add_option("--speed", opts->speed, "Time scale (2 = twice as fast)")->capture_default_str();
  cmd->add_option("--concurrency", opts->concurrency,
                  "Connections (open loop) or clients (closed loop)")
      ->capture_default_str();
  cmd->add_flag("--closed-loop", opts->closed_loop,
                "Ignore timestamps: each client sends as soon as its last answer arrives");
  cmd->add_option("--max-requests", opts->max_requests, "Replay only the first N requests");
  cmd->add_option("--timeout", opts->timeout_s, "Per-request timeout in seconds")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Seed of the input tensors")->capture_default_str();
  cmd->add_flag("--binary-data", opts->binary_data,
                "REST: send the inputs as raw bytes (binary data extension), not JSON lists");
  cmd->add_option("--out", opts->out_csv, "Per-request CSV");
  cmd->add_flag("--json", *as_json, "Print the summary as JSON");
  cmd->add_flag("--quiet", *quiet, "No progress line");
  cmd->callback([opts, as_json, quiet] {
    const bool show_progress = !*quiet && isatty(STDERR_FILENO);
    const auto progress = [show_progress](const replay::Progress& p) {
      if (!show_progress) return;
      std::fprintf(
          stderr, "\r[%6.1f s] sent %llu/%llu, done %llu, errors %llu   ", p.elapsed_s,
          static_cast<unsigned long long>(p.sent), static_cast<unsigned long long>(p.total),
          static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.errors));
    };
    const replay::ReplaySummary summary = replay::run_replay(*opts, nullptr, progress);
    if (show_progress) std::fprintf(stderr, "\n");
    if (*as_json) {
      std::printf("%s\n", summary_json(summary).dump(2).c_str());
    } else {
      print_summary(summary);
    }
    if (summary.errors > 0) set_exit_code(1);
  });
});

}  // namespace
}  // namespace brulee::cli
