#pragma once
// A random catalog for the policy tests: 5 + below(spread) models of 1-100 bytes with random
// load and exec latencies, and a capacity of a half to a fifth of their total (at least 100).
#include <algorithm>
#include <cstdint>
#include <string>

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

}  // namespace brulee::test_support
