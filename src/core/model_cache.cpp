#include "core/model_cache.hpp"

#include <string>

#include "core/error.hpp"
#include "core/units.hpp"

namespace brulee {

ModelCache::ModelCache(std::uint64_t capacity_bytes, const ModelTable& models,
                       std::unique_ptr<Policy> policy)
    : models_(models), state_(capacity_bytes, models.size()), policy_(std::move(policy)) {
  if (!policy_) throw CacheError("no policy given");
  state_.set_unpin_listener(policy_.get());
}

void ModelCache::fail_not_evictable(ModelId victim) const {
  throw CacheError("policy " + std::string(policy_->name()) +
                   " chose a model that is not evictable: " + std::to_string(victim));
}

void ModelCache::fail_repeated(ModelId victim) const {
  throw CacheError("policy " + std::string(policy_->name()) + " chose model " +
                   std::to_string(victim) + " twice");
}

void ModelCache::fail_resident(ModelId model) const {
  throw CacheError("model " + models_[model].name + " is resident");
}

void ModelCache::evict_for(std::uint64_t bytes, std::vector<ModelId>& evicted) {
  if (bytes > state_.capacity_bytes()) {
    throw CacheError("needs " + format_bytes(bytes) + ", more than the whole capacity of " +
                     format_bytes(state_.capacity_bytes()));
  }
  const std::uint64_t needed = bytes - state_.free_bytes();
  if (needed > state_.evictable_bytes()) {
    throw CacheError("needs " + format_bytes(needed) + " more, but unpinned models hold only " +
                     format_bytes(state_.evictable_bytes()) + " (the rest is pinned by requests)");
  }
  victims_.clear();
  policy_->select_victims(state_, needed, victims_);
  // Check the whole answer before changing anything. The usual answer is one to a few victims:
  // those are checked for repeats against each other (no per-model array to touch, which costs a
  // cache miss per eviction); long answers use the per-model marks.
  constexpr std::size_t kPairwiseLimit = 16;
  const bool pairwise = victims_.size() <= kPairwiseLimit;
  if (!pairwise) ++epoch_;
  std::uint64_t freed = 0;
  for (std::size_t i = 0; i < victims_.size(); ++i) {
    const ModelId victim = victims_[i];
    if (!state_.resident(victim) || state_.pinned(victim)) [[unlikely]] {
      fail_not_evictable(victim);
    }
    if (pairwise) {
      for (std::size_t j = 0; j < i; ++j) {
        if (victims_[j] == victim) [[unlikely]]
          fail_repeated(victim);
      }
    } else {
      if (victim >= marks_.size()) marks_.resize(static_cast<std::size_t>(victim) + 1, 0);
      if (marks_[victim] == epoch_) [[unlikely]]
        fail_repeated(victim);
      marks_[victim] = epoch_;
    }
    freed += state_.bytes_of(victim);
  }
  if (freed < needed) {
    throw CacheError("policy " + std::string(policy_->name()) + " freed " + std::to_string(freed) +
                     " of the " + std::to_string(needed) + " bytes needed");
  }
  for (ModelId victim : victims_) {
    state_.remove(victim);
    policy_->on_evict(victim);
    evicted.push_back(victim);
  }
}

void ModelCache::evict(ModelId model) {
  state_.remove(model);
  policy_->on_evict(model);
}

}  // namespace brulee
