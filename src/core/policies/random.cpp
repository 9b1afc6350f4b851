// random: evict uniformly random unpinned resident models, from a seeded generator.
#include <algorithm>

#include "core/per_model.hpp"
#include "core/policy.hpp"
#include "core/rng.hpp"

namespace brulee {
namespace {
class RandomPolicy final : public Policy {
 public:
  RandomPolicy(const ModelTable& models, const PolicyOptions& options)
      : Policy(models, options), rng_(options.seed) {}
  std::string_view name() const override { return "random"; }
  void on_request(const RequestEvent&) override {}
  void on_load(ModelId) override {}
  void on_evict(ModelId) override {}

  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    // Uniform draws from the resident set, rejecting pinned and already chosen models: O(1)
    // per victim while few are pinned. After many rejections, fall back to drawing without
    // replacement from the explicit list of candidates.
    const auto resident = cache.resident_models();
    ++epoch_;
    std::uint64_t freed = 0;
    for (int rejections = 0; freed < needed_bytes && rejections < 64;) {
      const ModelId model = resident[rng_.below(resident.size())];
      if (cache.pinned(model) || chosen_[model] == epoch_) {
        ++rejections;
        continue;
      }
      chosen_[model] = epoch_;
      victims.push_back(model);
      freed += cache.bytes_of(model);
    }
    if (freed >= needed_bytes) return;
    candidates_.clear();
    for (ModelId model : resident) {
      if (!cache.pinned(model) && chosen_[model] != epoch_) candidates_.push_back(model);
    }
    for (std::size_t i = 0; i < candidates_.size() && freed < needed_bytes; ++i) {
      const std::size_t pick = i + rng_.below(candidates_.size() - i);
      std::swap(candidates_[i], candidates_[pick]);
      victims.push_back(candidates_[i]);
      freed += cache.bytes_of(candidates_[i]);
    }
  }

 private:
  Rng rng_;
  std::vector<ModelId> candidates_;
  PerModel<std::uint64_t> chosen_;  // == epoch_: chosen in the current call
  std::uint64_t epoch_ = 0;
};
}  // namespace

std::unique_ptr<Policy> make_random(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<RandomPolicy>(models, options);
}
}  // namespace brulee
