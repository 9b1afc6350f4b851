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
  // `P`: the policy's class, or a base of it (Policy: virtual calls). A driver that knows the
  // class (the simulator, for the list policies, whose hooks are final) names it, so the calls
  // are direct and the list operations inline; the same code either way.
  template <class P = Policy>
  void make_room(std::uint64_t bytes, std::vector<ModelId>& evicted) {
    if (bytes > state_.free_bytes()) evict_for<P>(bytes, evicted);
  }

  // make_room(bytes) then inserts the model holding `bytes` and tells the policy.
  template <class P = Policy>
  void admit(ModelId model, std::uint64_t bytes, std::vector<ModelId>& evicted) {
    if (state_.resident(model)) [[unlikely]]
      fail_resident(model);
    make_room<P>(bytes, evicted);
    state_.insert(model, bytes);
    static_cast<P&>(*policy_).on_load(model);
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
  template <class P>
  void evict_for(std::uint64_t bytes, std::vector<ModelId>& evicted);  // make_room's evictions
  [[noreturn]] void fail_resident(ModelId model) const;
  [[noreturn]] void fail_too_large(std::uint64_t bytes) const;
  [[noreturn]] void fail_pinned(std::uint64_t needed) const;
  [[noreturn]] void fail_short(std::uint64_t freed, std::uint64_t needed) const;
  void check_marks(ModelId victim);  // a long answer's repeats, through the per-model marks
  [[noreturn]] void fail_not_evictable(ModelId victim) const;
  [[noreturn]] void fail_repeated(ModelId victim) const;

  const ModelTable& models_;
  CacheState state_;
  std::unique_ptr<Policy> policy_;
  std::vector<ModelId> victims_;
  std::vector<std::uint64_t> marks_;  // marks_[m] == epoch_: m already chosen in this round
  std::uint64_t epoch_ = 0;
};

template <class P>
void ModelCache::evict_for(std::uint64_t bytes, std::vector<ModelId>& evicted) {
  if (bytes > state_.capacity_bytes()) [[unlikely]]
    fail_too_large(bytes);
  const std::uint64_t needed = bytes - state_.free_bytes();
  if (needed > state_.evictable_bytes()) [[unlikely]]
    fail_pinned(needed);
  P& policy = static_cast<P&>(*policy_);
  victims_.clear();
  policy.select_victims(state_, needed, victims_);
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
      check_marks(victim);
    }
    freed += state_.bytes_of(victim);
  }
  if (freed < needed) [[unlikely]]
    fail_short(freed, needed);
  for (ModelId victim : victims_) {
    state_.remove(victim);
    policy.on_evict(victim);
    evicted.push_back(victim);
  }
}

// The virtual path (P = Policy) is compiled once, in model_cache.cpp, and called out of line.
extern template void ModelCache::evict_for<Policy>(std::uint64_t, std::vector<ModelId>&);

}  // namespace brulee
