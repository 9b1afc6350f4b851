#pragma once
// The server's prefetching state (docs/prefetch.md, "What the server must do"): the decisions
// (the core Prefetcher, the same code as the simulator's), the prefetch in flight, which
// resident models were prefetched and not yet used, and the counters. No threads and no lock of
// its own: the scheduler calls it with its lock held (scheduler_prefetch.cpp).
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"
#include "core/policy.hpp"
#include "core/prefetcher.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve {

class PrefetchDriver {
 public:
  PrefetchDriver(const ModelTable& models, CostMode cost_mode)
      : prefetcher_(models, cost_mode), work_s_(models.size(), 0.0), pending_(models.size(), 0) {}

  Prefetcher& prefetcher() { return prefetcher_; }
  const PrefetchCounters& counters() const { return counters_; }

  // A request arrived at `time_s` (its trace time when `hinted`, else the scheduler's clock).
  void arrival(double time_s, bool hinted) {
    last_s_ = time_s;
    hinted_ = hinted;
    seen_ = true;
    gap_prefetches_ = 0;
  }
  bool seen() const { return seen_; }
  // The time of a decision: the last arrival's trace time when requests carry their times (the
  // trace has no time between them), else the clock, never before the last arrival.
  double decision_time(double clock_s) const {
    return hinted_ || clock_s < last_s_ ? last_s_ : clock_s;
  }
  bool gap_allows() const { return gap_prefetches_ < Prefetcher::kMaxPerGap; }

  // The prefetch in flight (one at a time): its model, job, start, and whether a demand request
  // may still cancel it (not once a request for its model waits for it).
  struct InFlight {
    ModelId model = kNoModel;
    const void* job = nullptr;
    double start_s = 0.0;
    bool cancellable = false;
    bool abandoned = false;
  };
  const InFlight& in_flight() const { return in_flight_; }
  bool busy() const { return in_flight_.job != nullptr; }

  void started(ModelId model, const void* job, double clock_s) {
    in_flight_ = {model, job, clock_s, true, false};
    ++gap_prefetches_;
    ++counters_.prefetches;
    pending_[model] = 1;
  }
  // A request for the model being prefetched: it waits for that load, which is used.
  void adopted() {
    in_flight_.cancellable = false;
    used(in_flight_.model);
  }
  // The prefetch in flight is abandoned for a demand load; its load runs on, discarded.
  void abandoned() {
    in_flight_.cancellable = false;
    in_flight_.abandoned = true;
    pending_[in_flight_.model] = 0;
    ++counters_.prefetches_cancelled;
  }
  // The prefetch thread finished the job (`work_s` from its start); returns whether it had been
  // abandoned. A failed load wastes its work.
  bool finished(double work_s, bool failed) {
    const InFlight done = in_flight_;
    in_flight_ = {};
    counters_.prefetch_load_s += work_s;
    if (done.abandoned) {
      counters_.prefetch_wasted_s += work_s;
      return true;
    }
    work_s_[done.model] = work_s;
    if (failed && pending_[done.model]) {
      pending_[done.model] = 0;
      counters_.prefetch_wasted_s += work_s;
    }
    return false;
  }
  // A request for a resident (or loading) model: the first one after its prefetch uses it.
  void used(ModelId model) {
    if (!pending_[model]) return;
    pending_[model] = 0;
    ++counters_.prefetches_used;
  }
  // A model left memory by eviction: it is a candidate, and a prefetched model never requested
  // wasted its work.
  void evicted(ModelId model) {
    prefetcher_.on_evicted(model);
    if (!pending_[model]) return;
    pending_[model] = 0;
    counters_.prefetch_wasted_s += work_s_[model];
  }

 private:
  Prefetcher prefetcher_;
  PrefetchCounters counters_;
  InFlight in_flight_;
  std::vector<double> work_s_;  // each prefetched model's work
  std::vector<char> pending_;   // prefetched, not yet requested
  double last_s_ = 0.0;
  bool hinted_ = false;
  bool seen_ = false;
  int gap_prefetches_ = 0;
};

}  // namespace brulee::serve
