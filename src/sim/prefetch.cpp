#include "sim/prefetch.hpp"

#include <algorithm>

#include "core/policy_util.hpp"

namespace brulee::sim {

void Prefetcher::on_evicted(ModelId model) {
  // Most recent first; a model already in the list moves to the front.
  std::size_t at = 0;
  while (at < ghost_count_ && ghosts_[at] != model) ++at;
  if (at == ghost_count_) {
    if (ghost_count_ < kGhosts) ++ghost_count_;
    at = ghost_count_ - 1;
  }
  for (; at > 0; --at) ghosts_[at] = ghosts_[at - 1];
  ghosts_[0] = model;
}

double Prefetcher::utility(ModelId model, double now_s) const {
  const ModelInfo& info = models_[model];
  const double cost = cost_mode_ == CostMode::kIncrease
                          ? info.load_latency_s / std::max(info.exec_latency_s, 1e-9)
                          : info.load_latency_s;
  return predicted_utility(predictor_.history(model), predictor_.origin_s(), info.load_latency_s,
                           cost, static_cast<double>(info.size_bytes), now_s);
}

ModelId Prefetcher::choose(const CacheState& cache, double now_s, std::vector<ModelId>& victims) {
  victims.clear();
  ModelId best = kNoModel;
  double best_utility = 0.0;
  for (std::size_t k = 0; k < ghost_count_; ++k) {
    const ModelId model = ghosts_[k];
    if (cache.resident(model) || models_[model].size_bytes > cache.capacity_bytes()) continue;
    const double u = utility(model, now_s);
    if (u > best_utility) {  // ties: the most recently evicted
      best_utility = u;
      best = model;
    }
  }
  if (best == kNoModel) return kNoModel;
  const std::uint64_t size = models_[best].size_bytes;
  if (size <= cache.free_bytes()) return best;
  const std::uint64_t needed = size - cache.free_bytes();
  if (needed > cache.evictable_bytes()) return kNoModel;
  residents_.clear();
  for (ModelId model : cache.resident_models()) {
    if (cache.pinned(model)) continue;
    const double u = utility(model, now_s);
    if (u * kMargin < best_utility) residents_.push_back({u, model});
  }
  std::sort(residents_.begin(), residents_.end(), [](const Scored& a, const Scored& b) {
    return a.utility < b.utility || (a.utility == b.utility && a.model < b.model);
  });
  std::uint64_t freed = 0;
  for (const Scored& r : residents_) {
    if (freed >= needed) break;
    victims.push_back(r.model);
    freed += cache.bytes_of(r.model);
  }
  if (freed < needed) {
    victims.clear();
    return kNoModel;
  }
  keep_largest_needed(cache, needed, victims, 0);
  return best;
}

}  // namespace brulee::sim
