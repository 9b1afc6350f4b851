#pragma once
// The server's operations, one per request kind, independent of the protocol that carries them
// (docs/server.md, "Front-ends"). The REST front (http_server.cpp) and any other front-end call
// these and map Status to their own codes; none of them talks to the scheduler's internals.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "runtime/backend.hpp"
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

// Per-model request statistics in the shape of Triton's statistics extension.
struct ModelStatistics {
  std::string name;
  std::string version;
  std::uint64_t last_inference_ms = 0;  // Unix time of the last answered inference
  std::uint64_t success_count = 0, success_ns = 0;
  std::uint64_t fail_count = 0, fail_ns = 0;
  std::uint64_t queue_ns = 0;  // queue delay + load delay of successful requests
  std::uint64_t infer_ns = 0;  // execution of successful requests
  std::uint64_t hits = 0, hit_ns = 0, misses = 0, miss_ns = 0;
  ModelSnapshot scheduler;  // brulee's own: loads, load time, evictions, state
};

class Service {
 public:
  explicit Service(Scheduler& scheduler);

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

  // parameters.request_index / next_request_index (sent by `brulee replay`): the request's place
  // in a known trace, for oracle policies. Throws UsageError when present but malformed.
  template <typename Json>
  static std::optional<OracleHint> oracle_hint(const Json& parameters);

 private:
  struct Counters {
    std::uint64_t last_inference_ms = 0;
    std::uint64_t success_count = 0, success_ns = 0, fail_count = 0, fail_ns = 0;
    std::uint64_t queue_ns = 0, infer_ns = 0;
    std::uint64_t hits = 0, hit_ns = 0, misses = 0, miss_ns = 0;
  };
  Scheduler& scheduler_;
  std::atomic<bool> draining_{false};
  mutable std::mutex mutex_;
  std::vector<Counters> counters_;
};

template <typename Json>
std::optional<OracleHint> Service::oracle_hint(const Json& parameters) {
  if (!parameters.is_object() || !parameters.contains("request_index")) return std::nullopt;
  const auto index_of = [&](const char* key) {
    const Json& value = parameters.at(key);
    if (!value.is_number_unsigned()) {
      throw UsageError(std::string("parameters.") + key + " must be a non-negative integer");
    }
    return value.template get<std::uint64_t>();
  };
  OracleHint hint;
  hint.index = index_of("request_index");
  if (parameters.contains("next_request_index")) {
    hint.next_index = index_of("next_request_index");
    if (hint.next_index <= hint.index) {
      throw UsageError("parameters.next_request_index must be after request_index");
    }
  }
  return hint;
}

}  // namespace brulee::serve
