#pragma once
// Helpers for the randomised policy tests. A random catalog: 5 + below(spread) models of 1-100
// bytes with random load and exec latencies, and a capacity of a half to a fifth of their total
// (at least 100). Pins: models pinned as queued and executing requests pin them, released at
// random.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_state.hpp"
#include "core/model_info.hpp"
#include "core/rng.hpp"

namespace brulee::test_support {

struct RandomCatalog {
  ModelTable models;
  std::uint64_t capacity = 0;
};

inline RandomCatalog random_catalog(Rng& rng, std::uint64_t spread) {
  RandomCatalog out;
  const std::size_t model_count = 5 + rng.below(spread);
  out.models.resize(model_count);
  std::uint64_t total = 0;
  for (std::size_t m = 0; m < model_count; ++m) {
    out.models[m] = {"m" + std::to_string(m), 1 + rng.below(100), 0.01 + rng.uniform() * 5,
                     0.01 + rng.uniform(), 0.0};
    total += out.models[m].size_bytes;
  }
  out.capacity = std::max<std::uint64_t>(100, total / (2 + rng.below(4)));
  return out;
}

class Pins {
 public:
  void pin(CacheState& state, ModelId model) {
    state.pin(model);
    pinned_.push_back(model);
  }
  // Releases one of the pins, chosen by `rng`. Precondition: !empty().
  void release_random(Rng& rng, CacheState& state) {
    const std::size_t at = rng.below(pinned_.size());
    state.unpin(pinned_[at]);
    pinned_.erase(pinned_.begin() + static_cast<std::ptrdiff_t>(at));
  }
  bool empty() const { return pinned_.empty(); }
  std::size_t size() const { return pinned_.size(); }

 private:
  std::vector<ModelId> pinned_;  // one entry per pin (a model may appear more than once)
};

}  // namespace brulee::test_support
