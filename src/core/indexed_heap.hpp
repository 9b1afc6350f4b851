#pragma once
// A 4-ary min-heap of models with O(log n) insert, update and erase by model id.
#include <bit>
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"

namespace brulee {

// A sort key: `primary` first, then `secondary` (a tie-breaker, e.g. the last use index: older
// first). Stored as one 128-bit unsigned number whose integer order is that order, so a
// comparison is a branch-free integer compare (heaps compare keys a lot). The double is mapped
// to bits that sort like the number (negatives included; -0 == +0; a NaN sorts above +infinity
// or below -infinity, by its sign bit).
class HeapKey {
 public:
  HeapKey() = default;
  HeapKey(double primary, std::uint64_t secondary)
      : high_(ordered_bits(primary)), low_(secondary) {}
  friend bool operator<(const HeapKey& a, const HeapKey& b) { return a.packed() < b.packed(); }
  friend bool operator==(const HeapKey& a, const HeapKey& b) = default;

 private:
  __extension__ using Packed = unsigned __int128;
  Packed packed() const { return (static_cast<Packed>(high_) << 64) | low_; }
  static std::uint64_t ordered_bits(double value) {
    const auto bits = std::bit_cast<std::uint64_t>(value + 0.0);  // -0 becomes +0
    return (bits >> 63) ? ~bits : bits | (std::uint64_t{1} << 63);
  }
  std::uint64_t high_ = std::uint64_t{1} << 63;  // 0.0
  std::uint64_t low_ = 0;
};

class IndexedHeap {
 public:
  struct Entry {
    HeapKey key;
    ModelId model;
  };

  // The heap's order: by key, then by model (equal keys, e.g. models never requested, whose
  // last-use tie-breakers are all 0, are ordered the same whatever the heap's history: the
  // simulator and the server, which update the heap in different sequences, pick alike).
  static bool before(const Entry& a, const Entry& b) {
    // Branch-free: heaps compare a lot, and the outcome is hard to predict.
    return static_cast<bool>(
        static_cast<int>(a.key < b.key) |
        (static_cast<int>(a.key == b.key) & static_cast<int>(a.model < b.model)));
  }

  bool contains(ModelId model) const {
    return model < position_.size() && position_[model] != kAbsent;
  }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  const Entry& top() const { return heap_.front(); }
  const Entry& at(std::size_t position) const { return heap_[position]; }  // heap order
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
    const bool smaller = key < heap_[at].key;  // the same model: the key decides
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
    const Entry last = heap_.back();
    heap_.pop_back();
    if (at == heap_.size()) return;  // it was the last entry
    if (at > 0 && before(last, heap_[parent_of(at)])) {
      heap_[at] = last;
      sift_up(at);
    } else {
      // The hole goes down to a leaf along the smallest children, then `last` rises from there:
      // it usually belongs near the bottom, so this saves comparing it on the way down.
      std::uint32_t hole = at;
      const auto count = static_cast<std::uint32_t>(heap_.size());
      for (std::uint32_t first = first_child_of(hole); first < count;
           first = first_child_of(hole)) {
        const std::uint32_t child = smallest_child(first, count);
        heap_[hole] = heap_[child];
        position_[heap_[hole].model] = hole;
        hole = child;
      }
      heap_[hole] = last;
      sift_up(hole);
    }
  }

  // Gives `old_model`'s slot to `new_model` (not in the heap) with `key`, then restores order.
  void replace(ModelId old_model, ModelId new_model, HeapKey key) {
    if (new_model >= position_.size())
      position_.resize(static_cast<std::size_t>(new_model) + 1, kAbsent);
    const std::uint32_t at = position_[old_model];
    position_[old_model] = kAbsent;
    heap_[at] = {key, new_model};
    position_[new_model] = at;
    if (at > 0 && before(heap_[at], heap_[parent_of(at)])) {
      sift_up(at);
    } else {
      sift_down(at);
    }
  }

  Entry pop() {
    Entry top_entry = heap_.front();
    erase(top_entry.model);
    return top_entry;
  }

  // A 4-ary heap: half the depth of a binary one (fewer moves and position updates per
  // operation); the four children of a node are adjacent in memory. Public for walks over the
  // heap's layout (children of position p: first_child_of(p) .. + kArity - 1, below size()).
  static constexpr std::uint32_t kArity = 4;
  static std::uint32_t first_child_of(std::uint32_t at) { return kArity * at + 1; }

 private:
  static constexpr std::uint32_t kAbsent = 0xffffffffu;
  static std::uint32_t parent_of(std::uint32_t at) { return (at - 1) / kArity; }
  std::uint32_t smallest_child(std::uint32_t first, std::uint32_t count) const {
    const std::uint32_t end = first + kArity < count ? first + kArity : count;
    std::uint32_t best = first;
    for (std::uint32_t child = first + 1; child < end; ++child) {
      if (before(heap_[child], heap_[best])) best = child;
    }
    return best;
  }

  void sift_up(std::uint32_t at) {
    Entry moving = heap_[at];
    while (at > 0) {
      const std::uint32_t parent = parent_of(at);
      if (!before(moving, heap_[parent])) break;
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
      const std::uint32_t first = first_child_of(at);
      if (first >= count) break;
      const std::uint32_t child = smallest_child(first, count);
      if (!before(heap_[child], moving)) break;
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
