#pragma once
// The server's scheduler (docs/server.md): per-model state machine (absent -> waiting for room ->
// loading -> ready -> unloading), per-model FIFO queues, execution threads, loader threads, and
// the byte budget kept by the core library's ModelCache and policy. Knows nothing of HTTP.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/model_cache.hpp"
#include "core/model_info.hpp"
#include "core/policy.hpp"
#include "core/timeline.hpp"
#include "runtime/backend.hpp"
#include "serve/activity_gate.hpp"

namespace brulee::serve {

using Clock = std::chrono::steady_clock;

// One model the server can serve (from the repository, or a test).
struct ServedModel {
  std::string name;
  std::string version = "1";
  std::string platform;              // backend name: "onnx", "torchscript", ...
  std::string path;                  // file the loader opens
  std::uint64_t estimate_bytes = 0;  // before the first load: catalog size or file size
  // A floor under every measured size: the model file's size (its weights are held in memory).
  // Guards the budget against a measurement shrunk by memory other threads freed meanwhile.
  std::uint64_t min_bytes = 0;
  double load_latency_s = 0.0;  // seeds from a catalog (0 = unknown)
  double exec_latency_s = 0.0;
  std::vector<std::string> labels;  // class names for /classify (index -> name), may be empty
};

// Brings a model into memory. Throws std::runtime_error with the reason on failure.
class ModelLoader {
 public:
  virtual ~ModelLoader() = default;
  virtual std::unique_ptr<runtime::LoadedModel> load(const ServedModel& model) = 0;
};

struct SchedulerOptions {
  std::uint64_t memory_bytes = 0;
  std::string policy = "cremebrulee";
  PolicyOptions policy_options;
  unsigned exec_threads = 2;
  unsigned loader_threads = 1;
  std::size_t max_queue_per_model = 512;
  std::size_t max_queue_total = 2048;
  double ewma_alpha = 0.2;  // weight of a new measurement in the learned profiles
  // A hit on an idle model whose learned exec time is at most this runs on the submitting
  // thread (no hand-off to an execution thread); slower models always go to the executors so
  // that a network thread is never held by a long inference.
  double inline_exec_max_s = 0.002;
};

enum class ModelState { kAbsent, kWaiting, kLoading, kReady, kUnloading };
std::string_view state_name(ModelState state);

// What became of an operation, in the scheduler's terms; each protocol front-end maps it to its
// own codes (HTTP statuses, gRPC status codes).
enum class Status : std::uint8_t {
  kOk,
  kBadRequest,   // the request itself is wrong (tensor names, shapes, types)
  kNotFound,     // no such model or version
  kConflict,     // the operation clashes with the model's state (unload while serving)
  kUnavailable,  // try again later: queue full, shutting down, memory ceiling, load backing off
  kTimeout,      // the deadline passed before the work could start
  kFailed,       // a load or the inference library failed
};
std::string_view status_name(Status status);

// The answer to one inference request.
struct InferOutcome {
  Status status = Status::kOk;
  std::string error;
  std::vector<runtime::Tensor> outputs;
  bool hit = false;
  // Seconds relative to the request's arrival at the scheduler (arrival_s = 0), and the delays
  // derived from them by derive_delays (docs/fidelity.md).
  RequestTimeline timeline;
  RequestDelays delays;
  double retry_after_s = 0.0;  // with kUnavailable: when trying again makes sense
};
using InferDone = std::function<void(InferOutcome)>;

// A request's position in a known stream (see Scheduler::submit).
struct OracleHint {
  std::uint64_t index = 0;
  std::uint64_t next_index = kNeverAgain;
};

struct LoadOutcome {
  Status status = Status::kOk;
  std::string error;
  double retry_after_s = 0.0;
};
using LoadDone = std::function<void(LoadOutcome)>;

// Something the operator wants to see in the log (load, eviction, failure).
struct SchedulerEvent {
  enum class Kind { kLoadStart, kLoaded, kLoadFailed, kEvicted, kUnloaded, kResized };
  Kind kind;
  std::string model;
  std::uint64_t bytes = 0;
  double seconds = 0.0;
  std::string detail;
};
using EventSink = std::function<void(const SchedulerEvent&)>;

struct ModelSnapshot {
  std::string name;
  std::string version;
  std::string platform;
  ModelState state = ModelState::kAbsent;
  std::uint64_t resident_bytes = 0;  // bytes charged in the cache (0 when absent)
  std::uint64_t size_bytes = 0;      // what the policy believes (estimate or last measured)
  std::uint32_t pins = 0;
  std::size_t queue_depth = 0;
  bool executing = false;
  double load_latency_s = 0.0;
  double exec_latency_s = 0.0;
  std::uint64_t requests = 0, hits = 0, misses = 0, loads = 0, load_failures = 0, evictions = 0,
                rejected = 0, timeouts = 0, errors = 0;
  double load_seconds_total = 0.0;
  std::string last_error;
};

struct CacheSnapshot {
  std::string policy;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::size_t queued = 0;
  std::size_t executing = 0;
  std::size_t loading = 0;
  std::vector<ModelSnapshot> models;
};

class Scheduler {
 public:
  // Throws UsageError on an unknown policy or a duplicate model name.
  Scheduler(std::vector<ServedModel> models, ModelLoader& loader, SchedulerOptions options,
            EventSink events = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  std::optional<ModelId> find(std::string_view name) const;
  const ServedModel& model(ModelId id) const { return models_[id]; }
  std::size_t model_count() const { return models_.size(); }

  // Queues one inference. `done` is called exactly once: with outputs, or with an error status
  // (kUnavailable queue full or shutting down, kBadRequest bad tensor, kFailed load or library
  // failure, kTimeout deadline passed before execution). It may be called before submit returns
  // (on the caller's thread) or later from a scheduler thread, possibly with the scheduler's
  // lock held: it must not call back into the scheduler, only hand the outcome on.
  // `oracle` carries the request's place in a known future (a replayed trace): its index and
  // the index of the model's next request, for oracle policies (belady, cremebrulee-oracle).
  void submit(ModelId id, std::vector<runtime::Tensor> inputs, Clock::time_point deadline,
              std::optional<OracleHint> oracle, InferDone done);
  // The same, waited on through a future (tests, tools).
  std::future<InferOutcome> submit(ModelId id, std::vector<runtime::Tensor> inputs,
                                   Clock::time_point deadline,
                                   std::optional<OracleHint> oracle = std::nullopt);
  // Loads a model (no-op if resident); `done` is called once it is (or failed), under the same
  // rules as submit's.
  void load(ModelId id, LoadDone done);
  std::future<LoadOutcome> load(ModelId id);
  // Unloads a resident model. kOk if done or not resident, kConflict if requests pin it or it
  // loads.
  LoadOutcome unload(ModelId id);

  // Whether a request for the model would be attempted (false while its loads keep failing).
  bool servable(ModelId id) const;

  // Input and output specs, known once the model has been loaded at least once.
  bool specs(ModelId id, std::vector<runtime::TensorSpec>& inputs,
             std::vector<runtime::TensorSpec>& outputs) const;

  CacheSnapshot snapshot() const;
  // Held shared by work that allocates transient memory (executions here, request parsing in
  // the HTTP front) and exclusively by a model's first load, so its measured bytes are its own.
  ActivityGate& activity_gate() { return gate_; }
  // Refuses new work from now on (503) and waits until nothing is queued, executing or loading,
  // or the timeout passes. Returns whether it drained.
  bool drain(std::chrono::milliseconds timeout);
  // Fails whatever is still queued, stops and joins the threads. Idempotent.
  void stop();

 private:
  struct Request;
  struct LoadWaiter;
  struct Slot;
  struct LoadJob;

  double now_s() const;
  std::uint64_t estimate_locked(ModelId id) const;
  void start_loads_locked();
  void schedule_exec_locked(ModelId id);
  void remove_pinned_locked(ModelId id);
  void fail_model_locked(ModelId id, Status status, const std::string& error);
  void take_victims_locked(const std::vector<ModelId>& evicted,
                           std::vector<std::unique_ptr<runtime::LoadedModel>>& handles);
  void after_unload_locked(const std::vector<ModelId>& victims);
  void learn_locked(ModelId id, double& field, double value);
  void emit(SchedulerEvent event) const;
  InferOutcome execute_locked(ModelId id, Request& request, std::unique_lock<std::mutex>& lock);
  void exec_loop();
  void loader_loop();

  std::vector<ServedModel> models_;
  std::unordered_map<std::string, ModelId> index_;
  ModelLoader& loader_;
  SchedulerOptions options_;
  EventSink events_;
  Clock::time_point start_;

  ActivityGate gate_;
  mutable std::mutex mutex_;
  std::condition_variable exec_cv_;
  std::condition_variable loader_cv_;
  std::condition_variable idle_cv_;
  ModelTable table_;  // the policy's view of sizes and costs; must outlive cache_
  std::unique_ptr<ModelCache> cache_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::deque<ModelId> pending_;   // models waiting for room to load, FIFO
  std::deque<ModelId> runnable_;  // ready models with queued requests and no execution
  std::deque<std::unique_ptr<LoadJob>> jobs_;
  std::uint64_t request_index_ = 0;
  std::size_t queued_ = 0;
  std::size_t executing_ = 0;
  std::size_t loading_ = 0;
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace brulee::serve
