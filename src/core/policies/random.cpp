// random: evict uniformly random unpinned resident models, from a seeded generator.
#include <algorithm>

#include "core/policy_util.hpp"
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
    // Draw without replacement from the unpinned resident models (partial Fisher-Yates).
    candidates_.clear();
    for (ModelId model : cache.resident_models()) {
      if (!cache.pinned(model)) candidates_.push_back(model);
    }
    std::uint64_t freed = 0;
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
};
}  // namespace

std::unique_ptr<Policy> make_random(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<RandomPolicy>(models, options);
}
}  // namespace brulee
