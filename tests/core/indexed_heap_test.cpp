// IndexedHeap and HeapKey against a plain reference (a sorted set), on random operation mixes.
#include <gtest/gtest.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "core/indexed_heap.hpp"
#include "core/rng.hpp"

namespace brulee {
namespace {

TEST(HeapKey, OrdersByPrimaryThenSecondaryIncludingNegatives) {
  const double values[] = {-std::numeric_limits<double>::infinity(),
                           -1e300,
                           -2.5,
                           -1.0,
                           -1e-300,
                           0.0,
                           1e-300,
                           1.0,
                           2.5,
                           1e300,
                           std::numeric_limits<double>::infinity()};
  for (double a : values) {
    for (double b : values) {
      EXPECT_EQ(HeapKey(a, 7) < HeapKey(b, 7), a < b) << a << " vs " << b;
      EXPECT_EQ(HeapKey(a, 3) < HeapKey(b, 9), a < b || a == b) << a << " vs " << b;
    }
  }
  EXPECT_TRUE(HeapKey(1.0, 1) < HeapKey(1.0, 2));
  EXPECT_FALSE(HeapKey(1.0, 2) < HeapKey(1.0, 2));
  EXPECT_TRUE(HeapKey(1.0, ~std::uint64_t{0}) < HeapKey(std::nextafter(1.0, 2.0), 0));
  // Zero has one sign here: -0 and +0 tie, and the secondary key decides.
  EXPECT_FALSE(HeapKey(-0.0, 5) < HeapKey(0.0, 5));
  EXPECT_FALSE(HeapKey(0.0, 5) < HeapKey(-0.0, 5));
  EXPECT_TRUE(HeapKey(-0.0, 4) < HeapKey(0.0, 5));
  EXPECT_TRUE(HeapKey() == HeapKey(0.0, 0));
}

TEST(IndexedHeap, MatchesASortedSetOnRandomOperations) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    IndexedHeap heap;
    std::map<ModelId, std::pair<double, std::uint64_t>> keys;        // model -> key
    std::set<std::tuple<double, std::uint64_t, ModelId>> reference;  // ordered entries
    const ModelId models = 1 + static_cast<ModelId>(rng.below(200));
    for (int step = 0; step < 4000; ++step) {
      const ModelId model = static_cast<ModelId>(rng.below(models));
      const double action = rng.uniform();
      if (action < 0.55) {
        // Integer-valued primaries make ties common, so the secondary key is exercised.
        const double primary = static_cast<double>(rng.below(50)) - 20.0;
        const std::uint64_t secondary = rng.below(8);
        if (auto it = keys.find(model); it != keys.end()) {
          reference.erase({it->second.first, it->second.second, model});
        }
        keys[model] = {primary, secondary};
        reference.insert({primary, secondary, model});
        heap.set(model, HeapKey(primary, secondary));
      } else if (action < 0.8) {
        if (auto it = keys.find(model); it != keys.end()) {
          reference.erase({it->second.first, it->second.second, model});
          keys.erase(it);
        }
        heap.erase(model);  // erasing an absent model is a no-op
      } else if (action < 0.9) {
        // Hand a present model's slot to an absent one (what a load right after an eviction does).
        const ModelId incoming = static_cast<ModelId>(rng.below(models));
        if (keys.empty() || keys.count(incoming)) continue;
        auto victim = keys.begin();
        std::advance(victim, static_cast<std::ptrdiff_t>(rng.below(keys.size())));
        const ModelId outgoing = victim->first;
        reference.erase({victim->second.first, victim->second.second, outgoing});
        keys.erase(victim);
        const double primary = static_cast<double>(rng.below(50)) - 20.0;
        const std::uint64_t secondary = rng.below(8);
        keys[incoming] = {primary, secondary};
        reference.insert({primary, secondary, incoming});
        heap.replace(outgoing, incoming, HeapKey(primary, secondary));
      } else if (!reference.empty()) {
        const auto lowest = *reference.begin();
        const IndexedHeap::Entry top = heap.pop();
        // Ties of both keys may pop either model; the key must be the lowest.
        const auto& popped = keys.at(top.model);
        ASSERT_EQ(popped.first, std::get<0>(lowest)) << "seed " << seed << " step " << step;
        ASSERT_EQ(popped.second, std::get<1>(lowest)) << "seed " << seed << " step " << step;
        reference.erase({popped.first, popped.second, top.model});
        keys.erase(top.model);
      }
      ASSERT_EQ(heap.size(), reference.size());
      for (ModelId m = 0; m < models; ++m) ASSERT_EQ(heap.contains(m), keys.count(m) == 1);
      if (!reference.empty()) {
        const auto& top_key = keys.at(heap.top().model);
        ASSERT_EQ(top_key.first, std::get<0>(*reference.begin()));
        ASSERT_EQ(top_key.second, std::get<1>(*reference.begin()));
      }
    }
    // Draining gives every remaining model in key order.
    std::pair<double, std::uint64_t> previous{-1e300, 0};
    while (!heap.empty()) {
      const auto key = keys.at(heap.pop().model);
      ASSERT_LE(previous, key);
      previous = key;
    }
  }
}

}  // namespace
}  // namespace brulee
