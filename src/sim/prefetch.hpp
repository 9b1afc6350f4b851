#pragma once
// Prefetching in the simulator (docs/prefetch.md): when a worker's loading lane is idle, load a
// model predicted to be requested, if it fits in free memory or by evicting only resident models
// whose predicted utility is lower than its own. This class makes the decisions; the simulator
// charges the work to the lane and cancels a prefetch that a demand request needs the lane for.
#include <array>
#include <cstdint>
#include <vector>

#include "core/interarrival.hpp"
#include "core/model_cache.hpp"
#include "core/policy.hpp"

namespace brulee::sim {

class Prefetcher {
 public:
  // Candidates: the kGhosts models most recently evicted (distinct).
  static constexpr std::size_t kGhosts = 32;
  // A victim's predicted utility must be below the candidate's divided by this (hysteresis:
  // close utilities are noise, and a cancelled prefetch's victims stay evicted).
  static constexpr double kMargin = 2.0;

  Prefetcher(const ModelTable& models, CostMode cost_mode)
      : models_(models), cost_mode_(cost_mode) {}

  // Every request, at its arrival (after any decision made before that arrival).
  void observe(ModelId model, double time_s) { predictor_.observe(model, time_s); }
  // A model left memory (by demand or by a prefetch): it becomes a candidate.
  void on_evicted(ModelId model);

  // The decision at `now_s`: the candidate with the highest predicted utility that is not
  // resident, and the unpinned resident models to evict for it (lowest predicted utility first,
  // each below the candidate's / kMargin, trimmed largest first), or kNoModel if no candidate
  // qualifies. Changes nothing.
  ModelId choose(const CacheState& cache, double now_s, std::vector<ModelId>& victims);

  double utility(ModelId model, double now_s) const;
  const InterArrivalPredictor& predictor() const { return predictor_; }

 private:
  const ModelTable& models_;
  CostMode cost_mode_;
  InterArrivalPredictor predictor_;
  std::array<ModelId, kGhosts> ghosts_{};
  std::size_t ghost_count_ = 0;
  struct Scored {
    double utility;
    ModelId model;
  };
  std::vector<Scored> residents_;  // reused
};

}  // namespace brulee::sim
