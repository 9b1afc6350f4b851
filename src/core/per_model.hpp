#pragma once
// Per-model records for policies: a value per model id, and a bit per model id, each grown on
// demand (models may be added while running; an untouched model reads as zero).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/model_info.hpp"

namespace brulee {

// Per-model counters grown on demand (models may be added while running).
template <typename T>
class PerModel {
 public:
  T& operator[](ModelId model) {
    if (model >= values_.size()) [[unlikely]]
      grow(model);
    return values_[model];
  }
  // A model never touched reads as T{}. A reference, not a copy: callers read a field or two.
  const T& get(ModelId model) const { return model < values_.size() ? values_[model] : kNone; }
  void prefetch(ModelId model) const {
    if (model < values_.size()) __builtin_prefetch(&values_[model]);
  }

 private:
  // Out of line, so the hot callers (a policy's per-request update) stay small.
  [[gnu::noinline]] void grow(ModelId model) {
    values_.resize(static_cast<std::size_t>(model) + 1, T{});
  }
  static inline const T kNone{};
  std::vector<T> values_;
};

// One bit per model, grown on demand (a model's bit is 0 until marked).
class ModelBits {
 public:
  void mark(ModelId model) {
    const std::size_t word = model >> 6;
    if (word >= words_.size()) [[unlikely]]
      grow(word);
    words_[word] |= std::uint64_t{1} << (model & 63);
  }
  // Clears the model's bit; returns whether it was set.
  bool clear(ModelId model) {
    const std::size_t word = model >> 6;
    if (word >= words_.size()) return false;
    const std::uint64_t bit = std::uint64_t{1} << (model & 63);
    const bool was = (words_[word] & bit) != 0;
    words_[word] &= ~bit;
    return was;
  }

 private:
  [[gnu::noinline]] void grow(std::size_t word) { words_.resize(word + 1, 0); }
  std::vector<std::uint64_t> words_;
};

}  // namespace brulee
