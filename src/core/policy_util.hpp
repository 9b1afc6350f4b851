#pragma once
// Building blocks shared by the policy files: a heap-ordered policy base, a scan-at-eviction
// helper for oracle policies whose order changes with time, and CremeBrulee's trimming step.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/indexed_heap.hpp"
#include "core/policy.hpp"

namespace brulee {

// From `victims[from..]` (in eviction order) keep only the ones needed to free `needed_bytes`
// beyond what victims[0..from) free, taking the largest first; the rest stay resident.
// This is the trimming step of the CremeBrulee artifact: no model is evicted needlessly.
void keep_largest_needed(const CacheState& cache, std::uint64_t needed_bytes,
                         std::vector<ModelId>& victims, std::size_t from);

// Appends unpinned resident models in ascending key order until their bytes cover the need.
// Scans every resident model: O(r log r). For oracle policies whose order depends on "now".
template <typename KeyFn>
void select_lowest_scan(const CacheState& cache, std::uint64_t needed_bytes,
                        std::vector<ModelId>& victims, KeyFn&& key_fn);

// A policy whose victims are the lowest keys of an indexed heap over resident models.
// Subclasses say how a model's key is computed and when counters change.
class HeapPolicy : public Policy {
 public:
  using Policy::Policy;
  void on_request(const RequestEvent& request) override;
  void on_load(ModelId model) override;
  void on_evict(ModelId model) override;
  void on_cost_update(ModelId model) override;
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override;

 protected:
  // Update counters for a request (called before the key is recomputed).
  virtual void observe(const RequestEvent& request) = 0;
  // Key of a resident model: the lowest is evicted first.
  virtual HeapKey key_for(ModelId model) const = 0;
  // Whether a hit moves the model's key (false for FIFO-like orders).
  virtual bool rekey_on_request() const { return true; }
  // Trim the victim set, largest first, after selection (CremeBrulee).
  virtual bool trims_victims() const { return false; }

  IndexedHeap heap_;

 private:
  std::vector<IndexedHeap::Entry> popped_;
};

// A doubly linked list of models over dense arrays: O(1) push, unlink and move, no allocation
// per operation. Head = most recent; tail = oldest.
class ModelList {
 public:
  bool contains(ModelId model) const {
    return model < links_.size() && links_[model].linked;
  }
  void push_front(ModelId model);
  void unlink(ModelId model);
  void move_to_front(ModelId model) {
    unlink(model);
    push_front(model);
  }
  ModelId front() const { return head_; }
  ModelId back() const { return tail_; }
  ModelId prev(ModelId model) const { return links_[model].prev; }  // toward the head
  ModelId next(ModelId model) const { return links_[model].next; }  // toward the tail

 private:
  struct Link {
    ModelId prev = kNoModel;
    ModelId next = kNoModel;
    bool linked = false;
  };
  std::vector<Link> links_;
  ModelId head_ = kNoModel;
  ModelId tail_ = kNoModel;
};

// Evicts from the tail of a list: LRU (a hit moves the model to the head) or FIFO (it does not).
class ListPolicy : public Policy {
 public:
  ListPolicy(const ModelTable& models, const PolicyOptions& options, bool move_on_hit)
      : Policy(models, options), move_on_hit_(move_on_hit) {}
  void on_request(const RequestEvent& request) override {
    if (move_on_hit_ && list_.contains(request.model)) list_.move_to_front(request.model);
  }
  void on_load(ModelId model) override { list_.push_front(model); }
  void on_evict(ModelId model) override { list_.unlink(model); }
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override;

 private:
  ModelList list_;
  bool move_on_hit_;
};

// Per-model counters grown on demand (models may be added while running).
template <typename T>
class PerModel {
 public:
  T& operator[](ModelId model) {
    if (model >= values_.size()) values_.resize(static_cast<std::size_t>(model) + 1, T{});
    return values_[model];
  }
  T get(ModelId model) const { return model < values_.size() ? values_[model] : T{}; }

 private:
  std::vector<T> values_;
};

// ---- template definitions ----

template <typename KeyFn>
void select_lowest_scan(const CacheState& cache, std::uint64_t needed_bytes,
                        std::vector<ModelId>& victims, KeyFn&& key_fn) {
  std::vector<IndexedHeap::Entry> candidates;
  candidates.reserve(cache.resident_count());
  for (ModelId model : cache.resident_models()) {
    if (!cache.pinned(model)) candidates.push_back({key_fn(model), model});
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return a.key < b.key || (!(b.key < a.key) && a.model < b.model);
  });
  std::uint64_t freed = 0;
  for (const auto& entry : candidates) {
    if (freed >= needed_bytes) break;
    victims.push_back(entry.model);
    freed += cache.bytes_of(entry.model);
  }
}

}  // namespace brulee
