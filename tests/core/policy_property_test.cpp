// Property tests over random streams, for every registered policy: the byte invariant holds,
// pinned models are never evicted, victims cover the need and are minimal, and the same seed
// gives the same result.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model_cache.hpp"
#include "core/next_use.hpp"
#include "core/rng.hpp"
#include "random_catalog.hpp"

using namespace brulee;

namespace {

struct Outcome {
  std::vector<ModelId> evictions;  // every victim, in order
  std::uint64_t hits = 0;
};

// Runs a random stream with random sizes, costs and pins against `policy`, checking the
// properties at every eviction. Returns what happened, for determinism checks.
Outcome run_random(std::string_view policy, std::uint64_t seed) {
  Rng rng(seed);
  const test_support::RandomCatalog catalog = test_support::random_catalog(rng, 40);
  const ModelTable& models = catalog.models;
  const std::size_t model_count = models.size();
  const std::uint64_t capacity = catalog.capacity;
  PolicyOptions options;
  options.seed = seed;
  ModelCache cache(capacity, models, make_policy(policy, models, options));

  const std::size_t length = 2000;
  std::vector<ModelId> stream(length);
  for (auto& model : stream) {
    // Skewed popularity: low ids are hot.
    const double u = rng.uniform();
    model = static_cast<ModelId>(static_cast<double>(model_count) * u * u * u);
  }
  const std::vector<std::uint64_t> next = next_use_indices(stream, model_count);

  Outcome outcome;
  test_support::Pins pins;
  std::vector<ModelId> evicted;
  for (std::size_t i = 0; i < length; ++i) {
    const ModelId model = stream[i];
    // Pin and release models at random, as queued and executing requests do.
    if (rng.uniform() < 0.2) pins.pin(cache.state(), static_cast<ModelId>(rng.below(model_count)));
    if (!pins.empty() && rng.uniform() < 0.2) pins.release_random(rng, cache.state());
    if (cache.record({model, static_cast<double>(i), i, next[i], false})) {
      ++outcome.hits;
      continue;
    }
    const std::uint64_t bytes = models[model].size_bytes;
    const std::uint64_t needed =
        bytes > cache.state().free_bytes() ? bytes - cache.state().free_bytes() : 0;
    evicted.clear();
    if (needed > cache.state().evictable_bytes()) {
      EXPECT_THROW(cache.admit(model, evicted), CacheError);
      EXPECT_TRUE(evicted.empty());
      continue;
    }
    std::vector<std::uint32_t> pins_before(model_count);
    for (std::size_t m = 0; m < model_count; ++m) {
      pins_before[m] = cache.state().pins(static_cast<ModelId>(m));
    }
    std::vector<std::uint64_t> sizes;
    // Sizes of the victims must be read before they leave.
    const CacheState before = cache.state();
    cache.admit(model, evicted);
    std::uint64_t freed = 0;
    for (ModelId victim : evicted) {
      EXPECT_EQ(pins_before[victim], 0u) << policy << " evicted a pinned model";
      EXPECT_TRUE(before.resident(victim));
      sizes.push_back(before.bytes_of(victim));
      freed += before.bytes_of(victim);
    }
    EXPECT_GE(freed, needed) << policy;
    if (!evicted.empty()) {
      // Minimal: without its last victim the set would not cover the need; a policy that trims
      // (CremeBrulee's step) makes it minimal in the strict sense (no single victim can be spared).
      EXPECT_LT(freed - sizes.back(), needed) << policy << " evicted more than needed";
      if (find_policy(policy).trims) {
        EXPECT_LT(freed - *std::min_element(sizes.begin(), sizes.end()), needed) << policy;
      }
      std::vector<ModelId> sorted = evicted;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
    }
    EXPECT_LE(cache.state().used_bytes(), cache.state().capacity_bytes());
    EXPECT_TRUE(cache.state().resident(model));
    outcome.evictions.insert(outcome.evictions.end(), evicted.begin(), evicted.end());
  }
  return outcome;
}

}  // namespace

class PolicyProperties : public ::testing::TestWithParam<std::string> {};

TEST_P(PolicyProperties, HoldOnRandomStreams) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    run_random(GetParam(), seed);
    if (HasFailure()) return;
  }
}

TEST_P(PolicyProperties, SameSeedSameResult) {
  const Outcome first = run_random(GetParam(), 99);
  const Outcome second = run_random(GetParam(), 99);
  EXPECT_EQ(first.evictions, second.evictions);
  EXPECT_EQ(first.hits, second.hits);
  EXPECT_FALSE(first.evictions.empty());
}

std::vector<std::string> all_policy_names() {
  std::vector<std::string> names;
  for (const auto& factory : policy_factories()) names.emplace_back(factory.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Every, PolicyProperties, ::testing::ValuesIn(all_policy_names()),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(PolicyRegistry, NamesAreUniqueAndResolve) {
  std::vector<std::string> names = all_policy_names();
  EXPECT_GE(names.size(), 12u);
  ModelTable models;
  for (const auto& name : names) EXPECT_EQ(make_policy(name, models)->name(), name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}
