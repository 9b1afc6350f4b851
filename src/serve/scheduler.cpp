#include "serve/scheduler.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include "core/error.hpp"
#include "core/units.hpp"

namespace brulee::serve {

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
  }
  return "unknown";
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
  }
  return "unknown";
}

namespace {
double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}
}  // namespace

struct Scheduler::Request {
  std::vector<runtime::Tensor> inputs;
  InferDone done;
  Clock::time_point arrival;
  Clock::time_point deadline;
  bool hit = false;
};

struct Scheduler::LoadWaiter {
  LoadDone done;
};

struct Scheduler::Slot {
  ModelState state = ModelState::kAbsent;
  std::deque<std::unique_ptr<Request>> queue;
  std::vector<LoadWaiter> waiters;  // explicit loads; each holds one pin
  std::unique_ptr<runtime::LoadedModel> handle;
  bool executing = false;
  bool runnable = false;  // in runnable_
  bool known_specs = false;
  std::vector<runtime::TensorSpec> inputs, outputs;
  std::uint64_t measured_bytes = 0;  // charged size from a clean measurement (0 = none yet)
  bool size_known = false;           // measured_bytes came from a load nothing else disturbed
  bool remeasuring = false;          // the last measurement exceeded the budget; one more try
  std::uint64_t requests = 0, hits = 0, misses = 0, loads = 0, load_failures = 0, evictions = 0,
                rejected = 0, timeouts = 0, errors = 0;
  double load_seconds_total = 0.0;
  std::string last_error;
  Clock::time_point load_started;  // the last load's work began (victims' unload, then load)
  Clock::time_point ready_since;
};

struct Scheduler::LoadJob {
  ModelId model = kNoModel;
  std::vector<ModelId> victims;
  std::vector<std::unique_ptr<runtime::LoadedModel>> victim_handles;
  std::uint64_t reserved_bytes = 0;
};

Scheduler::Scheduler(std::vector<ServedModel> models, ModelLoader& loader, SchedulerOptions options,
                     EventSink events)
    : models_(std::move(models)),
      loader_(loader),
      options_(std::move(options)),
      events_(std::move(events)),
      start_(Clock::now()) {
  if (options_.exec_threads == 0) throw UsageError("--exec-threads must be at least 1");
  if (options_.loader_threads == 0) throw UsageError("--loader-threads must be at least 1");
  if (options_.memory_bytes == 0) throw UsageError("--memory must be more than 0 bytes");
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
    slots_.push_back(std::make_unique<Slot>());
  }
  cache_ = std::make_unique<ModelCache>(
      options_.memory_bytes, table_, make_policy(options_.policy, table_, options_.policy_options));
  for (unsigned i = 0; i < options_.exec_threads; ++i)
    threads_.emplace_back([this] { exec_loop(); });
  for (unsigned i = 0; i < options_.loader_threads; ++i) {
    threads_.emplace_back([this] { loader_loop(); });
  }
}

Scheduler::~Scheduler() { stop(); }

std::optional<ModelId> Scheduler::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

double Scheduler::now_s() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Scheduler::emit(SchedulerEvent event) const {
  if (events_) events_(event);
}

std::uint64_t Scheduler::estimate_locked(ModelId id) const {
  const Slot& slot = *slots_[id];
  if (slot.measured_bytes > 0) return slot.measured_bytes;
  return std::max<std::uint64_t>(models_[id].estimate_bytes, 1);
}

void Scheduler::learn_locked(ModelId id, double& field, double value) {
  field = field <= 0.0 ? value : (1.0 - options_.ewma_alpha) * field + options_.ewma_alpha * value;
  cache_->policy().on_cost_update(id);
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

void Scheduler::submit(ModelId id, std::vector<runtime::Tensor> inputs, Clock::time_point deadline,
                       std::optional<OracleHint> oracle, InferDone done) {
  auto request = std::make_unique<Request>();
  request->inputs = std::move(inputs);
  request->arrival = Clock::now();
  request->deadline = deadline;
  request->done = std::move(done);
  std::unique_lock lock(mutex_);
  Slot& slot = *slots_[id];
  auto reject = [&](Status status, std::string error) {
    ++slot.rejected;
    InferOutcome outcome;
    outcome.status = status;
    outcome.error = std::move(error);
    outcome.retry_after_s = 1.0;
    lock.unlock();
    request->done(std::move(outcome));
  };
  if (!accepting_) return reject(Status::kUnavailable, "server is shutting down");
  if (slot.queue.size() >= options_.max_queue_per_model) {
    return reject(Status::kUnavailable, "queue of model " + models_[id].name + " is full (" +
                                            std::to_string(options_.max_queue_per_model) +
                                            " requests)");
  }
  if (queued_ >= options_.max_queue_total) {
    return reject(Status::kUnavailable, "server queue is full (" +
                                            std::to_string(options_.max_queue_total) +
                                            " requests)");
  }
  RequestEvent event;
  event.model = id;
  event.time_s = now_s();
  event.index = request_index_++;
  if (oracle) {
    event.index = oracle->index;
    event.next_index = oracle->next_index;
  }
  request->hit = cache_->record(event) && slot.state == ModelState::kReady;
  ++slot.requests;
  ++(request->hit ? slot.hits : slot.misses);
  cache_->state().pin(id);
  if (slot.state == ModelState::kReady && !slot.executing && slot.queue.empty() &&
      executing_ < options_.exec_threads &&
      table_[id].exec_latency_s <= options_.inline_exec_max_s && !gate_.contended()) {
    // Hit on an idle, quick model with a free execution slot and no first load being measured:
    // run it on the caller's thread (no hand-off, and nothing to wait for). FIFO order and the
    // bound on concurrent executions still hold.
    InferOutcome outcome = execute_locked(id, *request, lock);
    lock.unlock();
    request->done(std::move(outcome));
    idle_cv_.notify_all();
    return;
  }
  slot.queue.push_back(std::move(request));
  ++queued_;
  switch (slot.state) {
    case ModelState::kAbsent:
      slot.state = ModelState::kWaiting;
      pending_.push_back(id);
      start_loads_locked();
      break;
    case ModelState::kReady:
      schedule_exec_locked(id);
      break;
    default:
      break;  // waiting, loading or unloading: the load path picks the queue up
  }
}

std::future<LoadOutcome> Scheduler::load(ModelId id) {
  auto promise = std::make_shared<std::promise<LoadOutcome>>();
  auto future = promise->get_future();
  load(id, [promise](LoadOutcome outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

void Scheduler::load(ModelId id, LoadDone done) {
  std::unique_lock lock(mutex_);
  Slot& slot = *slots_[id];
  if (!accepting_) {
    lock.unlock();
    done({Status::kUnavailable, "server is shutting down", 1.0});
    return;
  }
  if (slot.state == ModelState::kReady) {
    lock.unlock();
    done({});
    return;
  }
  cache_->state().pin(id);
  slot.waiters.push_back(LoadWaiter{std::move(done)});
  if (slot.state == ModelState::kAbsent) {
    slot.state = ModelState::kWaiting;
    pending_.push_back(id);
    start_loads_locked();
  }
}

LoadOutcome Scheduler::unload(ModelId id) {
  std::unique_ptr<runtime::LoadedModel> handle;
  std::uint64_t bytes = 0;
  {
    std::lock_guard lock(mutex_);
    Slot& slot = *slots_[id];
    if (slot.state == ModelState::kAbsent || slot.state == ModelState::kUnloading) {
      return {};
    }
    if (slot.state != ModelState::kReady || cache_->state().pinned(id)) {
      return {Status::kConflict, "model " + models_[id].name + " is " +
                       (slot.state == ModelState::kReady ? std::string("serving requests")
                                                         : std::string(state_name(slot.state)))};
    }
    bytes = cache_->state().bytes_of(id);
    cache_->evict(id);
    handle = std::move(slot.handle);
    slot.state = ModelState::kUnloading;
  }
  const auto t0 = Clock::now();
  handle.reset();
  const double unload_s = std::chrono::duration<double>(Clock::now() - t0).count();
  {
    std::lock_guard lock(mutex_);
    learn_locked(id, table_[id].unload_latency_s, unload_s);
    after_unload_locked({id});
    start_loads_locked();
  }
  emit({SchedulerEvent::Kind::kUnloaded, models_[id].name, bytes, unload_s, "explicit unload"});
  idle_cv_.notify_all();
  return {};
}

bool Scheduler::servable(ModelId id) const {
  std::lock_guard lock(mutex_);
  return accepting_ && id < slots_.size();
}

bool Scheduler::specs(ModelId id, std::vector<runtime::TensorSpec>& inputs,
                      std::vector<runtime::TensorSpec>& outputs) const {
  std::lock_guard lock(mutex_);
  const Slot& slot = *slots_[id];
  if (!slot.known_specs) return false;
  inputs = slot.inputs;
  outputs = slot.outputs;
  return true;
}

// Models that just left memory: absent again, or straight back to waiting if requests arrived
// for them while they were being unloaded.
void Scheduler::after_unload_locked(const std::vector<ModelId>& victims) {
  for (ModelId victim : victims) {
    Slot& slot = *slots_[victim];
    if (slot.state != ModelState::kUnloading) continue;
    if (!slot.queue.empty() || !slot.waiters.empty()) {
      slot.state = ModelState::kWaiting;
      pending_.push_back(victim);
    } else {
      slot.state = ModelState::kAbsent;
    }
  }
}

void Scheduler::take_victims_locked(const std::vector<ModelId>& evicted,
                                    std::vector<std::unique_ptr<runtime::LoadedModel>>& handles) {
  for (ModelId victim : evicted) {
    Slot& slot = *slots_[victim];
    ++slot.evictions;
    slot.state = ModelState::kUnloading;
    handles.push_back(std::move(slot.handle));
  }
}

// Reserves room for waiting models in FIFO order and hands them to the loader threads. A model
// that does not fit yet (pinned models hold the memory) stays waiting; it is retried whenever a
// pin is released or a model leaves memory.
void Scheduler::start_loads_locked() {
  bool started = false;
  std::vector<ModelId> evicted;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const ModelId id = *it;
    Slot& slot = *slots_[id];
    const std::uint64_t estimate = estimate_locked(id);
    if (estimate > cache_->state().capacity_bytes()) {
      it = pending_.erase(it);
      fail_model_locked(id, Status::kFailed,
                        "model " + models_[id].name + " needs " + format_bytes(estimate) +
                            ", more than the whole memory budget of " +
                            format_bytes(cache_->state().capacity_bytes()));
      continue;
    }
    evicted.clear();
    try {
      cache_->admit(id, estimate, evicted);
    } catch (const CacheError&) {
      ++it;  // not now: pinned models hold the memory
      continue;
    }
    auto job = std::make_unique<LoadJob>();
    job->model = id;
    job->victims = evicted;
    job->reserved_bytes = estimate;
    take_victims_locked(evicted, job->victim_handles);
    slot.state = ModelState::kLoading;
    cache_->state().pin(id);  // the load's own pin
    ++loading_;
    jobs_.push_back(std::move(job));
    it = pending_.erase(it);
    started = true;
  }
  if (started) loader_cv_.notify_one();
}

void Scheduler::schedule_exec_locked(ModelId id) {
  Slot& slot = *slots_[id];
  if (slot.state != ModelState::kReady || slot.executing || slot.runnable || slot.queue.empty()) {
    return;
  }
  slot.runnable = true;
  runnable_.push_back(id);
  exec_cv_.notify_one();
}

// CacheState refuses to remove a pinned model; a model whose load failed (or whose measured
// size does not fit) is pinned by its own waiting requests, so lift the pins around the removal.
void Scheduler::remove_pinned_locked(ModelId id) {
  const std::uint32_t pins = cache_->state().pins(id);
  for (std::uint32_t i = 0; i < pins; ++i) cache_->state().unpin(id);
  cache_->evict(id);
  for (std::uint32_t i = 0; i < pins; ++i) cache_->state().pin(id);
}

void Scheduler::fail_model_locked(ModelId id, Status status, const std::string& error) {
  Slot& slot = *slots_[id];
  slot.last_error = error;
  for (auto& request : slot.queue) {
    cache_->state().unpin(id);
    --queued_;
    ++slot.errors;
    InferOutcome outcome;
    outcome.status = status;
    outcome.error = error;
    if (status == Status::kUnavailable) outcome.retry_after_s = 1.0;
    request->done(std::move(outcome));
  }
  slot.queue.clear();
  for (auto& waiter : slot.waiters) {
    cache_->state().unpin(id);
    waiter.done({status, error, status == Status::kUnavailable ? 1.0 : 0.0});
  }
  slot.waiters.clear();
  slot.state = ModelState::kAbsent;
  idle_cv_.notify_all();
}

void Scheduler::loader_loop() {
  for (;;) {
    std::unique_ptr<LoadJob> job;
    bool isolate = false;
    {
      std::unique_lock lock(mutex_);
      loader_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping
      job = std::move(jobs_.front());
      jobs_.pop_front();
      isolate = !slots_[job->model]->size_known;
      slots_[job->model]->load_started = Clock::now();
    }
    const ModelId id = job->model;
    const ServedModel& served = models_[id];
    // Free the victims' memory before bringing the new model in.
    if (!job->victim_handles.empty()) {
      const auto t0 = Clock::now();
      job->victim_handles.clear();
      const double unload_s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::vector<std::pair<std::string, std::uint64_t>> gone;
      {
        std::lock_guard lock(mutex_);
        for (ModelId victim : job->victims) {
          gone.emplace_back(models_[victim].name, slots_[victim]->measured_bytes);
          learn_locked(victim, table_[victim].unload_latency_s,
                       unload_s / static_cast<double>(job->victims.size()));
        }
        after_unload_locked(job->victims);
        start_loads_locked();
      }
      for (auto& [name, bytes] : gone) {
        emit({SchedulerEvent::Kind::kEvicted, name, bytes, unload_s,
              "to make room for " + served.name});
      }
    }
    emit({SchedulerEvent::Kind::kLoadStart, served.name, job->reserved_bytes, 0.0, {}});
    std::unique_ptr<runtime::LoadedModel> handle;
    std::string error;
    // The backend measures the model's bytes as allocator growth across the load. A model never
    // measured cleanly is loaded with the activity gate held exclusively (no inference or
    // request parsing runs meanwhile); later loads run beside the traffic, and their figure is
    // used only if nothing else ran during them (docs/server.md, "Measured bytes under load").
    std::optional<ActivityGate::Exclusive> exclusive;
    ActivityGate::Mark mark;
    if (isolate) {
      exclusive.emplace(gate_);
    } else {
      mark = gate_.mark();
    }
    const auto t0 = Clock::now();
    try {
      handle = loader_.load(served);
      if (!handle) error = "the backend returned no model";
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const bool clean = isolate || gate_.quiet_since(mark);
    exclusive.reset();
    std::vector<std::unique_ptr<runtime::LoadedModel>> dropped;
    std::vector<ModelId> victims;
    SchedulerEvent done{SchedulerEvent::Kind::kLoaded, served.name, 0, load_s, {}};
    {
      std::lock_guard lock(mutex_);
      Slot& slot = *slots_[id];
      --loading_;
      if (!error.empty()) {
        ++slot.load_failures;
        remove_pinned_locked(id);
        cache_->state().unpin(id);  // the load's own pin
        fail_model_locked(id, Status::kFailed, "loading model " + served.name + " failed: " + error);
        done.kind = SchedulerEvent::Kind::kLoadFailed;
        done.detail = error;
      } else {
        const std::uint64_t raw =
            std::max<std::uint64_t>({handle->resident_bytes(), served.min_bytes, 1});
        // A disturbed measurement is noise on top of a size already known: keep the known one.
        const std::uint64_t measured = clean || !slot.size_known ? raw : slot.measured_bytes;
        const std::uint64_t reserved = cache_->state().bytes_of(id);
        if (clean) slot.size_known = true;
        if (measured != raw) {
          done.detail = "measured " + format_bytes(raw) +
                        " beside other work; charging the clean measurement";
        }
        slot.measured_bytes = measured;
        table_[id].size_bytes = measured;
        ++slot.loads;
        slot.load_seconds_total += load_s;
        learn_locked(id, table_[id].load_latency_s, load_s);
        done.bytes = measured;
        bool fits = true;
        if (measured > reserved) {
          try {
            cache_->make_room(measured - reserved, victims);
          } catch (const CacheError&) {
            fits = false;
          }
        }
        if (fits) {
          slot.remeasuring = false;
          cache_->state().resize(id, measured);
          take_victims_locked(victims, dropped);
          slot.handle = std::move(handle);
          slot.inputs = slot.handle->inputs();
          slot.outputs = slot.handle->outputs();
          slot.known_specs = true;
          slot.state = ModelState::kReady;
          slot.ready_since = Clock::now();
          for (auto& waiter : slot.waiters) {
            cache_->state().unpin(id);
            waiter.done({});
          }
          slot.waiters.clear();
          cache_->state().unpin(id);  // the load's own pin
          schedule_exec_locked(id);
        } else {
          // The measured size does not fit beside what requests pin right now: give the memory
          // back and wait for room with the measured size as the new estimate.
          dropped.push_back(std::move(handle));
          remove_pinned_locked(id);
          cache_->state().unpin(id);
          if (measured > cache_->state().capacity_bytes() && !slot.remeasuring) {
            // Above the whole budget: before refusing the model's requests, measure once more
            // in isolation, in case something the gate cannot hold back (a request body being
            // read) grew the heap during this load. The estimate goes back to the old one.
            slot.remeasuring = true;
            slot.size_known = false;
            slot.measured_bytes = 0;
            table_[id].size_bytes = estimate_locked(id);
            cache_->policy().on_cost_update(id);
            slot.state = ModelState::kWaiting;
            pending_.push_front(id);
            done.kind = SchedulerEvent::Kind::kResized;
            done.detail =
                "measured " + format_bytes(measured) + ", above the whole budget; measuring again";
          } else if (measured > cache_->state().capacity_bytes()) {
            slot.remeasuring = false;
            fail_model_locked(id, Status::kFailed,
                              "model " + served.name + " holds " + format_bytes(measured) +
                                  ", more than the whole memory budget of " +
                                  format_bytes(cache_->state().capacity_bytes()));
            done.kind = SchedulerEvent::Kind::kLoadFailed;
            done.detail = "larger than the memory budget";
          } else {
            slot.state = ModelState::kWaiting;
            pending_.push_front(id);
            done.kind = SchedulerEvent::Kind::kResized;
            done.detail = "measured size does not fit yet; waiting for room";
          }
        }
      }
      start_loads_locked();
    }
    idle_cv_.notify_all();
    emit(done);
    if (!dropped.empty()) {
      const auto u0 = Clock::now();
      dropped.clear();
      const double unload_s = std::chrono::duration<double>(Clock::now() - u0).count();
      std::lock_guard lock(mutex_);
      after_unload_locked(victims);
      start_loads_locked();
      for (ModelId victim : victims) {
        emit({SchedulerEvent::Kind::kEvicted, models_[victim].name, slots_[victim]->measured_bytes,
              unload_s, "to fit the measured size of " + served.name});
      }
    }
  }
}

// Runs one popped request of a ready model. Called and returns with the lock held; the lock is
// released while the backend runs.
// Runs one popped request of a ready model. Called and returns with the lock held; the lock is
// released while the backend runs.
InferOutcome Scheduler::execute_locked(ModelId id, Request& request,
                                       std::unique_lock<std::mutex>& lock) {
  Slot& slot = *slots_[id];
  InferOutcome outcome;
  outcome.hit = request.hit;
  RequestTimeline& t = outcome.timeline;
  t.hit = request.hit;
  t.ready_s = 0.0;
  if (!request.hit && slot.ready_since > request.arrival) {
    t.load_start_s = seconds_between(request.arrival, slot.load_started);
    t.ready_s = seconds_between(request.arrival, slot.ready_since);
  }
  const auto started = Clock::now();
  t.start_s = t.end_s = seconds_between(request.arrival, started);
  if (started > request.deadline) {
    ++slot.timeouts;
    outcome.status = Status::kTimeout;
    outcome.error = "request timed out after " + std::to_string(t.start_s) +
                    " s waiting for model " + models_[id].name;
  } else {
    slot.executing = true;
    ++executing_;
    runtime::LoadedModel* model = slot.handle.get();
    lock.unlock();
    {
      // Waits while a first load measures its bytes; that wait counts as queueing.
      ActivityGate::Shared section(gate_);
      const auto running = Clock::now();
      try {
        outcome.outputs = model->infer(request.inputs);
      } catch (const UsageError& e) {
        outcome.status = Status::kBadRequest;
        outcome.error = e.what();
      } catch (const std::exception& e) {
        outcome.status = Status::kFailed;
        outcome.error = std::string("inference failed: ") + e.what();
      }
      t.start_s = seconds_between(request.arrival, running);
      t.end_s = seconds_between(request.arrival, Clock::now());
    }
    lock.lock();
    slot.executing = false;
    --executing_;
    if (!runnable_.empty()) exec_cv_.notify_one();  // an execution slot is free again
    if (outcome.status == Status::kOk) {
      learn_locked(id, table_[id].exec_latency_s, t.end_s - t.start_s);
    } else {
      ++slot.errors;
    }
  }
  outcome.delays = derive_delays(t);
  cache_->state().unpin(id);
  schedule_exec_locked(id);
  if (!pending_.empty() && !cache_->state().pinned(id)) start_loads_locked();
  return outcome;
}

void Scheduler::exec_loop() {
  for (;;) {
    std::unique_lock lock(mutex_);
    exec_cv_.wait(lock, [&] {
      return stopping_ || (!runnable_.empty() && executing_ < options_.exec_threads);
    });
    if (runnable_.empty()) return;  // stopping
    const ModelId id = runnable_.front();
    runnable_.pop_front();
    Slot& slot = *slots_[id];
    slot.runnable = false;
    if (slot.state != ModelState::kReady || slot.executing || slot.queue.empty()) continue;
    std::unique_ptr<Request> request = std::move(slot.queue.front());
    slot.queue.pop_front();
    --queued_;
    InferOutcome outcome = execute_locked(id, *request, lock);
    lock.unlock();
    request->done(std::move(outcome));
    idle_cv_.notify_all();
  }
}

CacheSnapshot Scheduler::snapshot() const {
  std::lock_guard lock(mutex_);
  CacheSnapshot snap;
  snap.policy = std::string(cache_->policy().name());
  snap.capacity_bytes = cache_->state().capacity_bytes();
  snap.used_bytes = cache_->state().used_bytes();
  snap.queued = queued_;
  snap.executing = executing_;
  snap.loading = loading_;
  for (std::size_t i = 0; i < models_.size(); ++i) {
    const auto id = static_cast<ModelId>(i);
    const Slot& slot = *slots_[i];
    ModelSnapshot m;
    m.name = models_[i].name;
    m.version = models_[i].version;
    m.platform = models_[i].platform;
    m.state = slot.state;
    m.resident_bytes = cache_->state().bytes_of(id);
    m.size_bytes = table_[i].size_bytes;
    m.pins = cache_->state().pins(id);
    m.queue_depth = slot.queue.size();
    m.executing = slot.executing;
    m.load_latency_s = table_[i].load_latency_s;
    m.exec_latency_s = table_[i].exec_latency_s;
    m.requests = slot.requests;
    m.hits = slot.hits;
    m.misses = slot.misses;
    m.loads = slot.loads;
    m.load_failures = slot.load_failures;
    m.evictions = slot.evictions;
    m.rejected = slot.rejected;
    m.timeouts = slot.timeouts;
    m.errors = slot.errors;
    m.load_seconds_total = slot.load_seconds_total;
    m.last_error = slot.last_error;
    snap.models.push_back(std::move(m));
  }
  return snap;
}

bool Scheduler::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  accepting_ = false;
  return idle_cv_.wait_for(lock, timeout, [&] {
    return queued_ == 0 && executing_ == 0 && loading_ == 0 && jobs_.empty();
  });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    accepting_ = false;
    stopping_ = true;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = *slots_[i];
      if (!slot.queue.empty() || !slot.waiters.empty()) {
        const ModelState state = slot.state;
        fail_model_locked(static_cast<ModelId>(i), Status::kUnavailable, "server is shutting down");
        slot.state = state;  // residency is unchanged; only the waiting work is refused
      }
    }
    for (auto& job : jobs_) {
      cache_->state().unpin(job->model);
      --loading_;
    }
    jobs_.clear();
  }
  exec_cv_.notify_all();
  loader_cv_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace brulee::serve
