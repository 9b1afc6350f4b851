#pragma once
// Replays a brulee trace against a KServe v2 server over REST or gRPC (docs/replay.md): open loop
// at the trace's timestamps (time-scaled), or closed loop for saturation tests.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/timeline.hpp"

namespace brulee::replay {

struct ReplayOptions {
  std::string url;                // http://HOST:PORT (REST), grpc://HOST:PORT (gRPC)
  std::string protocol = "http";  // http (KServe v2 REST) or grpc (GRPCInferenceService)
  std::string trace_path;
  double speed = 1.0;              // time scale: 2 = twice as fast as the trace
  unsigned concurrency = 16;       // connections (open loop) or clients (closed loop)
  bool closed_loop = false;        // ignore timestamps: each client sends as soon as it is free
  std::uint64_t max_requests = 0;  // 0 = the whole trace
  double timeout_s = 600.0;        // per request
  std::uint64_t seed = 1;          // input tensors
  std::string out_csv;             // per-request CSV ("" = none)
  // REST only: send the inputs as raw bytes (the binary data extension) instead of JSON lists.
  bool binary_data = false;
};

// One request as the client saw it, plus what the server reported of it.
struct RequestResult {
  std::uint64_t index = 0;  // position in the trace (joins with `simulate --requests-out`)
  std::uint64_t request_id = 0;
  std::string model;
  double scheduled_s = 0.0;  // when the trace says to send it (scaled), from the start
  double sent_s = 0.0;       // when it was sent, from the start
  double latency_s = 0.0;    // client-observed: send -> full response
  // What the server took to read and parse the request before its arrival at the scheduler
  // (brulee's `parse_s`, docs/api.md); NaN when the server does not say.
  double parse_s = std::numeric_limits<double>::quiet_NaN();
  // HTTP status; 0 = no response (connection error, timeout). Over gRPC, the HTTP status the
  // gRPC code stands for (OK 200, INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE and
  // RESOURCE_EXHAUSTED 503, DEADLINE_EXCEEDED 504, INTERNAL 500; others 0).
  int status = 0;
  // The server's timeline of the request (core/timeline.hpp), reported relative to the
  // request's arrival at the server and placed here on the replay's clock with its end as late
  // as the answer allows: arrival_s = sent_s + max(0, latency_s - server latency); and the
  // delays derived from it by derive_delays. Only when `timed` (a brulee server, status 200).
  bool timed = false;
  RequestTimeline timeline;
  RequestDelays delays;
  std::string error;
};

// Reads the server's report from an inference response's `parameters` object: `hit` and the
// timeline points `ready_s`, `start_s`, `end_s` and, for a miss that waited on a load,
// `load_start_s` (seconds from the request's arrival at the server). A report with only
// `load_s` (arrival -> ready), `queue_s` and `exec_s` (older brulee servers) is turned into
// the timeline those figures describe. Returns false (timeline untouched) for no report.
bool timeline_from_parameters(const std::string& parameters_json, RequestTimeline& timeline);

struct ReplaySummary {
  std::uint64_t requests = 0, ok = 0, errors = 0, hits = 0, misses = 0;
  double duration_s = 0.0, throughput_rps = 0.0;
  double latency_mean_s = 0.0, latency_p50_s = 0.0, latency_p95_s = 0.0, latency_p99_s = 0.0;
  // Means per successful request of the delays derived from the server's timelines.
  double mean_load_s = 0.0;  // load delay (0 for hits)
  double mean_exec_s = 0.0;
  double mean_queue_s = 0.0;
  double mean_server_latency_s = 0.0;  // arrival at the server -> end of execution
  double max_send_lag_s = 0.0;         // open loop: the latest a request was sent after its time
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
