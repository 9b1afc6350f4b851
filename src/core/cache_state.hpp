#pragma once
// Byte accounting of one model cache (one worker's memory): which models are resident, how many
// bytes each holds, and how many requests pin each one. Ordering is the policy's business; this
// class only counts. Invariant: used_bytes() <= capacity_bytes(), always.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "core/model_info.hpp"

namespace brulee {

// Told when the last pin of a resident model it asked about is released (it may be evicted
// again); see CacheState::notify_when_unpinned.
class UnpinListener {
 public:
  virtual void on_unpinned(ModelId model) = 0;

 protected:
  ~UnpinListener() = default;
};

class CacheState {
 public:
  explicit CacheState(std::uint64_t capacity_bytes, std::size_t model_count = 0);

  std::uint64_t capacity_bytes() const { return capacity_bytes_; }
  std::uint64_t used_bytes() const { return used_bytes_; }
  std::uint64_t free_bytes() const { return capacity_bytes_ - used_bytes_; }
  // Bytes held by resident models that nothing pins: the most an eviction could free.
  std::uint64_t evictable_bytes() const { return evictable_bytes_; }

  bool resident(ModelId model) const {
    return model < records_.size() && records_[model].position != kAbsent;
  }
  std::uint64_t bytes_of(ModelId model) const {
    return resident(model) ? records_[model].bytes : 0;
  }
  std::uint32_t pins(ModelId model) const {
    return model < records_.size() ? records_[model].pins : 0;
  }
  bool pinned(ModelId model) const { return pins(model) > 0; }
  void prefetch(ModelId model) const {
    if (model < records_.size()) __builtin_prefetch(&records_[model]);
  }

  // Resident models, in no particular order (dense; O(1) insert and remove).
  std::span<const ModelId> resident_models() const { return resident_; }
  std::size_t resident_count() const { return resident_.size(); }
  std::size_t model_count() const { return records_.size(); }

  // Adds a model holding `bytes`. Throws CacheError if it is already resident or if the bytes
  // do not fit in free_bytes() (the caller must evict first).
  // Inline, like remove: the simulator does one or the other on every miss.
  void insert(ModelId model, std::uint64_t bytes) {
    if (model >= records_.size() || records_[model].position != kAbsent || bytes > free_bytes())
        [[unlikely]] {
      return insert_slow(model, bytes);
    }
    place(model, bytes);
  }
  // Removes a resident, unpinned model. Throws CacheError otherwise.
  void remove(ModelId model) {
    if (!resident(model) || records_[model].pins > 0) [[unlikely]]
      fail_remove(model);
    Record& record = records_[model];
    const ModelId last = resident_.back();
    resident_[record.position] = last;
    records_[last].position = record.position;
    resident_.pop_back();
    used_bytes_ -= record.bytes;
    evictable_bytes_ -= record.bytes;
    record.position = kAbsent;
    record.bytes = 0;
  }
  // Changes the bytes charged to a resident model (the server learns real sizes after a load).
  // Throws CacheError if the growth does not fit.
  void resize(ModelId model, std::uint64_t bytes);

  // A pin marks a request executing or queued for the model; pins may be taken before the model
  // is resident (a request waiting on its load).
  // Inline: the simulator pins and unpins once per request.
  void pin(ModelId model) {
    if (model >= records_.size()) [[unlikely]]
      return pin_slow(model);
    Record& record = records_[model];
    if (record.pins++ == 0 && record.position != kAbsent) evictable_bytes_ -= record.bytes;
  }
  void unpin(ModelId model) {  // throws CacheError if the model has no pin
    if (model >= records_.size() || records_[model].pins == 0) [[unlikely]]
      fail_unpin(model);
    Record& record = records_[model];
    if (--record.pins == 0 && record.position != kAbsent) {
      evictable_bytes_ += record.bytes;
      if (model < notice_.size() && notice_[model]) [[unlikely]] {
        notice_[model] = 0;
        if (unpin_listener_) unpin_listener_->on_unpinned(model);
      }
    }
  }
  // The listener hears of `model` the next time its last pin is released (once). Const: this
  // is the listener's bookkeeping, not the cache's state (policies see the state as const).
  void notify_when_unpinned(ModelId model) const {
    if (model >= notice_.size()) notice_.resize(std::max<std::size_t>(records_.size(), model + 1));
    notice_[model] = 1;
  }

  void set_capacity(std::uint64_t capacity_bytes);  // throws if below used_bytes()

  // ModelCache registers its policy here, so whoever releases pins, the policy hears of it.
  void set_unpin_listener(UnpinListener* listener) { unpin_listener_ = listener; }

 private:
  static constexpr std::uint32_t kAbsent = 0xffffffffu;
  struct Record {  // one per model id, resident or not
    std::uint64_t bytes = 0;
    std::uint32_t position = kAbsent;  // index in resident_
    std::uint32_t pins = 0;
  };
  void ensure(ModelId model);
  void place(ModelId model, std::uint64_t bytes) {  // `model` fits and is not resident
    Record& record = records_[model];
    record.bytes = bytes;
    record.position = static_cast<std::uint32_t>(resident_.size());
    resident_.push_back(model);
    used_bytes_ += bytes;
    if (record.pins == 0) evictable_bytes_ += bytes;
  }
  void insert_slow(ModelId model, std::uint64_t bytes);  // grows the records, or throws
  [[noreturn]] void fail_remove(ModelId model) const;
  void pin_slow(ModelId model);  // grows the records (or throws on kNoModel), then pins
  [[noreturn]] void fail_unpin(ModelId model) const;

  std::uint64_t capacity_bytes_;
  std::uint64_t used_bytes_ = 0;
  std::uint64_t evictable_bytes_ = 0;
  std::vector<Record> records_;
  std::vector<ModelId> resident_;
  UnpinListener* unpin_listener_ = nullptr;
  mutable std::vector<std::uint8_t> notice_;  // 1: tell the listener at the next last unpin
};

}  // namespace brulee
