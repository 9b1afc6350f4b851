// The scheduler's prefetching hooks (docs/prefetch.md, "What the server must do to match").
#include <chrono>
#include <mutex>

#include "serve/prefetch_driver.hpp"
#include "serve/scheduler.hpp"
#include "serve/scheduler_parts.hpp"

namespace brulee::serve {

// ---- Prefetching (docs/prefetch.md, "What the server must do to match") ----
// The decisions and counters are the PrefetchDriver's (the core Prefetcher, as in the
// simulator); what follows carries them out in the scheduler's terms, with the lock held.

// Every accepted request, before the policy hears of it: a request for the model being
// prefetched waits for that load (used); a request that needs a load abandons the prefetch in
// flight (its load runs on in the prefetch thread and is discarded), so no demand load waits for
// a prefetch, for the loader or for memory. Then the predictor observes the arrival.
void Scheduler::prefetch_arrival_locked(ModelId id, double time_s, bool hinted) {
  PrefetchDriver& driver = *prefetch_;
  const PrefetchDriver::InFlight& flight = driver.in_flight();
  if (flight.cancellable && flight.model == id) {
    driver.adopted();
  } else if (flight.cancellable) {
    const ModelState state = entries_[id]->state;
    const bool needs_load = state == ModelState::kAbsent || state == ModelState::kUnloading ||
                            state == ModelState::kWaiting;
    // Only the load's own pin (an explicit load waiting for it holds another: it stays).
    if (needs_load && cache_->state().pins(flight.model) == 1) {
      const ModelId model = flight.model;
      driver.abandoned();
      driver.prefetcher().on_cancelled(model);
      cache_->state().unpin(model);  // the load's own pin
      cache_->evict(model);          // its reservation goes back; the policy hears on_evict
      set_state_locked(model, ModelState::kAbsent);
    }
  }
  driver.used(id);
  driver.arrival(time_s, hinted);
  driver.prefetcher().observe(id, time_s);
}

// The loader is idle (no demand load queued, waiting for room or running), no request is
// queued and no prefetch runs: decide, and hand a prefetch to the prefetch thread. At most
// Prefetcher::kMaxPerGap prefetches between two arrivals; each one's end decides again.
void Scheduler::prefetch_idle_locked() {
  PrefetchDriver& driver = *prefetch_;
  if (stopping_ || !accepting_ || driver.busy() || !driver.seen() || !driver.gap_allows()) return;
  if (!jobs_.empty() || !unloads_.empty() || !pending_.empty() || loading_ != 0 || queued_ != 0)
    return;
  std::vector<ModelId> victims;
  const ModelId id =
      driver.prefetcher().choose(cache_->state(), driver.decision_time(now_s()), victims);
  if (id == kNoModel) return;
  ModelEntry& entry = *entries_[id];
  // Never a failing model. A model never measured cleanly (the warm-up's) is loaded without
  // the activity gate, unlike a demand first load; under a process limit its load peak and
  // workspace are unknown until an isolated load measures them, so there it waits for demand.
  if (entry.state != ModelState::kAbsent || entry.consecutive_failures != 0 ||
      ((!entry.size_known || entry.size_seeded) && process_.limited())) {
    return;
  }
  auto job = std::make_unique<LoadJob>();
  job->model = id;
  job->prefetch = true;
  job->note = "prefetch";
  job->reserved_bytes = estimate_locked(id);
  for (ModelId victim : victims) cache_->evict(victim);  // the policy hears on_evict
  take_victims_locked(victims, job->victim_handles);
  std::vector<ModelId> evicted;
  cache_->admit(id, job->reserved_bytes, evicted);  // fits: evicts nothing, unless sizes moved
  take_victims_locked(evicted, job->victim_handles);
  victims.insert(victims.end(), evicted.begin(), evicted.end());
  job->victims = std::move(victims);
  set_state_locked(id, ModelState::kWaiting);
  set_state_locked(id, ModelState::kLoading);
  cache_->state().pin(id);  // the load's own pin
  ++loading_;
  driver.started(id, job.get(), now_s());
  prefetch_jobs_.push_back(std::move(job));
  prefetch_cv_.notify_one();
}

void Scheduler::prefetch_evicted_locked(ModelId id) { prefetch_->evicted(id); }

// The prefetch thread's load returned. Returns true if the prefetch had been abandoned: the
// caller drops the handle (its bytes go back) and changes nothing else. Otherwise the load
// completes as a demand load does (requests that arrived for it meanwhile run).
bool Scheduler::prefetch_finished_locked(const LoadJob& /*job*/, bool failed,
                                         SchedulerEvent& done) {
  PrefetchDriver& driver = *prefetch_;
  const double work_s = std::max(0.0, now_s() - driver.in_flight().start_s);
  const bool abandoned = driver.finished(work_s, failed);
  done.detail = abandoned ? "prefetch, abandoned for a demand load: discarded" : "prefetch";
  return abandoned;
}

// Stopping: a prefetch not yet started goes back as a queued demand load does.
void Scheduler::prefetch_stop_locked() {
  for (auto& job : prefetch_jobs_) {
    if (!prefetch_->in_flight().abandoned) {
      cache_->state().unpin(job->model);
      cache_->evict(job->model);
      set_state_locked(job->model, ModelState::kAbsent);
    }
    prefetch_->finished(0.0, true);
    --loading_;
    after_unload_locked(job->victims);
  }
  prefetch_jobs_.clear();
}

bool Scheduler::wait_prefetch_settled(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_for(lock, timeout, [&] { return !prefetch_ || !prefetch_->busy(); });
}

}  // namespace brulee::serve
