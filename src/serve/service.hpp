#pragma once
// The server's operations, one per request kind, independent of the protocol that carries them
// (docs/server.md, "Front-ends"), and the state every front-end shares: the in-flight ceiling
// and the metrics. The REST front (http_server.cpp) and the gRPC front (grpc_server.cpp) call
// these and map Status to their own codes; none of them talks to the scheduler's internals.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "runtime/backend.hpp"
#include "serve/inflight.hpp"
#include "serve/metrics.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve {

// A failed operation: what went wrong, in protocol-neutral terms.
struct Problem {
  Status status = Status::kOk;
  std::string message;
  double retry_after_s = 0.0;
};

// Triton's and KServe's names for a model's format, from brulee's backend name ("onnx" ->
// "onnxruntime_onnx", "torchscript" -> "pytorch_libtorch"); others pass through.
std::string_view platform_name(std::string_view backend);
// The library brulee actually runs the format with ("opencv_dnn", "libtorch").
std::string_view backend_library(std::string_view backend);

struct ModelMetadata {
  std::string name;
  std::string version;
  std::string platform;
  std::string backend;
  std::vector<runtime::TensorSpec> inputs, outputs;
};

// A model's answered requests as the Service counts them (Service::record), listed once: the
// statistics below carry them as they are.
struct RequestCounters {
  std::uint64_t last_inference_ms = 0;  // Unix time of the last answered inference
  std::uint64_t success_count = 0, success_ns = 0;
  std::uint64_t fail_count = 0, fail_ns = 0;
  std::uint64_t queue_ns = 0;  // queue delay + load delay of successful requests
  std::uint64_t infer_ns = 0;  // execution of successful requests
  std::uint64_t hits = 0, hit_ns = 0, misses = 0, miss_ns = 0;
};

// Per-model request statistics in the shape of Triton's statistics extension.
struct ModelStatistics : RequestCounters {
  std::string name;
  std::string version;
  ModelSnapshot scheduler;  // brulee's own: loads, load time, evictions, state
};

// One model's line in the repository index (Triton's model repository extension).
struct RepositoryEntry {
  std::string name;
  std::string version;
  std::string state;   // READY, LOADING, UNLOADING, UNAVAILABLE
  std::string reason;  // why it is unavailable ("unloaded" or the last load error); else empty
};

class Service {
 public:
  // Throws UsageError when max_inflight_bytes is below kMinInflightBytes.
  explicit Service(Scheduler& scheduler, std::uint64_t max_inflight_bytes = kDefaultInflightBytes);

  Scheduler& scheduler() { return scheduler_; }
  // Request and response memory of every request in flight, on any protocol.
  InflightBudget& budget() { return budget_; }
  Metrics& metrics() { return metrics_; }

  // A model by name and optional version ("" = any). kNotFound when there is none.
  std::optional<ModelId> find(std::string_view name, std::string_view version,
                              Problem& problem) const;

  // Live: the process answers. Ready: it accepts inference work (false while draining).
  bool ready() const { return !draining_.load(); }
  void begin_draining() { draining_ = true; }
  bool draining() const { return draining_.load(); }

  // Servable: a request would be attempted (not failed, not shutting down). A model that is
  // servable but not resident is loaded by its first request (docs/api.md, "Readiness").
  bool model_ready(ModelId id);

  // Known once the model has been loaded once; nullopt before (the caller loads it first).
  std::optional<ModelMetadata> metadata(ModelId id) const;

  // Counts one answered inference (for the statistics extension).
  void record(ModelId id, const InferOutcome& outcome, double total_s);
  // Every model's statistics, or one model's.
  std::vector<ModelStatistics> statistics(std::optional<ModelId> only = std::nullopt) const;
  // Every model, or only those resident and ready.
  std::vector<RepositoryEntry> repository_index(bool ready_only) const;

  // The oracle hint from a request's parameters, already read as integers (nullopt: absent).
  // Throws UsageError when the next index is not after the request's own.
  // request_time_s (the request's time in the stream) must be finite and non-negative.
  static std::optional<OracleHint> oracle_hint(std::optional<std::uint64_t> index,
                                               std::optional<std::uint64_t> next_index,
                                               std::optional<double> request_time_s = {});

  // parameters.request_index / next_request_index (sent by `brulee replay`): the request's place
  // in a known trace, for oracle policies. Throws UsageError when present but malformed.
  template <typename Json>
  static std::optional<OracleHint> oracle_hint(const Json& parameters);

 private:
  Scheduler& scheduler_;
  InflightBudget budget_;
  Metrics metrics_;
  std::atomic<bool> draining_{false};
  mutable std::mutex mutex_;
  std::vector<RequestCounters> counters_;
};

inline std::optional<OracleHint> Service::oracle_hint(std::optional<std::uint64_t> index,
                                                      std::optional<std::uint64_t> next_index,
                                                      std::optional<double> request_time_s) {
  if (!index) {
    if (request_time_s) throw UsageError("parameters.request_time_s needs request_index");
    return std::nullopt;
  }
  OracleHint hint;
  hint.index = *index;
  if (request_time_s) {
    // At most 1e12 s (31,700 years): a float holds every gap, and predicted utilities (cost over
    // size and time to the next request) never underflow to 0 for the prefetcher's bounds.
    if (!std::isfinite(*request_time_s) || *request_time_s < 0 || *request_time_s > 1e12) {
      throw UsageError("parameters.request_time_s must be a number of seconds from 0 to 1e12");
    }
    hint.time_s = *request_time_s;
  }
  if (next_index) {
    hint.next_index = *next_index;
    if (hint.next_index <= hint.index) {
      throw UsageError("parameters.next_request_index must be after request_index");
    }
  }
  return hint;
}

template <typename Json>
std::optional<OracleHint> Service::oracle_hint(const Json& parameters) {
  if (!parameters.is_object() ||
      (!parameters.contains("request_index") && !parameters.contains("request_time_s"))) {
    return std::nullopt;
  }
  const auto index_of = [&](const char* key) -> std::optional<std::uint64_t> {
    if (!parameters.contains(key)) return std::nullopt;
    const Json& value = parameters.at(key);
    if (!value.is_number_unsigned()) {
      throw UsageError(std::string("parameters.") + key + " must be a non-negative integer");
    }
    return value.template get<std::uint64_t>();
  };
  std::optional<double> time_s;
  if (parameters.contains("request_time_s")) {
    const Json& value = parameters.at("request_time_s");
    if (!value.is_number()) {
      throw UsageError("parameters.request_time_s must be a finite number of seconds >= 0");
    }
    time_s = value.template get<double>();
  }
  return oracle_hint(index_of("request_index"), index_of("next_request_index"), time_s);
}

}  // namespace brulee::serve
