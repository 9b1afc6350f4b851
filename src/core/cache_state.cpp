#include "core/cache_state.hpp"

#include <string>

#include "core/error.hpp"

namespace brulee {

CacheState::CacheState(std::uint64_t capacity_bytes, std::size_t model_count)
    : capacity_bytes_(capacity_bytes), records_(model_count) {}

void CacheState::ensure(ModelId model) {
  if (model == kNoModel) throw CacheError("invalid model id");
  if (model >= records_.size()) records_.resize(static_cast<std::size_t>(model) + 1);
}

void CacheState::insert_slow(ModelId model, std::uint64_t bytes) {
  ensure(model);
  if (records_[model].position != kAbsent) {
    throw CacheError("model " + std::to_string(model) + " is already resident");
  }
  if (bytes > free_bytes()) {
    throw CacheError("model " + std::to_string(model) + " needs " + std::to_string(bytes) +
                     " bytes but only " + std::to_string(free_bytes()) + " are free");
  }
  place(model, bytes);
}

void CacheState::fail_remove(ModelId model) const {
  if (!resident(model)) throw CacheError("model " + std::to_string(model) + " is not resident");
  throw CacheError("model " + std::to_string(model) + " is pinned");
}

void CacheState::resize(ModelId model, std::uint64_t bytes) {
  if (!resident(model)) throw CacheError("model " + std::to_string(model) + " is not resident");
  Record& record = records_[model];
  if (bytes > record.bytes && bytes - record.bytes > free_bytes()) {
    throw CacheError("model " + std::to_string(model) + " cannot grow to " + std::to_string(bytes) +
                     " bytes: only " + std::to_string(free_bytes()) + " are free");
  }
  used_bytes_ = used_bytes_ - record.bytes + bytes;
  if (record.pins == 0) evictable_bytes_ = evictable_bytes_ - record.bytes + bytes;
  record.bytes = bytes;
}

void CacheState::pin_slow(ModelId model) {
  ensure(model);
  pin(model);
}

void CacheState::fail_unpin(ModelId model) const {
  throw CacheError("model " + std::to_string(model) + " has no pin to release");
}

void CacheState::set_capacity(std::uint64_t capacity_bytes) {
  if (capacity_bytes < used_bytes_) {
    throw CacheError("capacity " + std::to_string(capacity_bytes) + " is below the " +
                     std::to_string(used_bytes_) + " bytes in use");
  }
  capacity_bytes_ = capacity_bytes;
}

}  // namespace brulee
