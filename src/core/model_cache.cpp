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

void ModelCache::fail_too_large(std::uint64_t bytes) const {
  throw CacheError("needs " + format_bytes(bytes) + ", more than the whole capacity of " +
                   format_bytes(state_.capacity_bytes()));
}

void ModelCache::fail_pinned(std::uint64_t needed) const {
  throw CacheError("needs " + format_bytes(needed) + " more, but unpinned models hold only " +
                   format_bytes(state_.evictable_bytes()) + " (the rest is pinned by requests)");
}

void ModelCache::fail_short(std::uint64_t freed, std::uint64_t needed) const {
  throw CacheError("policy " + std::string(policy_->name()) + " freed " + std::to_string(freed) +
                   " of the " + std::to_string(needed) + " bytes needed");
}

void ModelCache::check_marks(ModelId victim) {
  if (victim >= marks_.size()) marks_.resize(static_cast<std::size_t>(victim) + 1, 0);
  if (marks_[victim] == epoch_) [[unlikely]]
    fail_repeated(victim);
  marks_[victim] = epoch_;
}

// The virtual path, compiled once here for every driver that does not name the policy's class
// (model_cache.hpp declares it extern).
template void ModelCache::evict_for<Policy>(std::uint64_t, std::vector<ModelId>&);

void ModelCache::evict(ModelId model) {
  state_.remove(model);
  policy_->on_evict(model);
}

}  // namespace brulee
