// The scheduler's loader threads: explicit unloads, and each load in four steps (its victims'
// unload, the backend's load, taking the model in, and handing back what did not fit).
#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "core/units.hpp"
#include "runtime/dtype.hpp"
#include "runtime/memory.hpp"
#include "serve/prefetch_driver.hpp"
#include "serve/scheduler.hpp"
#include "serve/scheduler_parts.hpp"

namespace brulee::serve {
namespace {

// Zeros of every input's shape (-1 dimensions as 1): the inference that measures a workspace.
std::vector<runtime::Tensor> zero_inputs(const std::vector<runtime::TensorSpec>& specs) {
  std::vector<runtime::Tensor> tensors;
  for (const auto& spec : specs) {
    runtime::Tensor tensor{spec.name, spec.dtype, spec.shape, {}};
    std::size_t count = 1;
    for (auto& dim : tensor.shape) {
      if (dim < 0) dim = 1;
      count *= static_cast<std::size_t>(dim);
    }
    tensor.data.assign(count * runtime::dtype_bytes(spec.dtype), std::byte{0});
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

}  // namespace

// Dropped models' memory stays with the allocator, which hands it to the next load without a
// page fault (giving it back on every unload made loads under traffic 3x slower; docs/server.md,
// "Process memory"). Near a process limit RSS is what counts, and it goes back to the system;
// an explicit unload (`always`) gives it back whenever there is a limit.
void Scheduler::return_freed_memory(bool always) const {
  if (process_.limited() && (always || !process_.keeping_freed())) {
    runtime::release_free_memory();
  }
}

// On a loader thread: frees an explicitly unloaded model, then lets waiting loads use the room.
void Scheduler::run_unload(UnloadJob& job) {
  const auto t0 = Clock::now();
  job.handle.reset();
  {
    std::lock_guard lock(mutex_);
    drop_workspace_pool_locked();  // an explicit unload gives back what it can
  }
  return_freed_memory(true);
  const double unload_s = seconds_since(t0);
  {
    std::lock_guard lock(mutex_);
    learn_locked(job.model, Cost::kUnload, unload_s);
    after_unload_locked({job.model});
    start_loads_locked();
  }
  emit({SchedulerEvent::Kind::kUnloaded, models_[job.model].name, job.bytes, unload_s,
        "explicit unload"});
  idle_cv_.notify_all();
  job.done({});
}

// The loader threads run the demand loads of jobs_; the prefetch thread (prefetch_lane) runs the
// prefetches of prefetch_jobs_ the same way, so a demand load never waits for a prefetch.
void Scheduler::loader_loop(bool prefetch_lane) {
  auto& queue = prefetch_lane ? prefetch_jobs_ : jobs_;
  auto& ready = prefetch_lane ? prefetch_cv_ : loader_cv_;
  for (;;) {
    std::unique_ptr<LoadJob> job;
    std::unique_ptr<UnloadJob> unload;
    bool isolate = false;
    {
      std::unique_lock lock(mutex_);
      // Explicit unloads go first (they only free memory), and are run even while stopping.
      const auto has_unload = [&] { return !prefetch_lane && !unloads_.empty(); };
      ready.wait(lock, [&] { return stopping_ || !queue.empty() || has_unload(); });
      if (has_unload()) {
        unload = std::move(unloads_.front());
        unloads_.pop_front();
      } else {
        if (queue.empty()) return;  // stopping
        job = std::move(queue.front());
        queue.pop_front();
        // A prefetch never holds the gate: demand work must not wait for it (a never-measured
        // model's figure from it is trusted only if nothing else ran meanwhile; otherwise its
        // first demand load measures it in isolation).
        // A size seeded from the profile is not isolated, but under a process limit (the
        // isolated load measures the peak and workspace too).
        const ModelEntry& loading = *entries_[job->model];
        isolate =
            !job->prefetch && (!loading.size_known || (loading.size_seeded && process_.limited()));
        if (isolate) {
          // An isolated load keeps every inference out until it is done: requests runnable
          // before it starts (their models ready, an execution thread free) start first, and
          // it then waits for them at the gate, as the simulator orders them (docs/fidelity.md,
          // "Inferences ready before an isolated load"). An execution thread enters the gate
          // when it takes a request, under this lock (execute_locked). Requests of ready models
          // held at the gate (arrived during the load before this one) are submitted first, so
          // their turn is taken too: the simulator admits them at their arrival. Bounded: a
          // request that waits for process memory must not hold the load back for long.
          runnable_waits_ = true;
          loader_cv_.wait_for(lock, kRunnableFirstWait, [&] {
            return stopping_ || executing_ >= options_.exec_threads ||
                   (runnable_.empty() && !ready_holds_wait_locked());
          });
          runnable_waits_ = false;
        }
        entries_[job->model]->load_started = Clock::now();
      }
    }
    if (unload) {
      run_unload(*unload);
      continue;
    }
    unload_victims(*job);
    finish_load(*job, run_load(*job, isolate));
  }
}

// Frees the victims' memory before the job's model comes in.
void Scheduler::unload_victims(LoadJob& job) {
  if (job.victim_handles.empty()) return;
  const auto t0 = Clock::now();
  job.victim_handles.clear();
  return_freed_memory();
  const double unload_s = seconds_since(t0);
  std::vector<std::pair<std::string, std::uint64_t>> gone;
  {
    std::lock_guard lock(mutex_);
    for (ModelId victim : job.victims) {
      gone.emplace_back(models_[victim].name, entries_[victim]->measured_bytes);
      learn_locked(victim, Cost::kUnload, unload_s / static_cast<double>(job.victims.size()));
    }
    after_unload_locked(job.victims);
    start_loads_locked();
  }
  for (auto& [name, bytes] : gone) {
    emit({SchedulerEvent::Kind::kEvicted, name, bytes, unload_s,
          "to make room for " + models_[job.model].name});
  }
}

// The backend's load of the job's model, without the lock.
Scheduler::LoadResult Scheduler::run_load(LoadJob& job, bool isolate) {
  const ModelId id = job.model;
  const ServedModel& served = models_[id];
  emit({SchedulerEvent::Kind::kLoadStart, served.name, job.reserved_bytes, 0.0, job.note});
  // What the file was when this load read it: a failed model is retried once it changes.
  job.file = detail::file_fingerprint(served.path);
  LoadResult result;
  // The backend measures the model's bytes as allocator growth across the load. A model never
  // measured cleanly is loaded with the activity gate held exclusively (no inference or
  // request parsing runs meanwhile); later loads run beside the traffic, and their figure is
  // used only if nothing else ran during them (docs/server.md, "Measured bytes under load").
  std::optional<ActivityGate::Exclusive> exclusive;
  ActivityGate::Mark mark;
  if (isolate) {
    const auto waiting = Clock::now();
    exclusive.emplace(gate_);
    // Waiting for running work to leave the gate is not the load's work: on the timelines of
    // the requests that wait on this load it is queueing, as the simulator counts the wait
    // for the running inference before an isolated first load (docs/fidelity.md,
    // "Definitions"). The window [load_started, ready] keeps the unload and the load.
    const auto waited = Clock::now() - waiting;
    std::lock_guard lock(mutex_);
    entries_[id]->load_started += waited;
  } else {
    mark = gate_.mark();
  }
  // Under a process limit, a model's first (isolated) load also measures its load peak and,
  // still isolated, one inference's workspace (docs/server.md, "Process memory").
  std::optional<runtime::PeakMeter> meter;
  if (isolate && process_.limited()) meter.emplace();
  const auto t0 = Clock::now();
  const auto usage0 = runtime::ThreadUsage::now();
  try {
    result.handle = loader_.load(served);
    if (!result.handle) result.error = "the backend returned no model";
    return_freed_memory();  // under a process limit: the load's transient buffers
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  result.load_s = seconds_since(t0);
  result.work = runtime::ThreadUsage::now().since(usage0);
  result.load_peak = meter ? meter->stop() : 0;
  if (meter && result.handle) {
    try {
      const auto inputs = zero_inputs(result.handle->inputs());
      runtime::PeakMeter exec_meter;
      const auto outputs = result.handle->infer(inputs);  // held: the answer is part of it
      result.workspace = std::max<std::uint64_t>(exec_meter.stop(), 1);
    } catch (const std::exception&) {
      result.workspace = 0;  // not measured: the model's requests will say what is wrong
    }
  }
  result.clean = isolate || gate_.quiet_since(mark);
  return result;
}

// Takes the load's outcome in: the model becomes ready (or waits for room, fails, or is
// abandoned as a prefetch), then whatever the load's measured size pushed out is freed.
void Scheduler::finish_load(LoadJob& job, LoadResult result) {
  const ModelId id = job.model;
  const ServedModel& served = models_[id];
  std::vector<std::unique_ptr<runtime::LoadedModel>> dropped;
  std::vector<ModelId> victims;
  SchedulerEvent done{SchedulerEvent::Kind::kLoaded, served.name, 0, result.load_s, {}};
  done.work = result.work;
  if (result.handle) done.backend_s = result.handle->load_time_s();
  done.rss_bytes = runtime::resident_set_bytes();
  observe_process_rss();  // while the load's peak is still charged
  {
    std::lock_guard lock(mutex_);
    ModelEntry& entry = *entries_[id];
    --loading_;
    process_.release(MemoryKind::kLoading, job.process_bytes);
    memory_blocked_ = memory_blocked_ || process_.limited();
    // A load peak above what any load may take refuses the model's every later request
    // (start_loads_locked). One measurement does not decide that: the next load measures
    // again in isolation, and only a second such figure is kept (resnet18-pt, profiled at
    // 72 MiB, once measured 81 MiB in a burst, above the 79.7 MiB a load could take).
    bool remeasure_peak = false;
    if (result.load_peak != 0) {
      if (result.load_peak > load_room_limit() && !entry.peak_remeasuring) {
        entry.peak_remeasuring = remeasure_peak = true;
        done.detail = "load peak measured at " + format_bytes(result.load_peak) +
                      ", above what a load may take; measuring again on its next load";
      } else {
        entry.peak_remeasuring = false;
        entry.load_peak_bytes = std::max(entry.load_peak_bytes, result.load_peak);
      }
    }
    if (result.workspace != 0) {
      entry.workspace_bytes = std::max(entry.workspace_bytes, result.workspace);
    }
    if (job.prefetch && prefetch_finished_locked(job, !result.error.empty(), done)) {
      dropped.push_back(std::move(result.handle));  // abandoned: its bytes go, nothing else
    } else if (!result.error.empty()) {
      load_failed_locked(id, job, result.error, done);
    } else {
      take_loaded_locked(id, result, remeasure_peak, done, victims, dropped);
    }
    start_loads_locked();
    if (prefetch_) prefetch_idle_locked();
  }
  idle_cv_.notify_all();
  emit(done);
  if (!dropped.empty()) {
    const auto u0 = Clock::now();
    dropped.clear();
    return_freed_memory();
    const double unload_s = seconds_since(u0);
    std::lock_guard lock(mutex_);
    after_unload_locked(victims);
    start_loads_locked();
    for (ModelId victim : victims) {
      emit({SchedulerEvent::Kind::kEvicted, models_[victim].name, entries_[victim]->measured_bytes,
            unload_s, "to fit the measured size of " + served.name});
    }
  }
}

// A load that worked: its measured size is charged, and the model becomes ready if that fits
// (evicting into `victims`, their handles into `dropped`); if not, it waits for room with the
// measured size, or its requests fail when no room could ever hold it.
void Scheduler::take_loaded_locked(ModelId id, LoadResult& result, bool remeasure_peak,
                                   SchedulerEvent& done, std::vector<ModelId>& victims,
                                   std::vector<std::unique_ptr<runtime::LoadedModel>>& dropped) {
  const ServedModel& served = models_[id];
  ModelEntry& entry = *entries_[id];
  // The load itself worked: earlier failures are forgotten.
  entry.consecutive_failures = 0;
  entry.backoff_until = {};
  entry.last_error.clear();
  const std::uint64_t raw =
      std::max<std::uint64_t>({result.handle->resident_bytes(), served.min_bytes, 1});
  // A disturbed measurement is noise on top of a size already known: keep the known one.
  std::uint64_t measured = result.clean || !entry.size_known ? raw : entry.measured_bytes;
  // A clean one within the measurements' own spread of the profiled size confirms it, and the
  // profiled size stays charged: the simulator sizes the model so, and a size off by a percent
  // or two changes which models fit and so the decisions (clean measurements of one model here
  // spread by up to 2.7%; docs/server.md, "First loads beside inferences"). Further off, the
  // measurement replaces it for good.
  const bool confirms =
      result.clean && entry.profiled_bytes != 0 &&
      static_cast<double>(raw > entry.profiled_bytes ? raw - entry.profiled_bytes
                                                     : entry.profiled_bytes - raw) <=
          kProfiledSizeTolerance * static_cast<double>(entry.profiled_bytes);
  if (confirms) {
    measured = entry.profiled_bytes;
  } else if (result.clean) {
    entry.profiled_bytes = 0;
  }
  const std::uint64_t reserved = cache_->state().bytes_of(id);
  if (measured != raw) {
    done.detail = "measured " + format_bytes(raw) +
                  (confirms ? ", near the profiled size" : " beside other work") +
                  "; charging the " +
                  (entry.profiled_bytes != 0 ? "profiled size" : "clean measurement");
  }
  if (result.clean) {
    entry.size_known = !remeasure_peak;  // not known: the next load is isolated
    entry.size_seeded = false;
  }
  entry.measured_bytes = measured;
  table_[id].size_bytes = measured;
  ++entry.counters.loads;
  entry.counters.load_seconds_total += result.load_s;
  learn_locked(id, Cost::kLoad, result.load_s);
  done.bytes = measured;
  const bool fits = measured <= reserved || cache_->can_make_room(measured - reserved);
  if (fits) {
    if (measured > reserved) cache_->make_room(measured - reserved, victims);
    entry.remeasuring = false;
    cache_->state().resize(id, measured);
    process_.charge(MemoryKind::kResting, measured);
    entry.charged_resting = measured;
    take_victims_locked(victims, dropped);
    entry.handle = std::move(result.handle);
    entry.inputs = entry.handle->inputs();
    entry.outputs = entry.handle->outputs();
    entry.known_specs = true;
    set_state_locked(id, ModelState::kReady);
    entry.ready_since = Clock::now();
    for (auto& waiter : entry.waiters) {
      cache_->state().unpin(id);
      waiter.done({});
    }
    entry.waiters.clear();
    cache_->state().unpin(id);  // the load's own pin
    schedule_exec_locked(id);
  } else {
    // The measured size does not fit beside what requests pin right now: give the memory
    // back and wait for room with the measured size as the new estimate.
    dropped.push_back(std::move(result.handle));
    evict_despite_pins_locked(id);
    cache_->state().unpin(id);
    if (measured > cache_->state().capacity_bytes() && !entry.remeasuring) {
      // Above the whole budget: before refusing the model's requests, measure once more
      // in isolation, in case something the gate cannot hold back (a request body being
      // read) grew the heap during this load. The estimate goes back to the old one.
      entry.remeasuring = true;
      entry.size_known = entry.size_seeded = false;
      entry.profiled_bytes = 0;
      entry.measured_bytes = 0;
      table_[id].size_bytes = estimate_locked(id);
      cache_->policy().on_cost_update(id);
      wait_for_room_locked(id, true);
      done.kind = SchedulerEvent::Kind::kResized;
      done.detail =
          "measured " + format_bytes(measured) + ", above the whole budget; measuring again";
    } else if (measured > cache_->state().capacity_bytes()) {
      entry.remeasuring = false;
      entry.last_error = "model " + served.name + " holds " + format_bytes(measured) +
                         ", more than the whole memory budget of " +
                         format_bytes(cache_->state().capacity_bytes());
      answer_work_locked(id, Status::kFailed, entry.last_error);
      set_state_locked(id, ModelState::kAbsent);
      done.kind = SchedulerEvent::Kind::kLoadFailed;
      done.detail = "larger than the memory budget";
    } else {
      wait_for_room_locked(id, true);
      done.kind = SchedulerEvent::Kind::kResized;
      done.detail = "measured size does not fit yet; waiting for room";
    }
  }
}

}  // namespace brulee::serve
