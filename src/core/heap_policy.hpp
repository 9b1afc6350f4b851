#pragma once
// The base of the policies whose victims are the lowest keys of an indexed heap over resident
// models (LFU, GDSF, CremeBrulee, ...): the selection walk over the heap, and HeapPolicy, which
// a policy derives from (CRTP) by giving a key per model and a counter update per request.
#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/indexed_heap.hpp"
#include "core/per_model.hpp"
#include "core/policy.hpp"
#include "core/victim_selection.hpp"

namespace brulee {

// Victim selection over an indexed heap of resident models (lowest key first), skipping pinned
// models; optionally trimmed largest first. Victims leave the heap. When a selection meets many
// pinned models they leave too, set aside until their last pin goes (HeapPolicy::on_unpinned
// puts them back with a fresh key), so a queue that pins many models does not make every
// selection step over all of them again. Everything else stays where it is.
// `fresh_key(entry)` gives the entry's true key: the heap may hold stale keys that are lower
// bounds of the true ones (lazy policies, below); a stale entry is re-keyed before it is used, so
// the victims are exactly those an eagerly updated heap would give.
struct HeapWalk {
  struct Step {
    HeapKey key;
    ModelId model;  // the heap's tie-breaker (IndexedHeap::before)
    std::uint32_t position;
  };
  static constexpr std::size_t kScanLimit = 32;
  // Heap positions next to visit: a short unsorted array (a visit takes one entry and adds at
  // most kArity), then a binary heap once there are many.
  std::array<Step, kScanLimit + IndexedHeap::kArity> near;
  std::vector<Step> frontier;
  std::vector<ModelId> set_aside;  // pinned models met on the way (set aside if many)
};

// Returns true when the last victim was left in the heap (HeapPolicy's kept victim); every
// other victim has left it.
template <typename FreshKey>
bool select_from_heap(IndexedHeap& heap, HeapWalk& walk, const CacheState& cache,
                      std::uint64_t needed_bytes, std::vector<ModelId>& victims, bool trim,
                      FreshKey&& fresh_key) {
  // Common case: the lowest key is evictable and alone frees enough.
  while (!heap.empty()) {
    const IndexedHeap::Entry& top = heap.top();
    const HeapKey key = fresh_key(top);
    if (!(top.key < key)) break;
    heap.set(top.model, key);
  }
  if (heap.empty()) return false;
  {
    const ModelId lowest = heap.top().model;
    if (!cache.pinned(lowest) && cache.bytes_of(lowest) >= needed_bytes) {
      victims.push_back(lowest);
      return true;
    }
  }
  // Otherwise visit entries in ascending key order without taking them out: a best-first walk
  // from the root, whose frontier holds the children of visited entries. Only the victims
  // finally chosen leave the heap, so models trimmed away cost no removal and reinsertion.
  // A stale entry on the frontier is re-keyed in place; that sifts it down its own subtree,
  // which holds no visited entry and no other frontier entry, so the walk stays valid.
  using Step = HeapWalk::Step;
  // The heap's own order (key, then model): models are unique, so the order is strict, and
  // equal keys are visited alike whatever the heap's layout.
  const auto before = [](const Step& a, const Step& b) {
    return a.key < b.key || (a.key == b.key && a.model < b.model);
  };
  const std::size_t from = victims.size();
  const auto size = static_cast<std::uint32_t>(heap.size());
  std::uint64_t freed = 0;
  walk.set_aside.clear();
  const auto visit = [&](std::uint32_t position, auto&& add) {
    const IndexedHeap::Entry& entry = heap.at(position);
    const ModelId model = entry.model;
    const HeapKey key = fresh_key(entry);
    if (entry.key < key) {
      heap.set(model, key);
      add(Step{heap.at(position).key, heap.at(position).model, position});
      return;
    }
    for (std::uint32_t child = IndexedHeap::first_child_of(position),
                       end = std::min(child + IndexedHeap::kArity, size);
         child < end; ++child) {
      add(Step{heap.at(child).key, heap.at(child).model, child});
    }
    if (cache.pinned(model)) {
      walk.set_aside.push_back(model);
      return;
    }
    victims.push_back(model);
    freed += cache.bytes_of(model);
  };
  // The frontier is usually short (three more entries per visit, a few visits): an unsorted
  // fixed array (kept in `walk`), scanned for its lowest entry, is cheapest. Past kScanLimit
  // entries (many pinned models on the way) the walk goes on with a binary heap, so a long walk
  // stays O(visits log visits). Either way the next entry is the unique lowest, so the order is
  // one.
  constexpr std::size_t kScanLimit = HeapWalk::kScanLimit;
  auto& near = walk.near;
  std::size_t count = 0;
  near[count++] = {heap.top().key, heap.top().model, 0};
  const auto add_near = [&](const Step& step) { near[count++] = step; };
  while (freed < needed_bytes && count > 0 && count <= kScanLimit) {
    std::size_t lowest = 0;
    for (std::size_t i = 1; i < count; ++i) {
      if (before(near[i], near[lowest])) lowest = i;
    }
    const std::uint32_t position = near[lowest].position;
    near[lowest] = near[--count];
    visit(position, add_near);
  }
  if (freed < needed_bytes && count > kScanLimit) {
    auto& frontier = walk.frontier;
    const auto later = [&](const Step& a, const Step& b) { return before(b, a); };
    frontier.assign(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(count));
    std::make_heap(frontier.begin(), frontier.end(), later);
    const auto add_far = [&](const Step& step) {
      frontier.push_back(step);
      std::push_heap(frontier.begin(), frontier.end(), later);
    };
    while (freed < needed_bytes && !frontier.empty()) {
      std::pop_heap(frontier.begin(), frontier.end(), later);
      const std::uint32_t position = frontier.back().position;
      frontier.pop_back();
      visit(position, add_far);
    }
  }
  if (trim) keep_largest_needed(cache, needed_bytes, victims, from);
  // A few pinned models on the way stay where they are: in a stable queue they are the models
  // just loaded or being executed, soon unpinned, and taking them out only to put them back
  // would cost two heap operations each. Past a few, they leave until unpinned.
  constexpr std::size_t kPinnedKeptInPlace = 8;
  if (walk.set_aside.size() > kPinnedKeptInPlace) {
    for (ModelId model : walk.set_aside) {
      heap.erase(model);
      cache.notify_when_unpinned(model);
    }
  }
  // The last victim stays for its slot to go to the next load, like the top above; the others
  // leave for good (the driver evicts each one and calls on_evict, which finds it gone).
  if (victims.size() == from) return false;
  for (std::size_t i = from; i + 1 < victims.size(); ++i) heap.erase(victims[i]);
  return true;
}

// What HeapPolicy needs of the policy deriving from it (CRTP, so the per-request path has no
// extra virtual calls), all public:
//   static constexpr bool kKeysOnlyGrow   below
//   static constexpr bool kTrimsVictims   trim the victims largest first (keep_largest_needed)
//   void observe(const RequestEvent&)     update the policy's counters for a request
//   HeapKey key_for(ModelId) const        key of a resident model: the lowest is evicted first
// and optionally void prefetch(ModelId) const, to warm a model's per-model state (a hint).
template <typename P>
concept HeapPolicyHooks = requires(P& policy, const P& view, const RequestEvent& request,
                                   ModelId model) {
  requires std::same_as<decltype(P::kKeysOnlyGrow), const bool>;
  requires std::same_as<decltype(P::kTrimsVictims), const bool>;
  typename std::bool_constant<P::kKeysOnlyGrow>;  // compile-time constants
  typename std::bool_constant<P::kTrimsVictims>;
  policy.observe(request);
  { view.key_for(model) } -> std::same_as<HeapKey>;
};

// The key of a model loaded without a request of its own (a prefetch warm-up's, an operator's),
// for policies whose keys are never negative otherwise: below every requested model, the lowest
// cost per byte first (the reverse of the warm-up's order), so ties do not fall to the heap.
inline HeapKey never_requested_key(double cost, double size) {
  return {-size / std::max(cost, 1e-300), 0};
}

// A policy whose victims are the lowest keys of an indexed heap over resident models; the
// derived policy provides the HeapPolicyHooks above.
// kKeysOnlyGrow: a request can only raise the requested model's key (counts, clocks and
// last-use indices only grow). Then a hit updates counters and marks the model stale (O(1));
// the heap keeps the old key, a lower bound, and a selection re-keys a stale entry before using
// it. Unmarked entries are known fresh, so a selection reads per-model state only for marked ones.
//
// The kept victim: the driver usually loads a model right after evicting the victims. The last
// victim's entry is kept in the heap until on_load hands its slot to the new model, which sifts
// from there: one heap operation instead of an erase plus an insert. Any call that could see
// that entry (a selection, a re-key, a load that did not follow the eviction) first drops it
// (drop_kept_victim), so the heap never holds it for anyone else.
template <typename Derived>
class HeapPolicy : public Policy {
 public:
  using Policy::Policy;
  void on_request(const RequestEvent& request) override {
    static_assert(HeapPolicyHooks<Derived>,
                  "a HeapPolicy<P> must give, public: static constexpr bool kKeysOnlyGrow and "
                  "kTrimsVictims, void observe(const RequestEvent&), HeapKey key_for(ModelId) "
                  "const (core/heap_policy.hpp, HeapPolicyHooks)");
    self().prefetch(request.upcoming);
    self().observe(request);
    if constexpr (Derived::kKeysOnlyGrow) {
      stale_.mark(request.model);
    } else {
      drop_kept_victim();
      if (heap_.contains(request.model)) heap_.set(request.model, self().key_for(request.model));
    }
  }
  void on_load(ModelId model) override {
    if (kept_victim_ != kNoModel && kept_victim_evicted_) {
      heap_.replace(kept_victim_, model, current_key(model));
      kept_victim_ = kNoModel;
      return;
    }
    drop_kept_victim();
    heap_.set(model, current_key(model));
  }
  void on_evict(ModelId model) override {
    if (model == kept_victim_) {
      kept_victim_evicted_ = true;
      return;
    }
    heap_.erase(model);  // a plain removal: the kept victim, if any, stays
  }
  void on_cost_update(ModelId model) override {
    drop_kept_victim();
    if (heap_.contains(model)) heap_.set(model, current_key(model));
  }
  // A model select_from_heap set aside while pinned is unpinned: it returns to the heap.
  void on_unpinned(ModelId model) override {
    drop_kept_victim();
    if (!heap_.contains(model)) heap_.set(model, current_key(model));
  }
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    drop_kept_victim();
    // An entry no request has touched since its key was set holds its true key: only marked
    // (stale) entries need the policy's per-model state.
    const auto fresh_key = [this](const IndexedHeap::Entry& entry) {
      if constexpr (Derived::kKeysOnlyGrow) {
        if (stale_.clear(entry.model)) return self().key_for(entry.model);
      }
      return entry.key;
    };
    if (select_from_heap(heap_, walk_, cache, needed_bytes, victims, Derived::kTrimsVictims,
                         fresh_key)) {
      kept_victim_ = victims.back();
      kept_victim_evicted_ = false;
    }
    // The next victims are most likely the top's children (or the new top): warm their records
    // now, while the driver evicts and loads, so the next eviction does not wait on memory.
    for (std::size_t at = 0; at <= IndexedHeap::kArity && at < heap_.size(); ++at) {
      cache.prefetch(heap_.at(at).model);
    }
  }

 protected:
  // Derived classes with per-model state hide this to warm it (RequestEvent::upcoming, and the
  // likely next victims after a selection).
  void prefetch(ModelId /*model*/) const {}
  // Takes the kept victim's entry out of the heap (no load came to take its slot).
  void drop_kept_victim() {
    if (kept_victim_ == kNoModel) [[likely]]
      return;
    heap_.erase(kept_victim_);
    kept_victim_ = kNoModel;
  }
  IndexedHeap heap_;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  // The key a model has now; its heap entry, set from this, is then fresh.
  HeapKey current_key(ModelId model) {
    if constexpr (Derived::kKeysOnlyGrow) stale_.clear(model);
    return self().key_for(model);
  }
  HeapWalk walk_;
  ModelBits stale_;                   // lazy policies: requested since its heap key was set
  ModelId kept_victim_ = kNoModel;    // the last victim chosen, its entry still in the heap
  bool kept_victim_evicted_ = false;  // ... and evicted: its slot is free for the next load
};

}  // namespace brulee
