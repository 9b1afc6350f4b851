#pragma once
// A doubly linked list of models over dense arrays (the order under LRU, FIFO, SIEVE and
// S3-FIFO), and ListPolicy, the base of the policies that evict from its tail.
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"
#include "core/policy.hpp"

namespace brulee {

// A doubly linked list of models over dense arrays: O(1) push, unlink and move, no allocation
// per operation. Head = most recent; tail = oldest.
class ModelList {
 public:
  bool contains(ModelId model) const { return model < slots_ && links_[model].linked; }
  // Inline: LRU moves a model on every hit and links one on every load.
  void push_front(ModelId model) {  // no-op if linked
    if (model >= slots_) [[unlikely]]
      grow(model);
    Link& link = links_[model];
    if (link.linked) return;
    link = {kNoModel, head_, true};
    if (head_ != kNoModel) links_[head_].prev = model;
    head_ = model;
    if (tail_ == kNoModel) tail_ = model;
  }
  void unlink(ModelId model) {  // no-op if not linked
    if (!contains(model)) return;
    detach(links_[model]);
    links_[model] = {};
  }
  void move_to_front(ModelId model) {  // no-op if not linked
    if (model == head_ || !contains(model)) return;
    Link& link = links_[model];
    detach(link);  // not the head, so the list keeps a head
    link.prev = kNoModel;
    link.next = head_;
    links_[head_].prev = model;
    head_ = model;
  }
  ModelId front() const { return head_; }
  ModelId back() const { return tail_; }
  ModelId prev(ModelId model) const { return links_[model].prev; }  // toward the head
  ModelId next(ModelId model) const { return links_[model].next; }  // toward the tail
  void prefetch(ModelId model) const {
    if (model < slots_) __builtin_prefetch(&links_[model]);
  }

 private:
  struct Link {
    ModelId prev = kNoModel;
    ModelId next = kNoModel;
    bool linked = false;
  };
  // Joins a linked model's neighbours (or moves the ends); leaves its own fields as they were.
  void detach(const Link& link) {
    if (link.prev != kNoModel) {
      links_[link.prev].next = link.next;
    } else {
      head_ = link.next;
    }
    if (link.next != kNoModel) {
      links_[link.next].prev = link.prev;
    } else {
      tail_ = link.prev;
    }
  }
  void grow(ModelId model);  // room for `model` (throws CacheError on kNoModel)
  std::vector<Link> links_;
  // links_.size(), kept here: the size of a vector of 12-byte links is a division, and the hot
  // operations check it on every request.
  std::size_t slots_ = 0;
  ModelId head_ = kNoModel;
  ModelId tail_ = kNoModel;
};

// Evicts from the tail of a list: LRU (a hit moves the model to the head) or FIFO (it does not).
class ListPolicy : public Policy {
 public:
  ListPolicy(const ModelTable& models, const PolicyOptions& options, bool move_on_hit)
      : Policy(models, options), move_on_hit_(move_on_hit) {}
  // Final: a driver that knows a policy is a ListPolicy calls these directly (ModelCache's
  // admit<ListPolicy>), and the list operations inline.
  void on_request(const RequestEvent& request) final {
    list_.prefetch(request.upcoming);
    if (move_on_hit_) list_.move_to_front(request.model);
  }
  void on_load(ModelId model) final { list_.push_front(model); }
  void on_evict(ModelId model) final { list_.unlink(model); }
  // Inline: ModelCache::admit<ListPolicy> calls it on every eviction.
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) final {
    std::uint64_t freed = 0;
    for (ModelId model = list_.back(); model != kNoModel && freed < needed_bytes;
         model = list_.prev(model)) {
      if (cache.pinned(model)) continue;
      victims.push_back(model);
      freed += cache.bytes_of(model);
    }
    // Warm the records of the next likely victims (the models just before the tail).
    ModelId next = victims.empty() ? list_.back() : list_.prev(victims.back());
    for (int k = 0; k < 2 && next != kNoModel; ++k, next = list_.prev(next)) {
      list_.prefetch(next);
      cache.prefetch(next);
    }
  }

 private:
  ModelList list_;
  bool move_on_hit_;
};

}  // namespace brulee
