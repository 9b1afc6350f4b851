#pragma once
// Prefetching decisions (docs/prefetch.md), shared by the simulator and the server: when the
// loading lane is idle, which model to load before it is requested, and which resident models to
// evict for it (only models whose predicted utility is below its own by kMargin, and together
// worth less than it; both bars raised while recent prefetches harmed more than they gained).
// No I/O, threads or clocks: times are passed in. The driver (simulator or scheduler) carries
// the decision out, cancels a prefetch that a demand load needs the lane for, and says so
// (on_cancelled).
//
// Cost of a decision: the kGhosts candidates are scored every time; the resident models only when
// the best candidate does not fit in free memory, and then in the order of a heap of lower bounds
// on their predicted utility (see bound_key in prefetcher.cpp), stopping as soon as no unscored
// model can be a victim or enough bytes are found: the same victims as scoring every resident
// model (choose_by_scan, kept as the reference), without touching most of them.
#include <array>
#include <cstdint>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/cache_state.hpp"
#include "core/indexed_heap.hpp"
#include "core/interarrival.hpp"
#include "core/model_info.hpp"
#include "core/policy.hpp"

namespace brulee {

class Prefetcher {
 public:
  // Candidates: the kGhosts models most recently evicted (distinct), and every model taken for
  // periodic (a timer) from kDueLoads of its load latencies before its next firing until the
  // firing is missed; when none of them can be prefetched, the warm-up: a model never requested
  // nor tried, in free memory only.
  static constexpr std::size_t kGhosts = 32;
  static constexpr double kDueLoads = 16.0;
  // The warm-up looks at most this many never-requested models per decision, and tries each at
  // most kColdTries times (a try a demand arrival cancels does not count as done).
  static constexpr std::size_t kColdScan = 64;
  static constexpr std::uint8_t kColdTries = 30;
  // A victim's predicted utility must be below the candidate's divided by this (hysteresis:
  // close utilities are noise, and a cancelled prefetch's victims stay evicted).
  static constexpr double kMargin = 2.0;
  // At most this many prefetches between two arrivals.
  static constexpr int kMaxPerGap = 8;
  // Outcomes (docs/prefetch.md, "Learning from outcomes"): the kOpen latest prefetches that
  // evicted something are followed. The prefetched model's first request counts its load cost as
  // gain; a victim requested before it counts its own load cost as harm (after it, demand would
  // have evicted for the model too). A prefetch cancelled, or evicted before its first request,
  // is no longer followed. Both sums fade by kFade at each event, and by kDecisionFade at each
  // decision they raise the bar for (so a raised bar comes down even when it stops every
  // prefetch). While harm exceeds gain, the margin and the value test are raised by the factor
  // caution() (at most kMaxCaution).
  static constexpr std::size_t kOpen = 16;
  static constexpr std::size_t kOpenVictims = 8;
  static constexpr double kFade = 1.0 / 32;
  static constexpr double kDecisionFade = 1.0 / 1024;
  static constexpr double kMaxCaution = 64.0;

  // Told of every decision that names a model and of every eviction (tests compare the
  // simulator's decisions with the server's).
  class Observer {
   public:
    virtual ~Observer() = default;
    virtual void on_chosen(ModelId model, std::span<const ModelId> victims, double now_s) = 0;
    // Every on_evicted the driver calls, in order.
    virtual void on_evicted(ModelId /*model*/) {}
  };

  Prefetcher(const ModelTable& models, CostMode cost_mode)
      : models_(models), cost_mode_(cost_mode) {}

  // Every request, at its arrival (after any decision made before that arrival); a time before
  // the latest observed counts as the latest.
  void observe(ModelId model, double time_s);
  // A model left memory (by demand or by a prefetch): it becomes a candidate.
  void on_evicted(ModelId model);
  // The prefetch of `model` was cancelled (a demand request needed the lane or memory) before
  // it completed: it is no longer followed (its victims stay evicted).
  void on_cancelled(ModelId model);
  // A model became resident without a request of its own (an operator's explicit load). Models
  // that become resident through a request or a decision need no call.
  void on_loaded(ModelId model);
  // The model's size or costs changed in the ModelTable.
  void on_cost_update(ModelId model);

  // The decision at `now_s` (not before the last observed request): the candidate with the
  // highest predicted utility that is not resident, and the unpinned resident models to evict
  // for it (lowest predicted utility first, each below the candidate's / kMargin, trimmed
  // largest first, and together worth less than it: the sum of utility x size); if no
  // candidate qualifies, the warm-up's next model that fits in free memory
  // (no victims); else kNoModel. Changes no residency.
  ModelId choose(const CacheState& cache, double now_s, std::vector<ModelId>& victims);
  // The same decision, scoring every resident model (the reference choose is checked against).
  ModelId choose_by_scan(const CacheState& cache, double now_s, std::vector<ModelId>& victims);

  double utility(ModelId model, double now_s) const;
  const InterArrivalPredictor& predictor() const { return predictor_; }
  void set_observer(Observer* observer) { observer_ = observer; }
  // Residents scored by the last choose (for measurements).
  std::size_t last_scored() const { return last_scored_; }
  // The factor (>= 1) by which the margin and the value test are raised at a decision whose
  // candidate costs `cost` to load: max(1, (harm + cost) / (gain + cost)).
  double caution(double cost) const;
  double outcome_gain() const { return gain_; }
  double outcome_harm() const { return harm_; }

 private:
  struct Scored {
    double utility;
    ModelId model;
    friend bool operator<(const Scored& a, const Scored& b) {
      return a.utility < b.utility || (a.utility == b.utility && a.model < b.model);
    }
  };
  double cost_of(ModelId model) const;
  ModelId best_candidate(const CacheState& cache, double now_s, double& best_utility);
  ModelId next_cold(const CacheState& cache);
  void rekey_due(ModelId model);
  double bound_key(ModelId model) const;
  void rekey(ModelId model);
  ModelId decide(const CacheState& cache, double now_s, std::vector<ModelId>& victims,
                 bool by_scan);
  bool victims_by_scan(const CacheState& cache, double now_s, double best_utility,
                       std::uint64_t needed, std::vector<ModelId>& victims);
  bool victims_by_bound(const CacheState& cache, double now_s, double best_utility,
                        std::uint64_t needed, std::vector<ModelId>& victims);
  ModelId chosen(ModelId model, std::vector<ModelId>& victims, double now_s);
  bool gives_more_than_it_takes(const CacheState& cache, double now_s, double best_utility,
                                std::uint64_t size, const std::vector<ModelId>& victims,
                                double caution) const;
  void follow(ModelId model, const std::vector<ModelId>& victims);
  void settle_outcomes(ModelId requested);
  void add_outcome(double& sum, double value);

  const ModelTable& models_;
  CostMode cost_mode_;
  InterArrivalPredictor predictor_;
  std::array<ModelId, kGhosts> ghosts_{};
  std::size_t ghost_count_ = 0;
  // Timers by the time they become candidates (their next firing less kDueLoads load latencies),
  // and each model's key there (absent: < 0). A timer leaves at its next request if it is no
  // longer periodic then, or when a decision finds its firing missed.
  std::set<std::pair<double, ModelId>> due_;
  std::vector<double> due_key_;
  Observer* observer_ = nullptr;
  // Followed prefetches (a ring, the oldest overwritten) and the faded sums of their outcomes.
  struct Open {
    ModelId model = kNoModel;  // kNoModel: closed
    bool used = false;
    std::uint8_t victim_count = 0;
    std::array<ModelId, kOpenVictims> victims{};
  };
  std::array<Open, kOpen> open_{};
  std::size_t open_next_ = 0;
  double gain_ = 0.0;
  double harm_ = 0.0;
  // Every resident model (and perhaps some that left: removed when met), by a lower bound on
  // predicted utility x (now - origin), valid at any time from latest_s_ on.
  IndexedHeap bounds_;
  std::vector<double> bound_of_;  // the key of each model in bounds_
  double latest_s_ = 0.0;         // the latest time observed
  bool seen_ = false;
  std::size_t last_scored_ = 0;
  // The warm-up: every model by load cost per byte, highest first (ties: lower id), built at the
  // first decision (again if the table grows).
  std::vector<ModelId> cold_;
  std::vector<std::uint8_t> cold_tries_;  // kColdTries once requested, seen resident or evicted
  std::size_t cold_next_ = 0;             // every entry before it is done
  // Reused by choose.
  struct Walk {
    double bound;
    std::uint32_t position;
  };
  std::vector<Walk> walk_;
  std::vector<Scored> scored_;
  std::vector<ModelId> gone_;
};

}  // namespace brulee
