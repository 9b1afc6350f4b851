#pragma once
// The server's scheduler (docs/server.md): per-model state machine (absent -> waiting for room ->
// loading -> ready -> unloading, and failed), per-model FIFO queues, execution threads, loader
// threads, back-off of failed loads, and the byte budget kept by the core library's ModelCache and
// policy. Knows nothing of HTTP.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <limits>
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
#include "core/seconds.hpp"
#include "core/timeline.hpp"
#include "runtime/backend.hpp"
#include "runtime/memory.hpp"
#include "runtime/workspace_pool.hpp"
#include "serve/activity_gate.hpp"
#include "serve/process_budget.hpp"

namespace brulee::serve {

class PrefetchDriver;

using Clock = std::chrono::steady_clock;

// One model the server can serve (from the repository, or a test).
struct ServedModel {
  std::string name;
  std::string version = "1";
  std::string platform;              // backend name: "onnx", "torchscript", ...
  std::string path;                  // file the loader opens
  std::uint64_t estimate_bytes = 0;  // before the first load: catalog size or file size
  // estimate_bytes is this runtime's measured size (a profiled catalog's, `serve --first-loads
  // concurrent`): with SchedulerOptions::concurrent_first_loads the first load need not be
  // isolated to measure it.
  bool size_profiled = false;
  // A floor under every measured size: the model file's size (its weights are held in memory).
  // Guards the budget against a measurement shrunk by memory other threads freed meanwhile.
  std::uint64_t min_bytes = 0;
  double load_latency_s = 0.0;  // seeds from a catalog (0 = unknown)
  double exec_latency_s = 0.0;
  // Memory beyond the resting size, from a catalog (0 = unknown; learned at the first load under
  // a process limit): the peak growth during a load (including the resting bytes) and the peak
  // growth during one inference (docs/server.md, "Process memory").
  std::uint64_t load_peak_bytes = 0;
  std::uint64_t workspace_bytes = 0;
  std::vector<std::string> labels;  // class names for /classify (index -> name), may be empty
  // Inputs and outputs as the repository's config.json declares them (the backend is given the
  // same inputs): with both, metadata is answered without loading the model, so a client asking
  // every model's metadata does not load (and evict) them all.
  std::vector<runtime::TensorSpec> inputs, outputs;
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
  // CPUs the execution threads, and the loader threads (the prefetch thread with them), are
  // restricted to; empty = wherever the kernel puts them (docs/server.md, "Queues and
  // threads"; `brulee serve` puts its other threads on load_cpus too). Every CPU must be one
  // the process may run on (UsageError otherwise).
  std::vector<int> exec_cpus, load_cpus;
  std::size_t max_queue_per_model = 512;
  std::size_t max_queue_total = 2048;
  double ewma_alpha = 0.2;  // weight of a new measurement in the learned profiles
  // A hit on an idle model whose learned exec time is known and below inline_exec_max_s runs on
  // the submitting thread (no hand-off to an execution thread), at most inline_max_concurrent
  // at a time. The submitting thread is a network thread: the server sets the bound to its
  // network threads minus one, so that however long an inline inference blocks (a stuck
  // library), one network thread stays free for every connection (docs/server.md, "Queues and
  // threads"). 0 turns inline runs off.
  double inline_exec_max_s = 0.001;
  unsigned inline_max_concurrent = 0;
  // Failed loads (docs/server.md, "Failed loads"). After a model's n-th consecutive failed load
  // its requests are refused at once (kUnavailable) for min(load_backoff_initial_s * 2^(n-1),
  // load_backoff_max_s) seconds; after load_failures_until_failed of them (0 = never) it is marked
  // failed (kFailed at once, no load) until its file changes or it is loaded explicitly. The
  // file's fingerprint is read at most once per file_check_interval_s per model.
  double load_backoff_initial_s = 0.5;
  double load_backoff_max_s = 60.0;
  std::uint32_t load_failures_until_failed = 3;
  double file_check_interval_s = 1.0;
  // Prefetching (docs/prefetch.md): while the loader is idle and nothing is queued, load a model
  // predicted to be requested, on a thread of its own that demand loads never wait for.
  bool prefetch = false;
  // A model whose size is profiled (ServedModel::size_profiled) loads beside inferences at its
  // first load instead of alone, charged the profiled size until a load that nothing disturbed
  // measures it; under a process limit its first load stays isolated (it measures the load's
  // peak and the inference's workspace). docs/server.md, "First loads beside inferences".
  bool concurrent_first_loads = false;
  // The process limit (--process-memory; docs/server.md, "Process memory"): 0 = none. May be
  // set later through process_budget().set_limit, before the first load.
  std::uint64_t process_memory_bytes = 0;
  // The share of the process budget (over the baseline) that models, loads and workspaces leave
  // free for request and response buffers.
  double process_buffer_share = 0.25;
  // Under a process limit: how many held requests of one resident model may be past their hold
  // at once, from reading their bodies to their answers (Scheduler::take_read_turn). The others
  // keep holding, their bodies unread, so that one model's requests cannot fill the buffers'
  // share while other resident models' requests wait behind them in the in-flight line.
  std::uint32_t process_read_ahead = 3;
  // Under a process limit: the process's resident bytes, read after loads and inferences so the
  // budget keeps room for what nobody charged (ProcessBudget::observe_rss). Empty: no such room
  // (tests whose fake models stand for the whole process). `brulee serve` reads /proc.
  std::function<std::uint64_t()> process_rss;
};

// absent -> waiting (for room) -> loading -> ready -> unloading -> absent | waiting; a load that
// fails goes back to absent (backing off) or to failed; failed -> absent when the mark is cleared.
// Every change goes through one checked function (transition_allowed has the table).
enum class ModelState {
  kAbsent,     // not in memory; a request for it starts a load
  kWaiting,    // admitted for a load, waiting for room (pinned models hold the memory)
  kLoading,    // its load runs on a loader thread; requests wait for it
  kReady,      // resident: requests execute
  kUnloading,  // leaving memory (evicted or unloaded); requests queue, then it loads again
  kFailed,     // too many failed loads: refused until its file changes or an explicit load
};
std::string_view state_name(ModelState state);
// The table of legal state changes.
bool transition_allowed(ModelState from, ModelState to);
// Throws std::logic_error naming both states if the change is not in the table (a scheduler bug).
void check_transition(ModelState from, ModelState to);

// What became of an operation, in the scheduler's terms; each protocol front-end maps it to its
// own codes (HTTP statuses, gRPC status codes).
enum class Status : std::uint8_t {
  kOk,
  kBadRequest,   // the request itself is wrong (tensor names, shapes, types)
  kNotFound,     // no such model or version
  kConflict,     // the operation clashes with the model's state (unload while serving)
  kUnavailable,  // try again later: queue full, shutting down, memory ceiling, load backing off
  kTimeout,      // the deadline passed before the work could start
  kFailed,       // a load or the inference library failed, or the model is marked failed
  kCancelled,    // the client went away before the work started (Scheduler::cancel)
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

// Names a queued request for Scheduler::cancel. Empty (false) when the request was answered
// before submit returned.
struct RequestTicket {
  ModelId model = kNoModel;
  std::uint64_t sequence = 0;  // 0: no request to cancel
  explicit operator bool() const { return sequence != 0; }
};

// A request's position in a known stream (see Scheduler::submit).
struct OracleHint {
  std::uint64_t index = 0;
  std::uint64_t next_index = kNeverAgain;
  // The request's time in the stream (seconds, as the trace has it), given to the policy instead
  // of the server's clock, so that time-aware policies decide as the simulator does on the same
  // trace (docs/fidelity.md, "Parity"). NaN: the server's clock. A replay gives it for every
  // request or for none.
  double time_s = std::numeric_limits<double>::quiet_NaN();
};

// When a request whose body was read after its model became resident (Scheduler::hold) arrived,
// and whether its model was resident then.
struct HeldArrival {
  Clock::time_point at;
  bool resident = false;
  // Which hold: the scheduler counts a hold as waiting to be submitted until a submit carries
  // it (or its release_hold, if the request never was).
  std::uint64_t token = 0;
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
  SchedulerEvent(Kind kind_, std::string model_, std::uint64_t bytes_ = 0, double seconds_ = 0.0,
                 std::string detail_ = {})
      : kind(kind_),
        model(std::move(model_)),
        bytes(bytes_),
        seconds(seconds_),
        detail(std::move(detail_)) {}
  Kind kind;
  std::string model;
  std::uint64_t bytes = 0;
  double seconds = 0.0;
  std::string detail;
  // kLoaded: what the load cost the loader thread (CPU, page faults) and the process's RSS after
  // it; a load that faults many pages runs into fresh memory (docs/fidelity.md).
  std::optional<runtime::ThreadUsage> work;
  std::uint64_t rss_bytes = 0;
  // kLoaded: the backend's own measure of the load (LoadedModel::load_time_s, the figure
  // `brulee profile` reports); `seconds` is the loader's whole call.
  double backend_s = 0.0;
};
using EventSink = std::function<void(const SchedulerEvent&)>;

// One counter of ModelCounters, as ModelCounters::for_each lists it.
struct CounterInfo {
  std::string_view key;     // its name in JSON answers (/v2/cache): "requests"
  std::string_view metric;  // its Prometheus family (/metrics): "brulee_requests_total"
  std::string_view help;
};

// A model's counters, listed once: the scheduler counts into them and every report (/metrics,
// /v2/cache) walks them with for_each, so a counter added here shows up everywhere.
struct ModelCounters {
  std::uint64_t requests = 0;  // accepted (queued or run at once)
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t loads = 0;
  std::uint64_t load_failures = 0;
  std::uint64_t evictions = 0;
  std::uint64_t rejected = 0;  // refused at once, never queued
  std::uint64_t timeouts = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t errors = 0;  // accepted, then answered with an error
  double load_seconds_total = 0.0;

  // Calls visit(const CounterInfo&, value) once per counter, in this order; value is a
  // std::uint64_t, or a double for load_seconds_total (a generic lambda takes both).
  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit(CounterInfo{"requests", "brulee_requests_total",
                      "Inference requests accepted (queued or run at once)."},
          requests);
    visit(
        CounterInfo{"hits", "brulee_cache_hits_total", "Requests that found their model resident."},
        hits);
    visit(CounterInfo{"misses", "brulee_cache_misses_total",
                      "Requests that found their model not resident."},
          misses);
    visit(CounterInfo{"loads", "brulee_model_loads_total", "Completed model loads."}, loads);
    visit(CounterInfo{"load_failures", "brulee_model_load_failures_total", "Failed model loads."},
          load_failures);
    visit(CounterInfo{"load_seconds_total", "brulee_model_load_seconds_total",
                      "Wall time spent loading models."},
          load_seconds_total);
    visit(CounterInfo{"evictions", "brulee_evictions_total", "Models evicted by the policy."},
          evictions);
    visit(CounterInfo{"rejected", "brulee_rejected_total",
                      "Requests refused at once: queue full, shutting down, model backing off "
                      "after a failed load or marked failed."},
          rejected);
    visit(CounterInfo{"timeouts", "brulee_timeouts_total",
                      "Requests whose deadline passed before they could run."},
          timeouts);
    visit(CounterInfo{"cancelled", "brulee_cancelled_total",
                      "Requests dropped from their queue because their client went away."},
          cancelled);
    visit(CounterInfo{"errors", "brulee_errors_total",
                      "Accepted requests answered with an error (failed load, bad input, "
                      "inference failure)."},
          errors);
  }
};

// The prefetcher's counters (docs/prefetch.md, "What is counted"), listed once like
// ModelCounters: /v2/cache and /metrics walk them with for_each.
struct PrefetchCounters {
  std::uint64_t prefetches = 0;            // prefetch loads started
  std::uint64_t prefetches_used = 0;       // requested before leaving memory (or while loading)
  std::uint64_t prefetches_cancelled = 0;  // abandoned for a demand load
  double prefetch_load_s = 0.0;            // wall time of prefetch work (victims' unload + load)
  double prefetch_wasted_s = 0.0;          // of which never used: abandoned, or evicted unused

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit(CounterInfo{"prefetches", "brulee_prefetches_total", "Prefetch loads started."},
          prefetches);
    visit(CounterInfo{"prefetches_used", "brulee_prefetches_used_total",
                      "Prefetched models requested before they left memory."},
          prefetches_used);
    visit(
        CounterInfo{"prefetches_cancelled", "brulee_prefetches_cancelled_total",
                    "Prefetch loads abandoned because a demand load needed memory or the loader."},
        prefetches_cancelled);
    visit(CounterInfo{"prefetch_load_s", "brulee_prefetch_load_seconds_total",
                      "Wall time spent on prefetches (unloading their victims, then loading)."},
          prefetch_load_s);
    visit(CounterInfo{"prefetch_wasted_s", "brulee_prefetch_wasted_seconds_total",
                      "Prefetch time never used: abandoned prefetches, and prefetched models that "
                      "left memory unrequested."},
          prefetch_wasted_s);
  }
};

struct ModelSnapshot {
  std::string name;
  std::string version;
  std::string platform;
  ModelState state = ModelState::kAbsent;
  std::uint64_t resident_bytes = 0;   // bytes charged in the cache (0 when absent)
  std::uint64_t size_bytes = 0;       // what the policy believes (estimate or last measured)
  std::uint64_t load_peak_bytes = 0;  // what a load reserves in the process budget
  std::uint64_t workspace_bytes = 0;  // what an inference reserves in the process budget
  std::uint32_t pins = 0;
  std::size_t queue_depth = 0;
  // Under a process limit: requests holding the model with their bodies unread (Scheduler::
  // hold), and how many of them have a read turn (take_read_turn).
  std::uint32_t held = 0;
  std::uint32_t read_turns = 0;
  bool executing = false;
  double load_latency_s = 0.0;
  double exec_latency_s = 0.0;
  ModelCounters counters;
  // Failed loads: the mark (state kFailed), the failures since the last success, the seconds
  // left before a request may load the model again (0 when not backing off), and the last error
  // (empty after a successful load).
  bool failed = false;
  std::uint32_t consecutive_failures = 0;
  double backoff_remaining_s = 0.0;
  std::string last_error;
  bool servable = true;  // what Scheduler::servable answers (without reading the file)
};

struct CacheSnapshot {
  std::string policy;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::size_t queued = 0;
  std::size_t executing = 0;
  std::size_t loading = 0;
  std::vector<ModelSnapshot> models;
  std::optional<PrefetchCounters> prefetch;  // with SchedulerOptions::prefetch
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
  // (kUnavailable queue full, shutting down or the model's load backing off, with retry_after_s;
  // kBadRequest bad tensor; kFailed load or library failure, or the model is marked failed;
  // kTimeout deadline passed before execution; kCancelled see cancel). It may be called before
  // submit returns (on the caller's thread) or later from a scheduler thread, possibly with the
  // scheduler's lock held: it must not call back into the scheduler, only hand the outcome on.
  // `oracle` carries the request's place in a known future (a replayed trace): its index and
  // the index of the model's next request, for oracle policies (belady, cremebrulee-oracle).
  // Returns the ticket that cancels the request while it is queued (empty if already answered).
  // `held`: the request held its model while its body was read (hold); it arrived then.
  // Otherwise it arrived `gated` ago: the time it waited, read but not yet parsed, for a first
  // load's isolation (activity_gate()) is waiting the server imposed, so its timeline counts it
  // (docs/fidelity.md, "The first loads' isolation").
  RequestTicket submit(ModelId id, std::vector<runtime::Tensor> inputs, Clock::time_point deadline,
                       std::optional<OracleHint> oracle, InferDone done,
                       std::optional<HeldArrival> held = std::nullopt,
                       Clock::duration gated = Clock::duration::zero());
  // The same, waited on through a future (tests, tools).
  std::future<InferOutcome> submit(ModelId id, std::vector<runtime::Tensor> inputs,
                                   Clock::time_point deadline,
                                   std::optional<OracleHint> oracle = std::nullopt);
  // Drops a queued request whose client gave up (deadline passed, connection closed): it leaves
  // its queue without running and its pin is released; its `done` is called before cancel
  // returns, on this thread and without the lock, with kTimeout if its deadline has passed, else
  // kCancelled. Returns false, and does nothing, if the request is no longer queued (running or
  // answered: its `done` is or was called as usual) or the ticket is empty.
  bool cancel(RequestTicket ticket);
  // Holds a model for a request whose body is not read yet (docs/server.md, "Process memory":
  // under a process limit the HTTP front reads an inference's body only once its model is
  // resident): the hold pins the model, and starts its load if it is absent, as a queued
  // request would, without counting as a request for the policy. False, and nothing held, when
  // a request would be refused at once (shutting down, the model marked failed or backing off,
  // a queue full): the request's own submit then says why. Every true is ended by one
  // release_hold, after the request was answered or abandoned. What it returns goes to the
  // request's submit: the request arrived then, and was a miss if the model was not resident.
  std::optional<HeldArrival> hold(ModelId id);
  // `turn`: the request had taken a read turn (take_read_turn), given back here. `token`: the
  // hold's (HeldArrival::token); 0 ends one of the model's holds not yet submitted, if any.
  void release_hold(ModelId id, bool turn = false, std::uint64_t token = 0);
  // Whether a held model's request should go on: the model is resident, or no load is under
  // way for it any more (its load failed: the submit answers why). Reads no lock.
  bool hold_settled(ModelId id) const;
  // Whether a held request may read its body now: its model is resident and fewer than
  // options.process_read_ahead of the model's held requests have a turn (`turn` set: it takes
  // one, given back by release_hold), or no load is under way for it any more (`turn` left
  // false). No new turn while a first load holds the activity gate (under a process limit it
  // measures its peak, and bodies read meanwhile would count as the load's). Reads no lock.
  bool take_read_turn(ModelId id, bool& turn);
  // Loads a model (no-op if resident); `done` is called once it is (or failed), under the same
  // rules as submit's. An explicit load is the operator's: it ignores a back-off and clears a
  // failed mark, and tries once (if that load fails too, the model is marked failed again).
  void load(ModelId id, LoadDone done);
  std::future<LoadOutcome> load(ModelId id);
  // Unloads a resident model: it leaves the cache at once and a loader thread frees it (before
  // any queued load), so the caller's thread never waits for the drop. `done` is called once it
  // is freed, under the same rules as submit's; at once with kOk if it is not resident, with
  // kConflict if requests pin it or it loads, and with kUnavailable while shutting down.
  void unload(ModelId id, LoadDone done);
  // The same, waiting for the outcome (tests and tools; never from a scheduler callback).
  LoadOutcome unload(ModelId id);

  // Whether the model's requests can be served (now, or after a load a request would start):
  // false while it is marked failed after repeated failed loads, or when its known size exceeds
  // the whole budget. True while a failed load only backs off. Reads the failed model's file
  // fingerprint (at most once per file_check_interval_s) and clears the mark if it changed, so a
  // client that waits for readiness sees a fixed model become servable.
  bool servable(ModelId id);

  // Input and output specs, known once the model has been loaded at least once.
  bool specs(ModelId id, std::vector<runtime::TensorSpec>& inputs,
             std::vector<runtime::TensorSpec>& outputs) const;

  CacheSnapshot snapshot() const;
  // Held shared by work that allocates transient memory (executions here, request parsing in
  // the HTTP front) and exclusively by a model's first load, so its measured bytes are its own.
  ActivityGate& activity_gate() { return gate_; }
  // Every byte the process knowingly holds, by kind (docs/server.md, "Process memory").
  ProcessBudget& process_budget() { return process_; }
  const ProcessBudget& process_budget() const { return process_; }
  // Refuses new work from now on (503) and waits until nothing is queued, executing or loading,
  // or the timeout passes. Returns whether it drained.
  bool drain(std::chrono::milliseconds timeout);
  // Fails whatever is still queued, stops and joins the threads. Idempotent.
  void stop();
  // With prefetching: waits until no prefetch load is queued or running (a decision, taken when
  // the loader went idle, may have started one, and its end may start the next), or the timeout
  // passes. Returns whether it settled. For tests and tools that step a trace.
  bool wait_prefetch_settled(std::chrono::milliseconds timeout);

 private:
  struct Request;
  struct LoadWaiter;
  struct ModelEntry;
  struct LoadJob;
  struct UnloadJob;
  struct LoadResult;

  double now_s() const;
  std::uint64_t estimate_locked(ModelId id) const;
  void set_state_locked(ModelId id, ModelState to);
  void wait_for_room_locked(ModelId id, bool first);
  bool wanted_locked(ModelId id) const;
  void settle_locked(ModelId id);
  std::optional<InferOutcome> refusal_locked(ModelId id, std::unique_lock<std::mutex>& lock,
                                             std::size_t own_holds = 0);
  bool recheck_file_locked(ModelId id, std::unique_lock<std::mutex>& lock, bool force);
  void forget_failures_locked(ModelId id);
  void load_failed_locked(ModelId id, const LoadJob& job, const std::string& error,
                          SchedulerEvent& event);
  double backoff_remaining_s_locked(ModelId id, Clock::time_point now) const;
  bool servable_locked(ModelId id) const;
  void start_loads_locked();
  void schedule_exec_locked(ModelId id);
  void evict_despite_pins_locked(ModelId id);
  void make_room_despite_holds_locked(ModelId id, std::uint64_t want,
                                      std::vector<ModelId>& victims);
  // Answers the model's queued requests, unrun, with `status` and `error`; answer_work_locked
  // also its explicit loads' waiters.
  void answer_queue_locked(ModelId id, Status status, const std::string& error);
  void answer_work_locked(ModelId id, Status status, const std::string& error);
  void take_victims_locked(const std::vector<ModelId>& evicted,
                           std::vector<std::unique_ptr<runtime::LoadedModel>>& handles);
  void run_unload(UnloadJob& job);
  void return_freed_memory(bool always = false) const;
  void after_unload_locked(const std::vector<ModelId>& victims);
  enum class Cost { kLoad, kExec, kUnload };  // the latencies the server learns
  void learn_locked(ModelId id, Cost cost, double seconds);
  void emit(SchedulerEvent event) const;
  InferOutcome execute_locked(ModelId id, Request& request, std::unique_lock<std::mutex>& lock,
                              std::uint64_t workspace);
  // Process memory hooks (docs/server.md, "Process memory").
  std::uint64_t load_peak_locked(ModelId id, std::uint64_t estimate) const;
  std::uint64_t workspace_locked(ModelId id) const;
  // The most a load may take under a process limit: its budget less the buffers' share.
  std::uint64_t load_room_limit() const { return process_.budget() - process_.buffer_share(); }
  void release_resting_locked(ModelId id);
  std::uint64_t scheduler_room_locked() const;
  std::uint64_t process_reserve_locked() const;
  // An inference's workspace charge (false: no room), the pool's kept blocks counted first, and
  // its end: the pool keeps what it holds beyond the other charges, within this workspace.
  bool try_charge_workspace_locked(std::uint64_t workspace);
  // Whether the model's workspace fits beside its own resting bytes in load_room_limit; if not,
  // a smaller figure that fits replaces it, or the model's queued requests fail (false both).
  bool workspace_fits_alone_locked(ModelId id, std::uint64_t workspace);
  void release_workspace_locked(std::uint64_t workspace);
  // Frees the pool's idle blocks and gives their charge back (false: it held none).
  bool drop_workspace_pool_locked();
  // options_.process_rss into the budget (its reserve; the allocator's keeping or returning).
  void observe_process_rss();
  void expire_memory_waits_locked();
  void exec_loop();
  // The loader threads (scheduler_loader.cpp): a load's victims' unload, the backend's load
  // (without the lock), and taking its outcome in.
  void loader_loop(bool prefetch_lane = false);
  void unload_victims(LoadJob& job);
  LoadResult run_load(LoadJob& job, bool isolate);
  void finish_load(LoadJob& job, LoadResult result);
  void take_loaded_locked(ModelId id, LoadResult& result, bool remeasure_peak, SchedulerEvent& done,
                          std::vector<ModelId>& victims,
                          std::vector<std::unique_ptr<runtime::LoadedModel>>& dropped);
  // Prefetching (scheduler_prefetch.cpp): hooks called with the lock held.
  void prefetch_arrival_locked(ModelId id, double time_s, bool hinted);
  void prefetch_idle_locked();
  void prefetch_evicted_locked(ModelId id);
  bool prefetch_finished_locked(const LoadJob& job, bool failed, SchedulerEvent& done);
  void prefetch_stop_locked();

  std::vector<ServedModel> models_;
  std::unordered_map<std::string, ModelId> index_;
  ModelLoader& loader_;
  SchedulerOptions options_;
  EventSink events_;
  Clock::time_point start_;

  ActivityGate gate_;
  ProcessBudget process_;
  // Under a process limit: inferences' workspace blocks kept for the next inference
  // (runtime/workspace_pool.hpp). Its capacity is what is charged for it: pool_charge_ (kept
  // from finished inferences) plus the workspaces of those running (running_workspace_).
  runtime::WorkspacePool workspace_pool_;
  std::uint64_t pool_charge_ = 0;
  std::uint64_t running_workspace_ = 0;
  bool memory_blocked_ = false;  // a load or an execution waits for process memory
  mutable std::mutex mutex_;
  std::mutex allocator_mutex_;  // observe_process_rss's switches of the allocator
  std::condition_variable exec_cv_;
  std::condition_variable loader_cv_;
  // A loader waits for runnable requests to start, and for held requests of ready models to be
  // submitted, before an isolated load (loader_loop); the execution threads notify loader_cv_
  // when they take one, submit and release_hold when a hold waits no more.
  bool runnable_waits_ = false;
  bool ready_holds_wait_locked() const;
  void forget_unsubmitted_locked(ModelEntry& entry, std::uint64_t token, bool any);
  std::uint64_t next_hold_token_ = 1;
  static constexpr auto kRunnableFirstWait = std::chrono::milliseconds(50);
  std::condition_variable idle_cv_;
  ModelTable table_;  // the policy's view of sizes and costs; must outlive cache_
  std::unique_ptr<ModelCache> cache_;
  std::vector<std::unique_ptr<ModelEntry>> entries_;
  std::deque<ModelId> pending_;   // models waiting for room to load, FIFO
  std::deque<ModelId> runnable_;  // ready models with queued requests and no execution
  std::deque<std::unique_ptr<LoadJob>> jobs_;
  std::deque<std::unique_ptr<UnloadJob>> unloads_;  // explicit unloads, run first by a loader
  std::uint64_t request_index_ = 0;
  std::uint64_t next_sequence_ = 1;  // tickets
  std::size_t queued_ = 0;
  std::size_t holds_ = 0;  // Scheduler::hold, over every model
  std::size_t executing_ = 0;
  std::size_t loading_ = 0;
  unsigned inline_running_ = 0;  // hits running on submitting threads
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  // Prefetching: the decisions' state, and the jobs of the prefetch thread.
  std::unique_ptr<PrefetchDriver> prefetch_;
  std::deque<std::unique_ptr<LoadJob>> prefetch_jobs_;
  std::condition_variable prefetch_cv_;
};

// Ends a Scheduler::hold when the request is done with its model.
class ModelHold {
 public:
  explicit ModelHold(Scheduler& scheduler) : scheduler_(scheduler) {}
  ~ModelHold() {
    if (id_ != kNoModel) scheduler_.release_hold(id_, turn_, arrival_->token);
  }
  ModelHold(const ModelHold&) = delete;
  ModelHold& operator=(const ModelHold&) = delete;
  // Holds the model; false when the scheduler would refuse its requests (nothing held).
  bool take(ModelId id) {
    arrival_ = scheduler_.hold(id);
    if (!arrival_) return false;
    id_ = id;
    return true;
  }
  // For the request's submit: when it arrived, and whether its model was resident then.
  std::optional<HeldArrival> arrival() const { return arrival_; }
  // Whether the request may read its body now (Scheduler::take_read_turn); a turn taken is
  // given back with the hold.
  bool take_read_turn() { return turn_ || scheduler_.take_read_turn(id_, turn_); }

 private:
  Scheduler& scheduler_;
  ModelId id_ = kNoModel;
  bool turn_ = false;
  std::optional<HeldArrival> arrival_;
};

}  // namespace brulee::serve
