#include "serve/scheduler.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <utility>

#include "core/error.hpp"
#include "core/units.hpp"
#include "runtime/cpus.hpp"
#include "runtime/memory.hpp"
#include "serve/prefetch_driver.hpp"
#include "serve/scheduler_parts.hpp"

namespace brulee::serve {

using detail::file_fingerprint;

std::string_view state_name(ModelState state) {
  switch (state) {
    case ModelState::kAbsent:
      return "absent";
    case ModelState::kWaiting:
      return "waiting";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kReady:
      return "ready";
    case ModelState::kUnloading:
      return "unloading";
    case ModelState::kFailed:
      return "failed";
  }
  return "unknown";
}

namespace {
constexpr std::size_t kStateCount = 6;
// kLegal[from][to]: the residency state machine (docs/server.md, "Per-model state machine").
constexpr bool kLegal[kStateCount][kStateCount] = {
    //                absent waiting loading ready  unloading failed
    /* absent    */ {false, true, false, false, false, false},  // a request or load wants it
    /* waiting   */ {true, false, true, false, false, false},   // room reserved; or too large,
                                                                // or all its work went away
    /* loading   */ {true, true, false, true, false, true},     // failed (back-off) | does not
                                                                // fit yet | loaded | marked failed
    /* ready     */ {false, false, false, false, true, false},  // evicted or unloaded
    /* unloading */ {true, true, false, false, false, false},   // gone; work arrived meanwhile
    /* failed    */ {true, false, false, false, false, false},  // mark cleared
};
}  // namespace

bool transition_allowed(ModelState from, ModelState to) {
  const auto f = static_cast<std::size_t>(from);
  const auto t = static_cast<std::size_t>(to);
  return f < kStateCount && t < kStateCount && kLegal[f][t];
}

void check_transition(ModelState from, ModelState to) {
  if (!transition_allowed(from, to)) {
    throw std::logic_error("illegal model state change " + std::string(state_name(from)) + " -> " +
                           std::string(state_name(to)));
  }
}

std::string_view status_name(Status status) {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kBadRequest:
      return "bad request";
    case Status::kNotFound:
      return "not found";
    case Status::kConflict:
      return "conflict";
    case Status::kUnavailable:
      return "unavailable";
    case Status::kTimeout:
      return "timeout";
    case Status::kFailed:
      return "failed";
    case Status::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace {

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g s", seconds);
  return buffer;
}

// The answer to a request that never ran (refused, cancelled, or its load failed).
InferOutcome unrun_outcome(Status status, std::string error, Clock::time_point arrival, bool hit) {
  InferOutcome outcome;
  outcome.status = status;
  outcome.error = std::move(error);
  outcome.hit = hit;
  outcome.timeline.hit = hit;
  outcome.timeline.start_s = outcome.timeline.end_s = seconds_since(arrival);
  outcome.delays = derive_delays(outcome.timeline);
  if (status == Status::kUnavailable) outcome.retry_after_s = 1.0;
  return outcome;
}
}  // namespace

namespace detail {

FileFingerprint file_fingerprint(const std::string& path) {
  FileFingerprint fingerprint;
  struct stat info {};
  if (path.empty() || ::stat(path.c_str(), &info) != 0) return fingerprint;  // symlinks followed
  fingerprint.exists = true;
  fingerprint.device = static_cast<std::uint64_t>(info.st_dev);
  fingerprint.inode = static_cast<std::uint64_t>(info.st_ino);
  fingerprint.size_bytes = static_cast<std::uint64_t>(info.st_size);
  fingerprint.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                         static_cast<std::int64_t>(info.st_mtim.tv_nsec);
  fingerprint.ctime_ns = static_cast<std::int64_t>(info.st_ctim.tv_sec) * 1'000'000'000 +
                         static_cast<std::int64_t>(info.st_ctim.tv_nsec);
  return fingerprint;
}

}  // namespace detail

Scheduler::Scheduler(std::vector<ServedModel> models, ModelLoader& loader, SchedulerOptions options,
                     EventSink events)
    : models_(std::move(models)),
      loader_(loader),
      options_(std::move(options)),
      events_(std::move(events)),
      start_(Clock::now()),
      process_(options_.process_memory_bytes) {
  if (options_.exec_threads == 0) throw UsageError("--exec-threads must be at least 1");
  if (options_.loader_threads == 0) throw UsageError("--loader-threads must be at least 1");
  if (options_.memory_bytes == 0) throw UsageError("--memory must be more than 0 bytes");
  for (const double seconds : {options_.load_backoff_initial_s, options_.load_backoff_max_s,
                               options_.file_check_interval_s}) {
    if (!std::isfinite(seconds) || seconds < 0.0 || seconds > 1e6) {
      throw UsageError("load back-off and file check intervals must be 0 to 1e6 seconds");
    }
  }
  try {
    runtime::check_cpus_allowed(options_.exec_cpus, "--exec-cpus");
    runtime::check_cpus_allowed(options_.load_cpus, "--load-cpus");
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  process_.set_buffer_share(options_.process_buffer_share);
  table_.resize(models_.size());
  for (std::size_t i = 0; i < models_.size(); ++i) {
    const auto& served = models_[i];
    if (!index_.emplace(served.name, static_cast<ModelId>(i)).second) {
      throw UsageError("model " + served.name + " appears twice");
    }
    table_[i].name = served.name;
    table_[i].size_bytes = std::max<std::uint64_t>(served.estimate_bytes, 1);
    table_[i].load_latency_s = served.load_latency_s;
    table_[i].exec_latency_s = served.exec_latency_s;
    entries_.push_back(std::make_unique<ModelEntry>());
    if (options_.concurrent_first_loads && served.size_profiled && served.estimate_bytes > 0) {
      entries_.back()->measured_bytes = std::max(served.estimate_bytes, served.min_bytes);
      entries_.back()->size_known = entries_.back()->size_seeded = true;
      entries_.back()->profiled_bytes = entries_.back()->measured_bytes;
    }
    entries_.back()->load_peak_bytes = served.load_peak_bytes;
    entries_.back()->workspace_bytes = served.workspace_bytes;
    if (!served.inputs.empty() && !served.outputs.empty()) {
      entries_.back()->inputs = served.inputs;
      entries_.back()->outputs = served.outputs;
      entries_.back()->known_specs = true;
    }
  }
  cache_ = std::make_unique<ModelCache>(
      options_.memory_bytes, table_, make_policy(options_.policy, table_, options_.policy_options));
  if (options_.prefetch) {
    prefetch_ = std::make_unique<PrefetchDriver>(table_, options_.policy_options.cost_mode);
    threads_.emplace_back([this] { loader_loop(true); });
  }
  for (unsigned i = 0; i < options_.exec_threads; ++i)
    threads_.emplace_back([this] { exec_loop(); });
  for (unsigned i = 0; i < options_.loader_threads; ++i) {
    threads_.emplace_back([this] { loader_loop(); });
  }
  // Named and placed before any work can reach them (none is queued until this returns): the
  // prefetch thread, then the execution threads, then the loaders, in the order started above.
  std::size_t index = 0;
  const auto place = [&](const char* name, const std::vector<int>& cpus) {
    if (!runtime::place_thread(threads_[index++].native_handle(), name, cpus)) {
      stop();
      throw UsageError(std::string("could not restrict the ") + name + " threads to CPUs " +
                       runtime::format_cpu_list(cpus));
    }
  };
  if (options_.prefetch) place("brulee-prefetch", options_.load_cpus);
  for (unsigned i = 0; i < options_.exec_threads; ++i) place("brulee-exec", options_.exec_cpus);
  for (unsigned i = 0; i < options_.loader_threads; ++i) place("brulee-load", options_.load_cpus);
}

Scheduler::~Scheduler() { stop(); }

std::optional<ModelId> Scheduler::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

double Scheduler::now_s() const { return seconds_since(start_); }

void Scheduler::emit(SchedulerEvent event) const {
  if (events_) events_(event);
}

std::uint64_t Scheduler::estimate_locked(ModelId id) const {
  const ModelEntry& entry = *entries_[id];
  if (entry.measured_bytes > 0) return entry.measured_bytes;
  return std::max<std::uint64_t>(models_[id].estimate_bytes, 1);
}

// ---- process memory hooks (docs/server.md, "Process memory") ------------------------------

// What a load of the model holds at its peak: the catalog's or learned figure, never below the
// estimate plus one inference's workspace (a load ends with a warm-up inference, and a first
// load measures one more); unknown, twice the estimate (the load's transient memory taken as
// large as what it keeps, until the first load under a process limit measures it).
std::uint64_t Scheduler::load_peak_locked(ModelId id, std::uint64_t estimate) const {
  const ModelEntry& entry = *entries_[id];
  const std::uint64_t peak = entry.load_peak_bytes == 0 ? 2 * estimate : entry.load_peak_bytes;
  return std::max(peak, estimate + workspace_locked(id));
}

// One inference's peak above resting: known, or a quarter of the model's size until measured.
std::uint64_t Scheduler::workspace_locked(ModelId id) const {
  const ModelEntry& entry = *entries_[id];
  if (entry.workspace_bytes != 0) return entry.workspace_bytes;
  return estimate_locked(id) / 4;
}

// The room the scheduler's own charges may take: the process budget's room minus the share kept
// for request buffers.
std::uint64_t Scheduler::scheduler_room_locked() const {
  const std::uint64_t room = process_.room();
  const std::uint64_t reserve = process_reserve_locked();
  return room > reserve ? room - reserve : 0;
}

bool Scheduler::try_charge_workspace_locked(std::uint64_t workspace) {
  const std::uint64_t kept = std::min(workspace, pool_charge_);
  if (workspace > kept &&
      !process_.try_charge(MemoryKind::kWorkspace, workspace - kept, process_reserve_locked())) {
    return false;
  }
  pool_charge_ -= kept;
  running_workspace_ += workspace;
  if (process_.limited()) workspace_pool_.set_capacity(pool_charge_ + running_workspace_);
  return true;
}

void Scheduler::release_workspace_locked(std::uint64_t workspace) {
  running_workspace_ -= workspace;
  std::uint64_t keep = 0;
  if (process_.limited()) {
    // What the pool holds beyond the charges that stay (the other running inferences' and what
    // it kept before) stays charged, up to this workspace; the rest of the pool goes.
    const std::uint64_t covered = pool_charge_ + running_workspace_;
    const std::uint64_t held = workspace_pool_.held();
    keep = held > covered ? std::min(workspace, held - covered) : 0;
    pool_charge_ += keep;
    workspace_pool_.set_capacity(pool_charge_ + running_workspace_);
  }
  process_.release(MemoryKind::kWorkspace, workspace - keep);
}

// Whether one inference of the resident model `id` fits beside its own resting bytes in what
// models, loads and workspaces may take (load_room_limit), once everything else gives memory
// back. If not, its queued requests would wait until their deadlines while nothing else moves
// (a 512-request burst answered 0 in 60 s: resnet18-pt, its load measured 4.8 MB above its
// estimate, with every other model waiting behind its requests). A figure learned online can
// be too large: the first load measures the process's growth, and memory other threads touch
// meanwhile (a request body being read) counts. So a smaller figure that fits is taken instead:
// the catalog's (profiled alone), or a quarter of the model's size without one. If none fits,
// the queued requests fail, saying why. False: the figure changed or the requests were answered.
bool Scheduler::workspace_fits_alone_locked(ModelId id, std::uint64_t workspace) {
  ModelEntry& entry = *entries_[id];
  const std::uint64_t room = load_room_limit();
  const std::uint64_t resting = entry.charged_resting;
  if (resting <= room && workspace <= room - resting) return true;
  const std::uint64_t fallback =
      models_[id].workspace_bytes != 0 ? models_[id].workspace_bytes : estimate_locked(id) / 4;
  if (fallback < workspace && resting <= room && fallback <= room - resting) {
    entry.workspace_bytes = std::max<std::uint64_t>(fallback, 1);
    emit(
        {SchedulerEvent::Kind::kResized, models_[id].name, entry.workspace_bytes, 0.0,
         "inference workspace of " + format_bytes(workspace) + " does not fit beside its " +
             format_bytes(resting) + " resting within the " + format_bytes(room) +
             " models may take; charging " + format_bytes(entry.workspace_bytes) +
             (models_[id].workspace_bytes != 0 ? " (the catalog's)" : " (a quarter of its size)")});
    return false;
  }
  entry.last_error = "model " + models_[id].name + " needs " + format_bytes(resting) +
                     " resting and " + format_bytes(workspace) +
                     " for an inference, more than the process budget of " + format_bytes(room) +
                     " over the idle baseline (request buffers' share excluded)";
  answer_queue_locked(id, Status::kFailed, entry.last_error);
  return false;
}

bool Scheduler::drop_workspace_pool_locked() {
  if (pool_charge_ == 0) return false;
  workspace_pool_.set_capacity(running_workspace_);
  process_.release(MemoryKind::kWorkspace, std::exchange(pool_charge_, 0));
  return true;
}

// Kept free of models, loads and workspaces for request and response buffers: their share
// (options_.process_buffer_share of the budget over the baseline, less the reserve for uncharged
// memory) less what buffers hold already.
std::uint64_t Scheduler::process_reserve_locked() const {
  if (!process_.limited()) return 0;
  const std::uint64_t share = process_.buffer_room_share();
  const std::uint64_t buffers = process_.charged(MemoryKind::kBuffers);
  return share > buffers ? share - buffers : 0;
}

void Scheduler::observe_process_rss() {
  if (!options_.process_rss || !process_.limited()) return;
  // One switch of the allocator at a time, in the order the budget says them.
  std::lock_guard lock(allocator_mutex_);
  auto change = process_.observe_rss(options_.process_rss());
  if (change == ProcessBudget::Switch::kReturnFreed) {
    // Near the limit: freed memory goes back from now on, and what was kept goes back now; the
    // measurement after the trim may already call for keeping again.
    runtime::return_freed_memory();
    runtime::release_free_memory();
    change = process_.observe_rss(options_.process_rss());
  }
  if (change == ProcessBudget::Switch::kKeepFreed) runtime::keep_freed_memory();
}

// The model's memory has really been freed: its resting charge goes back.
void Scheduler::release_resting_locked(ModelId id) {
  ModelEntry& entry = *entries_[id];
  process_.release(MemoryKind::kResting, std::exchange(entry.charged_resting, 0));
  memory_blocked_ = memory_blocked_ || process_.limited();
}

// Requests waiting for process memory whose deadline passed get 503 with Retry-After (the
// caller's poll, while something waits for memory).
void Scheduler::expire_memory_waits_locked() {
  const auto now = Clock::now();
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    ModelEntry& entry = *entries_[i];
    if (!entry.memory_wait) continue;
    const auto id = static_cast<ModelId>(i);
    for (auto it = entry.queue.begin(); it != entry.queue.end();) {
      if ((*it)->deadline >= now) {
        ++it;
        continue;
      }
      std::unique_ptr<Request> request = std::move(*it);
      it = entry.queue.erase(it);
      --queued_;
      ++entry.counters.timeouts;
      cache_->state().unpin(id);
      InferOutcome outcome = unrun_outcome(
          Status::kUnavailable,
          "model " + models_[id].name + " could not get process memory before the deadline (" +
              format_bytes(process_.limit()) + " limit)",
          request->arrival, request->hit);
      request->done(std::move(outcome));
    }
    settle_locked(id);
  }
  idle_cv_.notify_all();
}

// Folds a measured latency into the model's cost in the table (an exponential average,
// options_.ewma_alpha; the first measurement replaces an unknown 0) and tells the policy.
void Scheduler::learn_locked(ModelId id, Cost cost, double seconds) {
  ModelInfo& info = table_[id];
  double& field = cost == Cost::kLoad   ? info.load_latency_s
                  : cost == Cost::kExec ? info.exec_latency_s
                                        : info.unload_latency_s;
  field =
      field <= 0.0 ? seconds : (1.0 - options_.ewma_alpha) * field + options_.ewma_alpha * seconds;
  cache_->policy().on_cost_update(id);
  if (prefetch_) prefetch_->prefetcher().on_cost_update(id);
}

// Every change of a model's state goes through here; an illegal one is a scheduler bug.
void Scheduler::set_state_locked(ModelId id, ModelState to) {
  ModelEntry& entry = *entries_[id];
  check_transition(entry.state, to);
  entry.state = to;
  entry.published.store(to, std::memory_order_release);
}

// The model joins the models waiting for room (first: at the head, it was next already).
void Scheduler::wait_for_room_locked(ModelId id, bool first) {
  set_state_locked(id, ModelState::kWaiting);
  entries_[id]->backoff_until = {};
  if (first) {
    pending_.push_front(id);
  } else {
    pending_.push_back(id);
  }
}

// Whether anything waits for the model: queued requests, explicit loads or holds.
bool Scheduler::wanted_locked(ModelId id) const {
  const ModelEntry& entry = *entries_[id];
  return !entry.queue.empty() || !entry.waiters.empty() || entry.holds != 0;
}

// A waiting model whose requests, load waiters and holds all went away stops waiting.
void Scheduler::settle_locked(ModelId id) {
  ModelEntry& entry = *entries_[id];
  if (entry.state != ModelState::kWaiting || wanted_locked(id)) return;
  if (auto it = std::find(pending_.begin(), pending_.end(), id); it != pending_.end()) {
    pending_.erase(it);
  }
  set_state_locked(id, ModelState::kAbsent);
}

std::future<InferOutcome> Scheduler::submit(ModelId id, std::vector<runtime::Tensor> inputs,
                                            Clock::time_point deadline,
                                            std::optional<OracleHint> oracle) {
  auto promise = std::make_shared<std::promise<InferOutcome>>();
  auto future = promise->get_future();
  submit(id, std::move(inputs), deadline, oracle,
         [promise](InferOutcome outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

// Why a new request for the model is refused at once, if it is: shutting down, the model is
// marked failed or backing off after a failed load, a queue is full. May release the lock for a
// moment to read a failed model's file.
std::optional<InferOutcome> Scheduler::refusal_locked(ModelId id,
                                                      std::unique_lock<std::mutex>& lock,
                                                      std::size_t own_holds) {
  ModelEntry& entry = *entries_[id];
  const std::string& name = models_[id].name;
  auto refuse = [](Status status, std::string error, double retry_after_s) {
    InferOutcome outcome;
    outcome.status = status;
    outcome.error = std::move(error);
    outcome.retry_after_s = retry_after_s;
    return outcome;
  };
  if (entry.consecutive_failures != 0) {
    recheck_file_locked(id, lock, false);
    if (entry.state == ModelState::kFailed) {
      return refuse(Status::kFailed,
                    "model " + name + " is marked failed after " +
                        std::to_string(entry.consecutive_failures) +
                        " consecutive failed loads (replace its file or load it explicitly): " +
                        entry.last_error,
                    0.0);
    }
    if (const double wait_s = backoff_remaining_s_locked(id, Clock::now()); wait_s > 0.0) {
      return refuse(Status::kUnavailable,
                    "model " + name + " is not loaded again for " + seconds_text(wait_s) +
                        " after " + std::to_string(entry.consecutive_failures) +
                        " failed load(s): " + entry.last_error,
                    wait_s);
    }
  }
  if (!accepting_) return refuse(Status::kUnavailable, "server is shutting down", 1.0);
  // Holds count as queued requests (a header alone must not pin more than a queue may); a held
  // request's own submit does not count its hold.
  const std::size_t waiting = entry.queue.size() + entry.holds - own_holds;
  if (waiting >= options_.max_queue_per_model) {
    return refuse(Status::kUnavailable,
                  "queue of model " + name + " is full (" +
                      std::to_string(options_.max_queue_per_model) + " requests)",
                  1.0);
  }
  if (queued_ + holds_ - own_holds >= options_.max_queue_total) {
    return refuse(
        Status::kUnavailable,
        "server queue is full (" + std::to_string(options_.max_queue_total) + " requests)", 1.0);
  }
  return std::nullopt;
}

RequestTicket Scheduler::submit(ModelId id, std::vector<runtime::Tensor> inputs,
                                Clock::time_point deadline, std::optional<OracleHint> oracle,
                                InferDone done, std::optional<HeldArrival> held,
                                Clock::duration gated) {
  auto request = std::make_unique<Request>();
  request->inputs = std::move(inputs);
  request->arrival = held ? held->at : Clock::now() - gated;
  request->deadline = deadline;
  request->done = std::move(done);
  std::unique_lock lock(mutex_);
  ModelEntry& entry = *entries_[id];
  if (std::optional<InferOutcome> refusal = refusal_locked(id, lock, held ? 1 : 0)) {
    ++entry.counters.rejected;
    lock.unlock();
    request->done(std::move(*refusal));
    return {};
  }
  RequestEvent event;
  event.model = id;
  event.time_s = now_s();
  event.index = request_index_++;
  if (oracle) {
    event.index = oracle->index;
    event.next_index = oracle->next_index;
    if (std::isfinite(oracle->time_s)) event.time_s = oracle->time_s;
  }
  if (prefetch_) prefetch_arrival_locked(id, event.time_s, oracle && std::isfinite(oracle->time_s));
  // A hit is a model ready at the request's arrival. A request that waited at the activity
  // gate (arrival back-dated) while its own model's first load ran finds it ready, but shared
  // that load: a miss, as the simulator counts it (docs/fidelity.md, "Definitions").
  if (held) forget_unsubmitted_locked(entry, held->token, false);
  request->hit = cache_->record(event) && entry.state == ModelState::kReady &&
                 (!held || held->resident) && entry.ready_since <= request->arrival;
  ++entry.counters.requests;
  ++(request->hit ? entry.counters.hits : entry.counters.misses);
  cache_->state().pin(id);
  if (entry.state == ModelState::kReady && !entry.executing && entry.queue.empty() &&
      executing_ < options_.exec_threads && inline_running_ < options_.inline_max_concurrent &&
      table_[id].exec_latency_s > 0.0 && table_[id].exec_latency_s < options_.inline_exec_max_s &&
      !gate_.contended() && try_charge_workspace_locked(workspace_locked(id))) {
    // Hit on an idle model known to be quick, with a free execution slot, no first load being
    // measured and fewer than inline_max_concurrent inline runs: run it on the caller's thread
    // (no hand-off). FIFO order and the bound on concurrent executions still hold.
    ++inline_running_;
    InferOutcome outcome = execute_locked(id, *request, lock, workspace_locked(id));
    --inline_running_;
    lock.unlock();
    request->done(std::move(outcome));
    idle_cv_.notify_all();
    return {};
  }
  request->sequence = next_sequence_++;
  const RequestTicket ticket{id, request->sequence};
  entry.queue.push_back(std::move(request));
  ++queued_;
  switch (entry.state) {
    case ModelState::kAbsent:
      wait_for_room_locked(id, false);
      start_loads_locked();
      break;
    case ModelState::kReady:
      schedule_exec_locked(id);
      break;
    default:
      break;  // waiting, loading or unloading: the load path picks the queue up
  }
  return ticket;
}

bool Scheduler::cancel(RequestTicket ticket) {
  if (!ticket || ticket.model >= entries_.size()) return false;
  const ModelId id = ticket.model;
  std::unique_ptr<Request> request;
  InferOutcome outcome;
  {
    std::lock_guard lock(mutex_);
    ModelEntry& entry = *entries_[id];
    const auto it = std::find_if(entry.queue.begin(), entry.queue.end(), [&](const auto& queued) {
      return queued->sequence == ticket.sequence;
    });
    if (it == entry.queue.end()) return false;
    request = std::move(*it);
    entry.queue.erase(it);
    --queued_;
    const auto now = Clock::now();
    const double waited_s = seconds_between(request->arrival, now);
    if (now > request->deadline) {
      ++entry.counters.timeouts;
      outcome = unrun_outcome(Status::kTimeout,
                              "request timed out after " + seconds_text(waited_s) +
                                  " waiting for model " + models_[id].name,
                              request->arrival, request->hit);
    } else {
      ++entry.counters.cancelled;
      outcome = unrun_outcome(Status::kCancelled,
                              "request cancelled by its client after " + seconds_text(waited_s) +
                                  " waiting for model " + models_[id].name,
                              request->arrival, request->hit);
    }
    cache_->state().unpin(id);
    settle_locked(id);
    if (!pending_.empty()) start_loads_locked();
    if (prefetch_) prefetch_idle_locked();
  }
  request->done(std::move(outcome));
  idle_cv_.notify_all();
  return true;
}

std::future<LoadOutcome> Scheduler::load(ModelId id) {
  auto promise = std::make_shared<std::promise<LoadOutcome>>();
  auto future = promise->get_future();
  load(id, [promise](LoadOutcome outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

void Scheduler::load(ModelId id, LoadDone done) {
  std::unique_lock lock(mutex_);
  ModelEntry& entry = *entries_[id];
  recheck_file_locked(id, lock, true);
  if (!accepting_) {
    lock.unlock();
    done({Status::kUnavailable, "server is shutting down", 1.0});
    return;
  }
  if (entry.state == ModelState::kReady) {
    lock.unlock();
    done({});
    return;
  }
  // The operator's load clears a failed mark and does not wait for a back-off; the failures
  // stay counted, so if this load fails too the model is marked failed again at once.
  if (entry.state == ModelState::kFailed) {
    set_state_locked(id, ModelState::kAbsent);
    entry.load_note = "explicit load of a model marked failed";
  }
  entry.backoff_until = {};
  cache_->state().pin(id);
  if (prefetch_) prefetch_->prefetcher().on_loaded(id);
  entry.waiters.push_back(LoadWaiter{std::move(done)});
  if (entry.state == ModelState::kAbsent) {
    wait_for_room_locked(id, false);
    start_loads_locked();
  }
}

std::optional<HeldArrival> Scheduler::hold(ModelId id) {
  const auto now = Clock::now();
  std::unique_lock lock(mutex_);
  if (refusal_locked(id, lock)) return std::nullopt;
  ModelEntry& entry = *entries_[id];
  cache_->state().pin(id);
  ++entry.holds;
  ++holds_;
  const HeldArrival held{now, entry.state == ModelState::kReady, next_hold_token_++};
  entry.unsubmitted.push_back(held.token);
  if (entry.state == ModelState::kAbsent) {
    wait_for_room_locked(id, false);
    start_loads_locked();
  }
  return held;
}

void Scheduler::release_hold(ModelId id, bool turn, std::uint64_t token) {
  {
    std::lock_guard lock(mutex_);
    ModelEntry& entry = *entries_[id];
    if (turn) entry.read_turns.fetch_sub(1, std::memory_order_relaxed);
    if (entry.holds == 0) throw std::logic_error("release_hold without a hold");
    --entry.holds;
    --holds_;
    forget_unsubmitted_locked(entry, token, token == 0);
    cache_->state().unpin(id);
    settle_locked(id);
    if (!pending_.empty()) start_loads_locked();
  }
  idle_cv_.notify_all();
}

bool Scheduler::take_read_turn(ModelId id, bool& turn) {
  ModelEntry& entry = *entries_[id];
  const ModelState state = entry.published.load(std::memory_order_acquire);
  if (state == ModelState::kAbsent || state == ModelState::kFailed) return true;
  if (state != ModelState::kReady || gate_.contended()) return false;
  std::uint32_t taken = entry.read_turns.load(std::memory_order_relaxed);
  do {
    if (taken >= std::max<std::uint32_t>(options_.process_read_ahead, 1)) return false;
  } while (!entry.read_turns.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  turn = true;
  return true;
}

// A hold's request was submitted, or its hold released before it was: it no longer waits to
// be. `any`: the token is unknown (0), one of the model's is taken.
void Scheduler::forget_unsubmitted_locked(ModelEntry& entry, std::uint64_t token, bool any) {
  auto& tokens = entry.unsubmitted;
  auto it = any ? tokens.begin() : std::find(tokens.begin(), tokens.end(), token);
  if (it == tokens.end()) return;
  tokens.erase(it);
  if (runnable_waits_) loader_cv_.notify_all();
}

// Requests whose models are ready wait to be submitted (held at the activity gate, or for room
// to read their bodies).
bool Scheduler::ready_holds_wait_locked() const {
  for (const auto& entry : entries_) {
    if (entry->state == ModelState::kReady && !entry->unsubmitted.empty()) return true;
  }
  return false;
}

bool Scheduler::hold_settled(ModelId id) const {
  const ModelState state = entries_[id]->published.load(std::memory_order_acquire);
  return state == ModelState::kReady || state == ModelState::kAbsent ||
         state == ModelState::kFailed;
}

LoadOutcome Scheduler::unload(ModelId id) {
  std::promise<LoadOutcome> promise;
  auto future = promise.get_future();
  unload(id, [&promise](LoadOutcome outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

void Scheduler::unload(ModelId id, LoadDone done) {
  LoadOutcome now;  // the answer, unless the unload is handed to a loader thread
  bool handed = false;
  {
    std::lock_guard lock(mutex_);
    ModelEntry& entry = *entries_[id];
    if (stopping_ || !accepting_) {
      now = {Status::kUnavailable, "server is shutting down", 1.0};
    } else if (entry.state == ModelState::kAbsent || entry.state == ModelState::kUnloading ||
               entry.state == ModelState::kFailed) {
      // Not resident: nothing to do.
    } else if (entry.state != ModelState::kReady || cache_->state().pinned(id)) {
      now = {Status::kConflict,
             "model " + models_[id].name + " is " +
                 (entry.state == ModelState::kReady ? std::string("serving requests")
                                                    : std::string(state_name(entry.state)))};
    } else {
      auto job = std::make_unique<UnloadJob>();
      job->model = id;
      job->bytes = cache_->state().bytes_of(id);
      job->handle = std::move(entry.handle);
      job->done = std::move(done);
      cache_->evict(id);
      set_state_locked(id, ModelState::kUnloading);
      unloads_.push_back(std::move(job));
      handed = true;
    }
  }
  if (handed) {
    loader_cv_.notify_one();
  } else {
    done(std::move(now));
  }
}

bool Scheduler::specs(ModelId id, std::vector<runtime::TensorSpec>& inputs,
                      std::vector<runtime::TensorSpec>& outputs) const {
  std::lock_guard lock(mutex_);
  const ModelEntry& entry = *entries_[id];
  if (!entry.known_specs) return false;
  inputs = entry.inputs;
  outputs = entry.outputs;
  return true;
}

bool Scheduler::servable(ModelId id) {
  std::unique_lock lock(mutex_);
  recheck_file_locked(id, lock, false);
  return servable_locked(id);
}

bool Scheduler::servable_locked(ModelId id) const {
  return entries_[id]->state != ModelState::kFailed &&
         estimate_locked(id) <= cache_->state().capacity_bytes();
}

double Scheduler::backoff_remaining_s_locked(ModelId id, Clock::time_point now) const {
  const ModelEntry& entry = *entries_[id];
  if (entry.state != ModelState::kAbsent || entry.backoff_until <= now) return 0.0;
  return seconds_between(now, entry.backoff_until);
}

// A model refusing work after failed loads (marked failed, or backing off) whose file changed
// since the last failed load forgets its failures: the next request loads it. The file is read
// at most once per file_check_interval_s (force: now), without the lock. Returns whether the
// failures were forgotten.
bool Scheduler::recheck_file_locked(ModelId id, std::unique_lock<std::mutex>& lock, bool force) {
  ModelEntry& entry = *entries_[id];
  if (entry.consecutive_failures == 0) return false;
  const auto now = Clock::now();
  if (entry.state != ModelState::kFailed && backoff_remaining_s_locked(id, now) <= 0.0) {
    return false;  // the next request loads it anyway
  }
  if (!force && now < entry.next_file_check) return false;
  entry.next_file_check = now + to_duration(options_.file_check_interval_s);
  const detail::FileFingerprint seen = entry.failed_file;
  const std::uint32_t failures = entry.consecutive_failures;
  lock.unlock();
  const detail::FileFingerprint current = file_fingerprint(models_[id].path);  // path is immutable
  lock.lock();
  // Unchanged, or the model moved on meanwhile (loaded, failed again, forgotten already).
  if (current == seen || entry.consecutive_failures != failures || !(entry.failed_file == seen)) {
    return false;
  }
  forget_failures_locked(id);
  return true;
}

// The model's file changed after failed loads: a new model, as far as we know. Its failures
// are forgotten and its size is measured again (in isolation) at its next load.
void Scheduler::forget_failures_locked(ModelId id) {
  ModelEntry& entry = *entries_[id];
  entry.consecutive_failures = 0;
  entry.backoff_until = {};
  entry.size_known = entry.size_seeded = false;
  entry.profiled_bytes = 0;
  entry.load_note = "its file changed after " + entry.last_error;
  if (entry.state == ModelState::kFailed) set_state_locked(id, ModelState::kAbsent);
}

// A load threw (or returned nothing): the model's queued requests and load waiters get kFailed,
// and the model backs off (absent, requests refused for a while) or, after
// load_failures_until_failed consecutive failures, is marked failed.
void Scheduler::load_failed_locked(ModelId id, const LoadJob& job, const std::string& error,
                                   SchedulerEvent& event) {
  ModelEntry& entry = *entries_[id];
  const auto now = Clock::now();
  ++entry.counters.load_failures;
  ++entry.consecutive_failures;
  entry.failed_file = job.file;
  entry.next_file_check = now + to_duration(options_.file_check_interval_s);
  entry.last_error = "loading model " + models_[id].name + " failed: " + error;
  evict_despite_pins_locked(id);
  cache_->state().unpin(id);  // the load's own pin
  answer_work_locked(id, Status::kFailed, entry.last_error);
  const std::uint32_t failures = entry.consecutive_failures;
  event.kind = SchedulerEvent::Kind::kLoadFailed;
  if (options_.load_failures_until_failed != 0 && failures >= options_.load_failures_until_failed) {
    set_state_locked(id, ModelState::kFailed);
    event.detail = error + "; marked failed after " + std::to_string(failures) +
                   " consecutive failed loads (until its file changes or an explicit load)";
  } else {
    const int doublings = static_cast<int>(std::min<std::uint32_t>(failures - 1, 64));
    const double backoff_s = std::min(std::ldexp(options_.load_backoff_initial_s, doublings),
                                      options_.load_backoff_max_s);
    entry.backoff_until = now + to_duration(backoff_s);
    set_state_locked(id, ModelState::kAbsent);
    event.detail = error + "; " + std::to_string(failures) +
                   " consecutive failed load(s), requests refused for " + seconds_text(backoff_s);
  }
}

// Models that just left memory: absent again, or straight back to waiting if requests arrived
// for them while they were being unloaded.
void Scheduler::after_unload_locked(const std::vector<ModelId>& victims) {
  for (ModelId victim : victims) {
    release_resting_locked(victim);
    ModelEntry& entry = *entries_[victim];
    if (entry.state != ModelState::kUnloading) continue;
    if (wanted_locked(victim)) {
      wait_for_room_locked(victim, false);
    } else {
      set_state_locked(victim, ModelState::kAbsent);
    }
  }
}

void Scheduler::take_victims_locked(const std::vector<ModelId>& evicted,
                                    std::vector<std::unique_ptr<runtime::LoadedModel>>& handles) {
  for (ModelId victim : evicted) {
    ModelEntry& entry = *entries_[victim];
    if (prefetch_) prefetch_evicted_locked(victim);
    ++entry.counters.evictions;
    set_state_locked(victim, ModelState::kUnloading);
    handles.push_back(std::move(entry.handle));
  }
}

// Evicts, for an inference of `id` whose workspace does not fit or for the load of `id` whose
// requests were read and wait, resident models that nothing
// pins but holds (requests whose bodies have not been read: no queued request, no execution, no
// explicit load), in the policy's order, if that frees `want`. Without it a load admitted on an
// estimate below the model's measured size (or a reserve that grew) could leave resident models
// whose requests wait beside held models: the first cannot charge a workspace to run, the
// others are pinned by holds whose bodies wait for room, nothing executes or loads to give
// memory back, and every request waits out its deadline (measured: a 512-request burst
// answered 0 under a binding limit). The evicted models go back to waiting for their holds.
void Scheduler::make_room_despite_holds_locked(ModelId id, std::uint64_t want,
                                               std::vector<ModelId>& victims) {
  std::vector<ModelId> held;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto other = static_cast<ModelId>(i);
    const ModelEntry& entry = *entries_[i];
    if (other == id || entry.state != ModelState::kReady || entry.executing ||
        !entry.queue.empty() || !entry.waiters.empty() || entry.holds == 0 ||
        cache_->state().pins(other) != entry.holds) {
      continue;
    }
    held.push_back(other);
  }
  if (held.empty()) return;
  for (ModelId other : held) {
    for (std::uint32_t i = 0; i < entries_[other]->holds; ++i) cache_->state().unpin(other);
  }
  if (cache_->can_make_room(want)) cache_->make_room(want, victims);
  for (ModelId other : held) {  // a pin may outlive residence: the holds wait for the reload
    for (std::uint32_t i = 0; i < entries_[other]->holds; ++i) cache_->state().pin(other);
  }
}

// Reserves room for waiting models in FIFO order and hands them to the loader threads. A model
// that does not fit yet (pinned models hold the memory) stays waiting; it is retried whenever a
// pin is released or a model leaves memory.
void Scheduler::start_loads_locked() {
  if (stopping_) return;
  bool started = false;
  std::vector<ModelId> evicted;
  // Under a process limit a load must leave, once it is resident, one inference's workspace
  // free (the largest any model needs): else resident models whose requests wait could hold
  // every byte while none of them can charge its workspace to run, and nothing is idle to evict.
  std::uint64_t headroom = 0;
  if (process_.limited() && !pending_.empty()) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      headroom = std::max(headroom, workspace_locked(static_cast<ModelId>(i)));
    }
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    const ModelId id = *it;
    ModelEntry& entry = *entries_[id];
    const std::uint64_t estimate = estimate_locked(id);
    if (estimate > cache_->state().capacity_bytes()) {
      it = pending_.erase(it);
      entry.last_error = "model " + models_[id].name + " needs " + format_bytes(estimate) +
                         ", more than the whole memory budget of " +
                         format_bytes(cache_->state().capacity_bytes());
      answer_work_locked(id, Status::kFailed, entry.last_error);
      set_state_locked(id, ModelState::kAbsent);
      continue;
    }
    // Under a process limit, models pinned only by holds make way for a model whose requests
    // were read and wait, when nothing under way will give memory back
    // (make_room_despite_holds_locked): those requests hold buffers the holds' bodies may be
    // waiting for, and then neither side moves.
    const bool may_evict_held =
        process_.limited() && !entry.queue.empty() && executing_ == 0 && loading_ == 0;
    if (!may_evict_held && !cache_->can_make_room(estimate)) {
      ++it;  // not now: pinned models hold the memory
      continue;
    }
    evicted.clear();
    // Process memory: the load holds its peak. Resting models evicted for it give their charge
    // back once the loader has freed them, before this load allocates: ask the cache for room
    // enough that the victims cover what the process budget lacks.
    const std::uint64_t need = load_peak_locked(id, estimate);
    std::uint64_t want = estimate;  // the cache's free bytes the load needs
    bool takes_pool = false;        // the workspace pool's kept blocks make way for it
    if (process_.limited()) {
      const std::uint64_t whole = load_room_limit();
      // The room it must find: its peak while it loads, its resting bytes and the headroom after.
      const std::uint64_t room_needed = std::max(need, estimate + headroom);
      if (room_needed > whole) {
        it = pending_.erase(it);
        entry.memory_wait = false;
        entry.last_error = "model " + models_[id].name + " needs " + format_bytes(room_needed) +
                           " (its load peak, or its size and the largest inference workspace),"
                           " more than the process budget of " +
                           format_bytes(whole) +
                           " over the idle baseline (request buffers' share excluded)";
        answer_work_locked(id, Status::kFailed, entry.last_error);
        set_state_locked(id, ModelState::kAbsent);
        continue;
      }
      std::uint64_t room = scheduler_room_locked();
      // The pool's kept blocks make way before any model does, once the load starts (given back
      // for a load that then still waits, they were given back 223 times in one run).
      takes_pool = room_needed > room && pool_charge_ != 0;
      if (takes_pool) room += pool_charge_;
      if (room_needed > room) {
        want = std::max(estimate, cache_->state().free_bytes() + (room_needed - room));
      }
    }
    if (!cache_->can_make_room(want)) {
      if (may_evict_held) make_room_despite_holds_locked(id, want, evicted);
      if (evicted.empty()) {
        // not now: transient memory or pinned models hold the process budget
        if (want > estimate) entry.memory_wait = memory_blocked_ = true;
        ++it;
        continue;
      }
    } else if (want > estimate) {
      cache_->make_room(want, evicted);
    }
    if (takes_pool) drop_workspace_pool_locked();
    entry.memory_wait = false;
    cache_->admit(id, estimate, evicted);
    process_.charge(MemoryKind::kLoading, need);
    auto job = std::make_unique<LoadJob>();
    job->process_bytes = need;
    job->model = id;
    job->victims = evicted;
    job->reserved_bytes = estimate;
    job->note = std::exchange(entry.load_note, {});
    take_victims_locked(evicted, job->victim_handles);
    set_state_locked(id, ModelState::kLoading);
    cache_->state().pin(id);  // the load's own pin
    ++loading_;
    jobs_.push_back(std::move(job));
    it = pending_.erase(it);
    started = true;
  }
  if (started) loader_cv_.notify_one();
  // While a load waits for process memory the execution threads poll (exec_loop): one that
  // sleeps with nothing to run must wake to start.
  if (memory_blocked_) exec_cv_.notify_one();
}

void Scheduler::schedule_exec_locked(ModelId id) {
  ModelEntry& entry = *entries_[id];
  if (entry.state != ModelState::kReady || entry.executing || entry.runnable ||
      entry.queue.empty()) {
    return;
  }
  entry.runnable = true;
  runnable_.push_back(id);
  exec_cv_.notify_one();
}

// CacheState refuses to remove a pinned model; a model whose load failed (or whose measured
// size does not fit) is pinned by its own waiting requests, so lift the pins around the removal.
// Evicts the model although requests pin it (their pins are lifted for the eviction and put
// back): the caller answers or requeues that work itself.
void Scheduler::evict_despite_pins_locked(ModelId id) {
  const std::uint32_t pins = cache_->state().pins(id);
  for (std::uint32_t i = 0; i < pins; ++i) cache_->state().unpin(id);
  cache_->evict(id);
  for (std::uint32_t i = 0; i < pins; ++i) cache_->state().pin(id);
}

// Answers every queued request and load waiter of the model with `status` and releases their
// pins. The model's state is the caller's business.
void Scheduler::answer_queue_locked(ModelId id, Status status, const std::string& error) {
  ModelEntry& entry = *entries_[id];
  for (auto& request : entry.queue) {
    cache_->state().unpin(id);
    --queued_;
    ++entry.counters.errors;
    request->done(unrun_outcome(status, error, request->arrival, request->hit));
  }
  entry.queue.clear();
  idle_cv_.notify_all();
}

void Scheduler::answer_work_locked(ModelId id, Status status, const std::string& error) {
  ModelEntry& entry = *entries_[id];
  answer_queue_locked(id, status, error);
  for (auto& waiter : entry.waiters) {
    cache_->state().unpin(id);
    waiter.done({status, error, status == Status::kUnavailable ? 1.0 : 0.0});
  }
  entry.waiters.clear();
  idle_cv_.notify_all();
}

// Runs one popped request of a ready model. Called and returns with the lock held; the lock is
// released while the backend runs.
InferOutcome Scheduler::execute_locked(ModelId id, Request& request,
                                       std::unique_lock<std::mutex>& lock,
                                       std::uint64_t workspace) {
  ModelEntry& entry = *entries_[id];
  InferOutcome outcome;
  outcome.hit = request.hit;
  RequestTimeline& t = outcome.timeline;
  t.hit = request.hit;
  t.ready_s = 0.0;
  if (!request.hit && entry.ready_since > request.arrival) {
    t.load_start_s = seconds_between(request.arrival, entry.load_started);
    t.ready_s = seconds_between(request.arrival, entry.ready_since);
  }
  const auto started = Clock::now();
  t.start_s = t.end_s = seconds_between(request.arrival, started);
  if (started > request.deadline) {
    ++entry.counters.timeouts;
    outcome.status = Status::kTimeout;
    outcome.error = "request timed out after " + seconds_text(t.start_s) + " waiting for model " +
                    models_[id].name;
  } else {
    entry.executing = true;
    ++executing_;
    runtime::LoadedModel* model = entry.handle.get();
    // In the gate before the lock is let go, when no first load holds or waits for it: a first
    // load that the loader starts after this then waits for this inference (loader_loop).
    const bool entered = gate_.try_enter();
    if (runnable_waits_) loader_cv_.notify_all();
    lock.unlock();
    {
      // Else it waits while a first load measures its bytes; that wait counts as queueing.
      if (!entered) gate_.enter();
      const ActivityGate::Entered leave(gate_);
      const auto running = Clock::now();
      const runtime::WorkspacePool::Scope pool(process_.limited() ? &workspace_pool_ : nullptr);
      try {
        outcome.outputs = model->infer(request.inputs);
        // The inputs' memory goes back before the answer is made (the front charged them; it
        // gives their charge back once the outcome is in, to charge the answer).
        std::vector<runtime::Tensor>().swap(request.inputs);
      } catch (const UsageError& e) {
        outcome.status = Status::kBadRequest;
        outcome.error = e.what();
      } catch (const std::exception& e) {
        outcome.status = Status::kFailed;
        outcome.error = std::string("inference failed: ") + e.what();
      }
      t.start_s = seconds_between(request.arrival, running);
      t.end_s = seconds_since(request.arrival);
    }
    // While the workspace is still charged: what the inference left uncharged.
    observe_process_rss();
    lock.lock();
    entry.executing = false;
    --executing_;
    if (!runnable_.empty()) exec_cv_.notify_one();  // an execution slot is free again
    if (outcome.status == Status::kOk) {
      learn_locked(id, Cost::kExec, t.end_s - t.start_s);
    } else {
      ++entry.counters.errors;
    }
  }
  outcome.delays = derive_delays(t);
  release_workspace_locked(workspace);  // charged by the caller
  cache_->state().unpin(id);
  schedule_exec_locked(id);
  if (!pending_.empty() && (!cache_->state().pinned(id) || memory_blocked_)) start_loads_locked();
  if (prefetch_) prefetch_idle_locked();
  return outcome;
}

void Scheduler::exec_loop() {
  // While work waits for process memory, execution threads poll: memory given back by request
  // buffers (released outside the scheduler) does not notify them.
  constexpr auto kMemoryPoll = std::chrono::milliseconds(5);
  for (;;) {
    std::unique_lock lock(mutex_);
    const auto ready = [&] {
      return stopping_ || (!runnable_.empty() && executing_ < options_.exec_threads);
    };
    if (memory_blocked_) {
      if (!exec_cv_.wait_for(lock, kMemoryPoll, ready)) {
        observe_process_rss();
        memory_blocked_ = false;  // set again by whatever still does not fit
        expire_memory_waits_locked();
        if (!pending_.empty()) start_loads_locked();
        continue;
      }
    } else {
      exec_cv_.wait(lock, [&] { return ready() || memory_blocked_; });
      if (!ready()) continue;  // something waits for process memory: poll (above)
    }
    if (runnable_.empty()) return;  // stopping
    const ModelId id = runnable_.front();
    runnable_.pop_front();
    if (runnable_waits_ && runnable_.empty()) loader_cv_.notify_all();
    ModelEntry& entry = *entries_[id];
    entry.runnable = false;
    if (entry.state != ModelState::kReady || entry.executing || entry.queue.empty()) continue;
    const std::uint64_t workspace = workspace_locked(id);
    // The pool's kept blocks make way first, when that is enough: they only spare page faults.
    if (!try_charge_workspace_locked(workspace) &&
        !(scheduler_room_locked() + pool_charge_ >= workspace && drop_workspace_pool_locked() &&
          try_charge_workspace_locked(workspace))) {
      // Idle resident models make way for it, if evicting them can free enough.
      const std::uint64_t room = scheduler_room_locked();
      const std::uint64_t want =
          cache_->state().free_bytes() + (workspace - std::min(workspace, room));
      std::vector<ModelId> victims;
      if (want <= cache_->state().capacity_bytes()) {
        if (cache_->can_make_room(want)) {
          cache_->make_room(want, victims);
        } else if (executing_ == 0 && loading_ == 0) {
          // Nothing under way will give memory back: models that only held requests pin may go.
          make_room_despite_holds_locked(id, want, victims);
        }
      }
      if (!victims.empty()) {
        std::vector<std::unique_ptr<runtime::LoadedModel>> handles;
        take_victims_locked(victims, handles);
        entry.runnable = true;
        runnable_.push_front(id);
        lock.unlock();
        handles.clear();  // their memory really goes back before their charge does
        lock.lock();
        after_unload_locked(victims);
        for (ModelId victim : victims) {
          emit({SchedulerEvent::Kind::kEvicted, models_[victim].name,
                entries_[victim]->measured_bytes, 0.0,
                "to make room for an inference of " + models_[id].name});
        }
        continue;
      }
      // Nothing under way will give memory back, and a workspace that cannot fit beside the
      // model's own resting bytes never will: its figure is mended or its requests fail.
      if (executing_ == 0 && loading_ == 0 && !workspace_fits_alone_locked(id, workspace)) {
        if (!entry.queue.empty()) {
          entry.runnable = true;
          runnable_.push_front(id);
        }
        continue;
      }
      // Not now: it runs once an execution, a load or buffers give memory back.
      entry.runnable = true;
      runnable_.push_front(id);
      entry.memory_wait = memory_blocked_ = true;
      exec_cv_.wait_for(lock, kMemoryPoll);
      expire_memory_waits_locked();
      if (!pending_.empty()) start_loads_locked();
      continue;
    }
    entry.memory_wait = false;
    std::unique_ptr<Request> request = std::move(entry.queue.front());
    entry.queue.pop_front();
    --queued_;
    InferOutcome outcome = execute_locked(id, *request, lock, workspace);
    lock.unlock();
    request->done(std::move(outcome));
    idle_cv_.notify_all();
  }
}

CacheSnapshot Scheduler::snapshot() const {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  CacheSnapshot snap;
  snap.policy = std::string(cache_->policy().name());
  snap.capacity_bytes = cache_->state().capacity_bytes();
  snap.used_bytes = cache_->state().used_bytes();
  snap.queued = queued_;
  snap.executing = executing_;
  snap.loading = loading_;
  for (std::size_t i = 0; i < models_.size(); ++i) {
    const auto id = static_cast<ModelId>(i);
    const ModelEntry& entry = *entries_[i];
    ModelSnapshot m;
    m.name = models_[i].name;
    m.version = models_[i].version;
    m.platform = models_[i].platform;
    m.state = entry.state;
    m.resident_bytes = cache_->state().bytes_of(id);
    m.size_bytes = table_[i].size_bytes;
    m.load_peak_bytes = load_peak_locked(id, estimate_locked(id));
    m.workspace_bytes = workspace_locked(id);
    m.pins = cache_->state().pins(id);
    m.queue_depth = entry.queue.size();
    m.held = entry.holds;
    m.read_turns = entry.read_turns.load(std::memory_order_relaxed);
    m.executing = entry.executing;
    m.load_latency_s = table_[i].load_latency_s;
    m.exec_latency_s = table_[i].exec_latency_s;
    m.counters = entry.counters;
    m.failed = entry.state == ModelState::kFailed;
    m.consecutive_failures = entry.consecutive_failures;
    m.backoff_remaining_s = backoff_remaining_s_locked(id, now);
    m.last_error = entry.last_error;
    m.servable = servable_locked(id);
    snap.models.push_back(std::move(m));
  }
  if (prefetch_) snap.prefetch = prefetch_->counters();
  return snap;
}

bool Scheduler::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  accepting_ = false;
  return idle_cv_.wait_for(lock, timeout, [&] {
    return queued_ == 0 && executing_ == 0 && loading_ == 0 && jobs_.empty() && unloads_.empty();
  });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    accepting_ = false;
    stopping_ = true;
    // Waiting work is refused; residency is unchanged, except that models waiting for room or
    // for a loader thread no longer wait.
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const auto id = static_cast<ModelId>(i);
      ModelEntry& entry = *entries_[i];
      if (!entry.queue.empty() || !entry.waiters.empty()) {
        answer_work_locked(id, Status::kUnavailable, "server is shutting down");
      }
      settle_locked(id);
    }
    for (auto& job : jobs_) {
      cache_->state().unpin(job->model);  // the load's own pin; its reservation goes back
      cache_->evict(job->model);
      process_.release(MemoryKind::kLoading, job->process_bytes);
      set_state_locked(job->model, ModelState::kAbsent);
      --loading_;
      after_unload_locked(job->victims);  // their handles go with the job
    }
    jobs_.clear();
    if (prefetch_) prefetch_stop_locked();
  }
  exec_cv_.notify_all();
  loader_cv_.notify_all();
  prefetch_cv_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace brulee::serve
