// Hand-computed examples: tiny caches where the right victim is known, for every policy.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model_cache.hpp"
#include "core/next_use.hpp"

using namespace brulee;

namespace {

struct Spec {
  std::string name;
  std::uint64_t size_bytes;
  double load_latency_s;
  double exec_latency_s = 1.0;
};

// Replays `trace` (model names) through a cache and records every eviction as "victim@index".
class Replay {
 public:
  Replay(const std::string& policy, std::uint64_t capacity, const std::vector<Spec>& specs,
         std::uint64_t seed = 0) {
    for (const auto& spec : specs) {
      ids_[spec.name] = static_cast<ModelId>(models_.size());
      models_.push_back({spec.name, spec.size_bytes, spec.load_latency_s, spec.exec_latency_s, 0});
    }
    PolicyOptions options;
    options.seed = seed;
    cache_ = std::make_unique<ModelCache>(capacity, models_, make_policy(policy, models_, options));
  }

  // Runs the whole trace; returns the evicted model names in order, each as "name@index".
  std::vector<std::string> run(const std::vector<std::string>& trace) {
    std::vector<ModelId> stream;
    for (const auto& name : trace) stream.push_back(ids_.at(name));
    const std::vector<std::uint64_t> next = next_use_indices(stream, models_.size());
    std::vector<std::string> log;
    std::vector<ModelId> evicted;
    for (std::size_t i = 0; i < stream.size(); ++i) {
      if (cache_->record({stream[i], static_cast<double>(i), i, next[i], false})) continue;
      evicted.clear();
      cache_->admit(stream[i], evicted);
      for (ModelId victim : evicted) log.push_back(models_[victim].name + "@" + std::to_string(i));
    }
    return log;
  }

  bool resident(const std::string& name) const { return cache_->state().resident(ids_.at(name)); }
  ModelCache& cache() { return *cache_; }
  ModelId id(const std::string& name) const { return ids_.at(name); }

 private:
  ModelTable models_;
  std::map<std::string, ModelId> ids_;
  std::unique_ptr<ModelCache> cache_;
};

using Log = std::vector<std::string>;
const std::vector<Spec> kUnitModels = {
    {"A", 1, 1}, {"B", 1, 1}, {"C", 1, 1}, {"D", 1, 1}, {"E", 1, 1}};

}  // namespace

TEST(PolicyExamples, LruEvictsLeastRecentlyUsed) {
  Replay replay("lru", 3, kUnitModels);
  EXPECT_EQ(replay.run({"A", "B", "C", "A", "D", "B", "E"}), (Log{"B@4", "C@5", "A@6"}));
}

TEST(PolicyExamples, FifoIgnoresHits) {
  Replay replay("fifo", 3, kUnitModels);
  EXPECT_EQ(replay.run({"A", "B", "C", "A", "D", "E"}), (Log{"A@4", "B@5"}));
}

TEST(PolicyExamples, LfuEvictsFewestRequestsThenOldest) {
  Replay replay("lfu", 3, kUnitModels);
  // Counts at D: A=2, B=1, C=2 -> B. Counts at E: A=2, C=2, D=1 -> D.
  EXPECT_EQ(replay.run({"A", "A", "B", "C", "C", "D", "E"}), (Log{"B@5", "D@6"}));
}

TEST(PolicyExamples, LfuKeepsGlobalCounts) {
  Replay replay("lfu", 2, kUnitModels);
  // Counts are requests so far, kept while a model is out of memory. At C: A (1) < B (2).
  // At A again (its count is now 2): C (1) goes. At D: A and B both have 2; B is older.
  EXPECT_EQ(replay.run({"B", "B", "A", "C", "A", "D"}), (Log{"A@3", "C@4", "B@5"}));
}

TEST(PolicyExamples, LoadtimeEvictsCheapestReload) {
  Replay replay("loadtime", 3, {{"A", 1, 5}, {"B", 1, 1}, {"C", 1, 3}, {"D", 1, 2}});
  EXPECT_EQ(replay.run({"A", "B", "C", "D", "B"}), (Log{"B@3", "D@4"}));
}

TEST(PolicyExamples, SizeEvictsLargestFirst) {
  Replay replay("size", 6, {{"A", 2, 1}, {"B", 3, 1}, {"C", 1, 1}, {"D", 1, 1}});
  EXPECT_EQ(replay.run({"A", "B", "C", "D"}), (Log{"B@3"}));
}

TEST(PolicyExamples, RandomIsSeededAndOnlyPicksEvictable) {
  const std::vector<std::string> trace = {"A", "B", "C", "D", "E", "A", "C", "B", "E", "D", "A"};
  Replay first("random", 3, kUnitModels, 42);
  Replay second("random", 3, kUnitModels, 42);
  const Log log = first.run(trace);
  EXPECT_EQ(log, second.run(trace));
  EXPECT_FALSE(log.empty());
  // With two of three models pinned, the third is the only possible victim.
  Replay pinned("random", 3, kUnitModels, 7);
  pinned.run({"A", "B", "C"});
  pinned.cache().state().pin(pinned.id("A"));
  pinned.cache().state().pin(pinned.id("C"));
  std::vector<ModelId> evicted;
  pinned.cache().record({pinned.id("D"), 3, 3});
  pinned.cache().admit(pinned.id("D"), evicted);
  EXPECT_EQ(evicted, (std::vector<ModelId>{pinned.id("B")}));
}

TEST(PolicyExamples, BeladyEvictsFurthestNextUse) {
  Replay replay("belady", 3, kUnitModels);
  // At D (3): next uses A=4, B=5, C=never -> C. No other miss.
  EXPECT_EQ(replay.run({"A", "B", "C", "D", "A", "B"}), (Log{"C@3"}));
}

TEST(PolicyExamples, BeladySizeWeighsDistanceBySize) {
  const std::vector<Spec> specs = {{"A", 4, 1}, {"B", 1, 1}, {"C", 1, 1}, {"D", 1, 1}};
  const std::vector<std::string> trace = {"A", "B", "C", "D", "C", "D", "A", "B"};
  // At D (3): A next at 6 (distance 3, x4 = 12), B at 7 (4), C at 4 (1).
  Replay sized("belady-size", 6, specs);
  // At A (6): B next at 7 (1 x 1); C and D never again: the lower id (C) goes first.
  EXPECT_EQ(sized.run(trace), (Log{"A@3", "C@6"}));
  Replay plain("belady", 6, specs);
  EXPECT_EQ(plain.run(trace)[0], "B@3");  // plain Belady takes the furthest: B
}

TEST(PolicyExamples, CremeBruleeEvictsLowestUtility) {
  // U = count * load / size: A = 10/100, B = 1/100, C = 1/50 -> B.
  Replay replay("cremebrulee", 250, {{"A", 100, 10}, {"B", 100, 1}, {"C", 50, 1}, {"D", 100, 1}});
  EXPECT_EQ(replay.run({"A", "B", "C", "D"}), (Log{"B@3"}));
}

TEST(PolicyExamples, CremeBruleeTrimsVictimsLargestFirst) {
  // U: A = 0.1, B = 0.01, C = 0.002. D needs 100 bytes: lowest first takes C (50) then B (100);
  // trimming keeps the largest needed, B alone, so C stays resident.
  Replay replay("cremebrulee", 250, {{"A", 100, 10}, {"B", 100, 1}, {"C", 50, 0.1}, {"D", 100, 1}});
  EXPECT_EQ(replay.run({"A", "B", "C", "D"}), (Log{"B@3"}));
  EXPECT_TRUE(replay.resident("C"));
  EXPECT_EQ(replay.cache().state().used_bytes(), 250u);
}

TEST(PolicyExamples, CremeBruleeUsesPopularity) {
  // Same size and cost: the model requested less often goes, however recent.
  Replay replay("cremebrulee", 2, {{"A", 1, 1}, {"B", 1, 1}, {"C", 1, 1}});
  EXPECT_EQ(replay.run({"A", "A", "A", "B", "C"}), (Log{"B@4"}));
}

TEST(PolicyExamples, CremeBruleeCostModes) {
  // A: load 10, exec 10 (increase = 1). B: load 2, exec 0.1 (increase = 20).
  const std::vector<Spec> specs = {{"A", 1, 10, 10}, {"B", 1, 2, 0.1}, {"C", 1, 1, 1}};
  Replay direct("cremebrulee", 2, specs);
  EXPECT_EQ(direct.run({"A", "B", "C"}), (Log{"B@2"}));
  Replay increase("cremebrulee-increase", 2, specs);
  EXPECT_EQ(increase.run({"A", "B", "C"}), (Log{"A@2"}));
}

TEST(PolicyExamples, CremeBruleeHearsOfCostChangesAndOfModelsAddedLater) {
  ModelTable models = {{"A", 1, 1.0, 1.0, 0}, {"B", 1, 1.0, 1.0, 0}, {"C", 1, 1.0, 1.0, 0}};
  ModelCache cache(2, models, make_policy("cremebrulee", models));
  std::vector<ModelId> evicted;
  std::uint64_t index = 0;
  const auto request = [&](ModelId model) {
    evicted.clear();
    if (!cache.record({model, static_cast<double>(index), index, kNeverAgain, false})) {
      cache.admit(model, evicted);
    }
    ++index;
  };
  request(0);
  request(1);
  // Equal utilities: A (older) would go. A's load gets dearer: now B goes.
  models[0].load_latency_s = 10.0;
  cache.policy().on_cost_update(0);
  request(2);
  EXPECT_EQ(evicted, (std::vector<ModelId>{1}));
  // The catalog gains D, dear to reload (U = 100): it is weighed at its first load.
  models.push_back({"D", 1, 100.0, 1.0, 0});
  request(3);
  EXPECT_EQ(evicted, (std::vector<ModelId>{2}));  // C (U = 1) before A (U = 10)
  models.push_back({"E", 1, 1.0, 1.0, 0});
  request(4);
  EXPECT_EQ(evicted, (std::vector<ModelId>{0}));  // A (U = 10) before D (U = 100)
}

TEST(PolicyExamples, CremeBruleeOracleUsesDistanceCostAndSize) {
  // At D (3): U = C / (S * distance): A = 10 / (100 * 1) = 0.1, B = 1 / (100 * 2) = 0.005,
  // C = 1 / (50 * 3) = 0.0067. Lowest first: B (100 bytes) covers the 100-byte need.
  Replay replay("cremebrulee-oracle", 250,
                {{"A", 100, 10}, {"B", 100, 1}, {"C", 50, 1}, {"D", 100, 1}});
  // At B (5): A and D are never used again (U = 0, lower id first): A alone covers the need.
  EXPECT_EQ(replay.run({"A", "B", "C", "D", "A", "B", "C"}), (Log{"B@3", "A@5"}));
}

TEST(PolicyExamples, CremeBruleeOracleTrims) {
  // At D: C never again (U = 0) comes first, then B; trimming keeps only B (the largest).
  Replay replay("cremebrulee-oracle", 250,
                {{"A", 100, 10}, {"B", 100, 1}, {"C", 50, 1}, {"D", 100, 1}});
  EXPECT_EQ(replay.run({"A", "B", "C", "D", "A", "B"}), (Log{"B@3", "A@5"}));
}

TEST(PolicyExamples, GdsfAgesWithItsClock) {
  // At C: H(A) = 0 + 3 * 1/1 = 3, H(B) = 0 + 1 * 4/1 = 4 -> A; the clock rises to 3.
  // At D: H(B) = 4, H(C) = 3 + 1 = 4; equal, the older (B) goes. Without aging C would.
  Replay replay("gdsf", 2, {{"A", 1, 1}, {"B", 1, 4}, {"C", 1, 1}, {"D", 1, 1}});
  EXPECT_EQ(replay.run({"A", "A", "A", "B", "C", "D"}), (Log{"A@4", "B@5"}));
}

TEST(PolicyExamples, GdsfWeighsCostBySize) {
  // A: cost 8, size 4 (2 per byte); B: cost 3, size 1 (3 per byte). C needs 1: A goes.
  Replay replay("gdsf", 5, {{"A", 4, 8}, {"B", 1, 3}, {"C", 1, 1}});
  EXPECT_EQ(replay.run({"A", "B", "C"}), (Log{"A@2"}));
}

TEST(PolicyExamples, LfuDaAgesFrequencies) {
  // At C: A = 0 + 3, B = 0 + 1 -> B; clock = 1. At D: A = 3, C = 1 + 1 = 2 -> C.
  Replay replay("lfu-da", 2, kUnitModels);
  EXPECT_EQ(replay.run({"A", "A", "A", "B", "C", "D"}), (Log{"B@4", "C@5"}));
}

TEST(PolicyExamples, SieveSparesVisitedAndKeepsItsHand) {
  // A B C loaded; A hit (visited). D: hand at A (oldest): visited -> cleared; B evicted.
  // E: hand continues from C (next newer than B): unvisited -> C evicted.
  Replay replay("sieve", 3, kUnitModels);
  EXPECT_EQ(replay.run({"A", "B", "C", "A", "D", "E"}), (Log{"B@4", "C@5"}));
}

TEST(PolicyExamples, S3FifoFiltersOneHitWondersThroughItsSmallQueue) {
  // Capacity 10 (S target 1 byte). A..J enter S. K: S holds 10 > 1, its oldest (A, no hit)
  // goes and is remembered in the ghost. A returns: B goes; A (ghost) enters M. C is hit while
  // in S; at L, C is promoted to M instead of evicted, and D goes.
  std::vector<Spec> specs;
  std::vector<std::string> trace;
  for (char name = 'A'; name <= 'L'; ++name) specs.push_back({std::string(1, name), 1, 1});
  for (char name = 'A'; name <= 'K'; ++name) trace.emplace_back(1, name);
  for (const char* name : {"A", "C", "L"}) trace.emplace_back(name);
  Replay replay("s3fifo", 10, specs);
  EXPECT_EQ(replay.run(trace), (Log{"A@10", "B@11", "D@13"}));
  EXPECT_TRUE(replay.resident("A"));
  EXPECT_TRUE(replay.resident("C"));
}

TEST(PolicyExamples, PinnedModelsAreSkipped) {
  Replay replay("lru", 3, kUnitModels);
  replay.run({"A", "B", "C"});
  replay.cache().state().pin(replay.id("A"));  // A executing: never a victim
  std::vector<ModelId> evicted;
  replay.cache().record({replay.id("D"), 3, 3});
  replay.cache().admit(replay.id("D"), evicted);
  EXPECT_EQ(evicted, (std::vector<ModelId>{replay.id("B")}));
  EXPECT_TRUE(replay.resident("A"));
}

// Every policy: a pinned model is passed over, and once its pin goes it is a candidate again
// (heap policies set pinned models aside during a selection and take them back on unpin).
TEST(PolicyExamples, UnpinnedModelsBecomeVictimsAgain) {
  for (const auto& factory : policy_factories()) {
    SCOPED_TRACE(factory.name);
    Replay replay(factory.name, 3, kUnitModels);
    replay.run({"A", "B", "C"});
    std::vector<ModelId> evicted;
    // Pin two: the third is the only possible victim.
    replay.cache().state().pin(replay.id("A"));
    replay.cache().state().pin(replay.id("B"));
    replay.cache().record({replay.id("D"), 3, 3});
    replay.cache().admit(replay.id("D"), evicted);
    EXPECT_EQ(evicted, (std::vector<ModelId>{replay.id("C")}));
    // Pin D, release A and B: the next victim must be A or B, and both are again evictable.
    replay.cache().state().pin(replay.id("D"));
    replay.cache().state().unpin(replay.id("A"));
    replay.cache().state().unpin(replay.id("B"));
    EXPECT_EQ(replay.cache().state().evictable_bytes(), 2u);
    evicted.clear();
    replay.cache().record({replay.id("C"), 4, 4});
    replay.cache().admit(replay.id("C"), evicted);
    ASSERT_EQ(evicted.size(), 1u);
    EXPECT_TRUE(evicted[0] == replay.id("A") || evicted[0] == replay.id("B"));
    // And the other one after that: making room for two bytes frees both unpinned models.
    replay.cache().state().unpin(replay.id("D"));
    replay.cache().state().pin(replay.id("C"));
    replay.cache().state().pin(replay.id("D"));
    evicted.clear();
    replay.cache().make_room(1, evicted);
    ASSERT_EQ(evicted.size(), 1u);
    EXPECT_TRUE(evicted[0] == replay.id("A") || evicted[0] == replay.id("B"));
    EXPECT_EQ(replay.cache().state().resident_count(), 2u);
  }
}

// Every policy, with many pinned models in the way (heap policies take them out of the heap
// when a selection meets more than a few, and put them back when CacheState says they are
// unpinned): the only unpinned model (the most recent, so most policies meet the pinned ones
// first) goes first, then the released ones are victims again.
TEST(PolicyExamples, ManyPinnedModelsComeBackWhenReleased) {
  std::vector<Spec> specs;
  std::vector<std::string> names;
  for (int m = 0; m < 20; ++m) {
    names.push_back("m" + std::to_string(m));
    specs.push_back({names.back(), 1, 1.0});
  }
  for (const auto& factory : policy_factories()) {
    SCOPED_TRACE(factory.name);
    Replay replay(factory.name, 16, specs);
    replay.run(std::vector<std::string>(names.begin(), names.begin() + 16));
    ModelCache& cache = replay.cache();
    for (int m = 0; m < 16; ++m) {
      if (m != 15) cache.state().pin(replay.id(names[m]));
    }
    std::vector<ModelId> evicted;
    cache.record({replay.id("m16"), 16, 16});
    cache.admit(replay.id("m16"), evicted);
    EXPECT_EQ(evicted, (std::vector<ModelId>{replay.id("m15")}));
    // Release all but m3; m16 is pinned too. The next victims come from the released ones.
    cache.state().pin(replay.id("m16"));
    for (int m = 0; m < 16; ++m) {
      if (m != 15 && m != 3) cache.state().unpin(replay.id(names[m]));
    }
    for (int step = 0; step < 14; ++step) {
      evicted.clear();
      cache.make_room(cache.state().free_bytes() + 1, evicted);
      ASSERT_EQ(evicted.size(), 1u);
      EXPECT_NE(evicted[0], replay.id("m3"));
      EXPECT_NE(evicted[0], replay.id("m16"));
    }
    EXPECT_EQ(cache.state().evictable_bytes(), 0u);
    EXPECT_EQ(cache.state().resident_count(), 2u);
  }
}

TEST(PolicyExamples, ImpossibleNeedsAreClearErrors) {
  for (const auto& factory : policy_factories()) {
    SCOPED_TRACE(factory.name);
    Replay replay(factory.name, 3, {{"A", 1, 1}, {"B", 1, 1}, {"C", 1, 1}, {"Big", 4, 1}});
    replay.run({"A", "B", "C"});
    std::vector<ModelId> evicted;
    // Larger than the whole capacity.
    try {
      replay.cache().admit(replay.id("Big"), evicted);
      ADD_FAILURE() << "admitted a model larger than the capacity";
    } catch (const CacheError& e) {
      EXPECT_NE(std::string(e.what()).find("whole capacity"), std::string::npos) << e.what();
    }
    // Everything pinned: nothing can be freed.
    for (const char* name : {"A", "B", "C"}) replay.cache().state().pin(replay.id(name));
    try {
      replay.cache().make_room(1, evicted);
      ADD_FAILURE() << "freed pinned models";
    } catch (const CacheError& e) {
      EXPECT_NE(std::string(e.what()).find("pinned"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(evicted.empty());
    EXPECT_EQ(replay.cache().state().used_bytes(), 3u);
  }
}

TEST(PolicyExamples, UnknownPolicyNamesTheKnownOnes) {
  ModelTable models;
  try {
    make_policy("clairvoyant", models);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cremebrulee"), std::string::npos);
  }
}
