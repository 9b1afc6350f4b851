#pragma once
// A binary min-heap of models with O(log n) insert, update and erase by model id.
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"

namespace brulee {

struct HeapKey {
  double primary = 0.0;
  std::uint64_t secondary = 0;  // tie-breaker (e.g. last use index: older first)
  friend bool operator<(const HeapKey& a, const HeapKey& b) {
    return a.primary < b.primary || (a.primary == b.primary && a.secondary < b.secondary);
  }
};

class IndexedHeap {
 public:
  struct Entry {
    HeapKey key;
    ModelId model;
  };

  bool contains(ModelId model) const {
    return model < position_.size() && position_[model] != kAbsent;
  }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  const Entry& top() const { return heap_.front(); }
  const HeapKey& key_of(ModelId model) const { return heap_[position_[model]].key; }

  // Inserts the model, or moves it to its new key if present.
  void set(ModelId model, HeapKey key) {
    if (model >= position_.size()) position_.resize(static_cast<std::size_t>(model) + 1, kAbsent);
    std::uint32_t at = position_[model];
    if (at == kAbsent) {
      at = static_cast<std::uint32_t>(heap_.size());
      heap_.push_back({key, model});
      position_[model] = at;
      sift_up(at);
      return;
    }
    const bool smaller = key < heap_[at].key;
    heap_[at].key = key;
    if (smaller) {
      sift_up(at);
    } else {
      sift_down(at);
    }
  }

  void erase(ModelId model) {
    if (!contains(model)) return;
    const std::uint32_t at = position_[model];
    position_[model] = kAbsent;
    const std::uint32_t last = static_cast<std::uint32_t>(heap_.size() - 1);
    if (at != last) {
      heap_[at] = heap_[last];
      position_[heap_[at].model] = at;
      heap_.pop_back();
      if (at > 0 && heap_[at].key < heap_[(at - 1) / 2].key) {
        sift_up(at);
      } else {
        sift_down(at);
      }
    } else {
      heap_.pop_back();
    }
  }

  Entry pop() {
    Entry top_entry = heap_.front();
    erase(top_entry.model);
    return top_entry;
  }

 private:
  static constexpr std::uint32_t kAbsent = 0xffffffffu;

  void sift_up(std::uint32_t at) {
    Entry moving = heap_[at];
    while (at > 0) {
      const std::uint32_t parent = (at - 1) / 2;
      if (!(moving.key < heap_[parent].key)) break;
      heap_[at] = heap_[parent];
      position_[heap_[at].model] = at;
      at = parent;
    }
    heap_[at] = moving;
    position_[moving.model] = at;
  }

  void sift_down(std::uint32_t at) {
    Entry moving = heap_[at];
    const std::uint32_t count = static_cast<std::uint32_t>(heap_.size());
    for (;;) {
      std::uint32_t child = 2 * at + 1;
      if (child >= count) break;
      if (child + 1 < count && heap_[child + 1].key < heap_[child].key) ++child;
      if (!(heap_[child].key < moving.key)) break;
      heap_[at] = heap_[child];
      position_[heap_[at].model] = at;
      at = child;
    }
    heap_[at] = moving;
    position_[moving.model] = at;
  }

  std::vector<Entry> heap_;
  std::vector<std::uint32_t> position_;
};

}  // namespace brulee
