#pragma once
// One cache of models: CacheState (bytes) + Policy (order), driven the same way by the simulator
// and the server. It checks what the policy returns, so a policy bug cannot break the byte
// invariant: victims must be resident, unpinned, distinct and cover the need.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/cache_state.hpp"
#include "core/policy.hpp"

namespace brulee {

class ModelCache {
 public:
  ModelCache(std::uint64_t capacity_bytes, const ModelTable& models,
             std::unique_ptr<Policy> policy);

  // Tells the policy of a request; returns whether the model is resident (a hit).
  // `request.hit` is filled in here.
  bool record(RequestEvent request) {
    request.hit = state_.resident(request.model);
    policy_->on_request(request);
    return request.hit;
  }

  // Whether make_room(bytes) can succeed now: `bytes` are free already, or fit in the capacity
  // and evicting every unpinned model would free enough. Asks nothing of the policy.
  bool can_make_room(std::uint64_t bytes) const {
    const std::uint64_t free_bytes = state_.free_bytes();
    return bytes <= free_bytes ||
           (bytes <= state_.capacity_bytes() && bytes - free_bytes <= state_.evictable_bytes());
  }

  // Evicts by policy until `bytes` are free. Appends the evicted models to `evicted`.
  // Throws CacheError (nothing changed) if bytes exceed the capacity or what unpinned models hold
  // (can_make_room tells beforehand), or if the policy's answer is wrong (a policy bug).
  // Inline, like admit: the simulator admits on every miss.
  void make_room(std::uint64_t bytes, std::vector<ModelId>& evicted) {
    if (bytes > state_.free_bytes()) evict_for(bytes, evicted);
  }

  // make_room(bytes) then inserts the model holding `bytes` and tells the policy.
  void admit(ModelId model, std::uint64_t bytes, std::vector<ModelId>& evicted) {
    if (state_.resident(model)) [[unlikely]]
      fail_resident(model);
    make_room(bytes, evicted);
    state_.insert(model, bytes);
    policy_->on_load(model);
  }
  void admit(ModelId model, std::vector<ModelId>& evicted) {
    admit(model, models_[model].size_bytes, evicted);
  }

  // Drops one resident, unpinned model (an explicit unload).
  void evict(ModelId model);

  CacheState& state() { return state_; }
  const CacheState& state() const { return state_; }
  Policy& policy() { return *policy_; }
  const ModelTable& models() const { return models_; }

 private:
  void evict_for(std::uint64_t bytes, std::vector<ModelId>& evicted);  // make_room's evictions
  [[noreturn]] void fail_resident(ModelId model) const;
  [[noreturn]] void fail_not_evictable(ModelId victim) const;
  [[noreturn]] void fail_repeated(ModelId victim) const;

  const ModelTable& models_;
  CacheState state_;
  std::unique_ptr<Policy> policy_;
  std::vector<ModelId> victims_;
  std::vector<std::uint64_t> marks_;  // marks_[m] == epoch_: m already chosen in this round
  std::uint64_t epoch_ = 0;
};

}  // namespace brulee
