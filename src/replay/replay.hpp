#pragma once
// Replays a brulee trace against a KServe v2 server (docs/replay.md): open loop at the trace's
// timestamps (time-scaled), or closed loop for saturation tests.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace brulee::replay {

struct ReplayOptions {
  std::string url;  // http://HOST:PORT
  std::string trace_path;
  double speed = 1.0;              // time scale: 2 = twice as fast as the trace
  unsigned concurrency = 16;       // connections (open loop) or clients (closed loop)
  bool closed_loop = false;        // ignore timestamps: each client sends as soon as it is free
  std::uint64_t max_requests = 0;  // 0 = the whole trace
  double timeout_s = 600.0;        // per request
  std::uint64_t seed = 1;          // input tensors
  std::string out_csv;             // per-request CSV ("" = none)
};

// One request as the client saw it, plus what the server reported of it.
struct RequestResult {
  std::uint64_t request_id = 0;
  std::string model;
  double scheduled_s = 0.0;  // when the trace says to send it (scaled), from the start
  double sent_s = 0.0;       // when it was sent, from the start
  double latency_s = 0.0;    // send -> full response
  int status = 0;            // HTTP status; 0 = no response (connection error, timeout)
  int hit = -1;              // server-reported: 1 hit, 0 miss, -1 unknown
  double load_s = -1.0;      // server-reported load time paid by this request (-1 unknown)
  double queue_s = -1.0;     // server-reported queueing time (-1 unknown)
  double exec_s = -1.0;      // server-reported execution time (-1 unknown)
  std::string error;
};

struct ReplaySummary {
  std::uint64_t requests = 0, ok = 0, errors = 0, hits = 0, misses = 0;
  double duration_s = 0.0, throughput_rps = 0.0;
  double latency_mean_s = 0.0, latency_p50_s = 0.0, latency_p95_s = 0.0, latency_p99_s = 0.0;
  double mean_load_s = 0.0;  // server-reported load time per request (0 for hits)
  double mean_exec_s = 0.0;  // server-reported exec time per request
  double mean_queue_s = 0.0;
  double max_send_lag_s = 0.0;  // open loop: the latest a request was sent after its time
};

struct Progress {
  std::uint64_t sent = 0, done = 0, errors = 0, total = 0;
  double elapsed_s = 0.0;
};

// Runs the replay. Throws UsageError for a bad URL or trace, or if the server cannot be
// reached or lacks a model the trace names.
ReplaySummary run_replay(const ReplayOptions& options, std::vector<RequestResult>* results,
                         const std::function<void(const Progress&)>& on_progress = {});

ReplaySummary summarize(const std::vector<RequestResult>& results, double duration_s);
void write_results_csv(const std::string& path, const std::vector<RequestResult>& results);

}  // namespace brulee::replay
