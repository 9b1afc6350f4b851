// The heap policies' victim selection (a best-first walk over a lazily keyed heap, with the top's
// slot handed to the next load) checked against a plain scan: every resident, unpinned model
// keyed afresh, sorted, taken until the need is covered (and trimmed largest first where the
// policy trims). The cache is driven both ways the callers drive it: the simulator's admit, and
// the server's make_room now, load later, with requests, pins and explicit unloads in between.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "core/heap_policy.hpp"
#include "core/model_cache.hpp"
#include "core/rng.hpp"
#include "random_catalog.hpp"

using namespace brulee;

namespace {

struct Counters {
  std::vector<std::uint64_t> count;
  std::vector<std::uint64_t> last;
};

using KeyFn = std::function<double(const ModelTable&, const Counters&, ModelId)>;

struct Case {
  std::string policy;
  KeyFn key;  // the policy's primary key; the secondary is always the last request index
};

std::vector<Case> cases() {
  return {
      {"cremebrulee",
       [](const ModelTable& models, const Counters& c, ModelId m) {
         const double size = std::max(1.0, static_cast<double>(models[m].size_bytes));
         // Never requested: below every requested model, the lowest cost per byte first.
         if (c.count[m] == 0) return -size / std::max(models[m].load_latency_s, 1e-300);
         return static_cast<double>(c.count[m]) * models[m].load_latency_s / size;
       }},
      {"lfu", [](const ModelTable&, const Counters& c,
                 ModelId m) { return static_cast<double>(c.count[m]); }},
      {"loadtime", [](const ModelTable& models, const Counters&,
                      ModelId m) { return models[m].load_latency_s; }},
      {"size", [](const ModelTable& models, const Counters&,
                  ModelId m) { return -static_cast<double>(models[m].size_bytes); }},
  };
}

// The victims a scan over the whole cache picks for `needed` bytes.
std::vector<ModelId> scan_victims(const Case& c, const ModelTable& models, const Counters& counters,
                                  const CacheState& state, std::uint64_t needed) {
  std::vector<std::tuple<double, std::uint64_t, ModelId>> candidates;
  for (ModelId m : state.resident_models()) {
    if (!state.pinned(m)) candidates.emplace_back(c.key(models, counters, m), counters.last[m], m);
  }
  std::sort(candidates.begin(), candidates.end());
  std::vector<ModelId> victims;
  std::uint64_t freed = 0;
  for (const auto& [key, last, m] : candidates) {
    if (freed >= needed) break;
    victims.push_back(m);
    freed += state.bytes_of(m);
  }
  if (find_policy(c.policy).trims) {
    std::stable_sort(victims.begin(), victims.end(),
                     [&](ModelId a, ModelId b) { return state.bytes_of(a) > state.bytes_of(b); });
    std::size_t keep = 0;
    for (freed = 0; keep < victims.size() && freed < needed; ++keep)
      freed += state.bytes_of(victims[keep]);
    victims.resize(keep);
  }
  return victims;
}

// `many_pins`: a larger catalog, and bursts of requests pin dozens of resident models at once
// (released in bursts too), so a walk steps over many pinned models and its frontier outgrows
// the short array.
void run(const Case& c, std::uint64_t seed, bool many_pins = false) {
  SCOPED_TRACE(c.policy + " seed " + std::to_string(seed) + (many_pins ? " many pins" : ""));
  Rng rng(seed);
  const test_support::RandomCatalog catalog =
      test_support::random_catalog(rng, many_pins ? 600 : 60);
  const ModelTable& models = catalog.models;
  const std::size_t model_count = models.size();
  const std::uint64_t capacity = catalog.capacity;
  ModelCache cache(capacity, models, make_policy(c.policy, models));
  Counters counters{std::vector<std::uint64_t>(model_count, 0),
                    std::vector<std::uint64_t>(model_count, 0)};

  std::vector<ModelId> evicted;
  // Makes room for `bytes` (and admits `model` unless it is kNoModel), checking the victims.
  const auto make_room = [&](ModelId model, std::uint64_t bytes) {
    const CacheState& state = cache.state();
    const std::uint64_t needed = bytes > state.free_bytes() ? bytes - state.free_bytes() : 0;
    if (needed > state.evictable_bytes()) return false;
    const std::vector<ModelId> expected =
        needed == 0 ? std::vector<ModelId>{} : scan_victims(c, models, counters, state, needed);
    evicted.clear();
    if (model == kNoModel) {
      cache.make_room(bytes, evicted);
    } else {
      cache.admit(model, evicted);
    }
    EXPECT_EQ(evicted, expected);
    return true;
  };

  test_support::Pins pins;
  std::vector<ModelId> pending;  // room made, load not done yet (the server's way)
  for (std::uint64_t i = 0; i < 3000; ++i) {
    if (many_pins && rng.uniform() < 0.05) {
      const CacheState& state = cache.state();
      for (std::uint64_t k = rng.below(2 * state.resident_count() + 1); k > 0; --k) {
        pins.pin(cache.state(), state.resident_models()[rng.below(state.resident_count())]);
      }
    }
    if (many_pins && rng.uniform() < 0.05) {
      for (std::size_t k = pins.size() / 2; k > 0; --k) pins.release_random(rng, cache.state());
    }
    if (rng.uniform() < 0.15) pins.pin(cache.state(), static_cast<ModelId>(rng.below(model_count)));
    if (!pins.empty() && rng.uniform() < 0.15) pins.release_random(rng, cache.state());
    if (!pending.empty() && rng.uniform() < 0.3) {
      const std::size_t at = rng.below(pending.size());
      const ModelId m = pending[at];
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(at));
      make_room(m, models[m].size_bytes);
    }
    if (rng.uniform() < 0.03 && cache.state().resident_count() > 0) {
      const ModelId m = cache.state().resident_models()[rng.below(cache.state().resident_count())];
      if (!cache.state().pinned(m)) cache.evict(m);
    }
    // A model never requested loaded (a prefetcher's warm-up, an operator's load): its key ties
    // with every other such model's (count 0, last 0), and the scan breaks ties by model. A cost
    // update (the server sends one after each load) re-keys a resident model in place, so the
    // heap's layout differs from one driver to the other; the victims must not.
    if (rng.uniform() < 0.05) {
      const auto m = static_cast<ModelId>(rng.below(model_count));
      if (counters.count[m] == 0 && !cache.state().resident(m) &&
          std::find(pending.begin(), pending.end(), m) == pending.end()) {
        make_room(m, models[m].size_bytes);
      }
    }
    if (rng.uniform() < 0.1 && cache.state().resident_count() > 0) {
      cache.policy().on_cost_update(
          cache.state().resident_models()[rng.below(cache.state().resident_count())]);
    }
    const double u = rng.uniform();
    const auto model = static_cast<ModelId>(static_cast<double>(model_count) * u * u * u);
    const bool hit = cache.record({model, static_cast<double>(i), i, kNeverAgain, false});
    ++counters.count[model];
    counters.last[model] = i;
    if (hit || std::find(pending.begin(), pending.end(), model) != pending.end()) continue;
    if (rng.uniform() < 0.7) {
      make_room(model, models[model].size_bytes);
    } else if (make_room(kNoModel, models[model].size_bytes)) {
      pending.push_back(model);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(HeapSelection, MatchesAFullScanWhenDrivenLikeTheSimulatorAndTheServer) {
  for (const Case& c : cases()) {
    for (std::uint64_t seed = 1; seed <= 40; ++seed) run(c, seed);
  }
}

TEST(HeapSelection, MatchesAFullScanWithManyPinnedModels) {
  for (const Case& c : cases()) {
    for (std::uint64_t seed = 1; seed <= 10; ++seed) run(c, seed, true);
  }
}

// The smallest policy HeapPolicy takes (what a new heap policy writes): the model requested
// longest ago goes first. Its hooks are what HeapPolicyHooks asks for; a policy missing one is
// refused at compile time with the static_assert's message.
class OldestRequest final : public HeapPolicy<OldestRequest> {
 public:
  using HeapPolicy<OldestRequest>::HeapPolicy;
  std::string_view name() const override { return "oldest-request"; }
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) { last_[request.model] = request.index + 1; }
  HeapKey key_for(ModelId model) const { return {0.0, last_.get(model)}; }

 private:
  PerModel<std::uint64_t> last_;
};
static_assert(HeapPolicyHooks<OldestRequest>);

struct NoTrimFlag {
  static constexpr bool kKeysOnlyGrow = true;
  void observe(const RequestEvent&) {}
  HeapKey key_for(ModelId) const { return {}; }
};
struct KeyOfAnotherType {
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent&) {}
  double key_for(ModelId) const { return 0.0; }
};
struct FlagsNotConstant {
  [[maybe_unused]] static inline bool kKeysOnlyGrow = true;
  [[maybe_unused]] static inline bool kTrimsVictims = false;
  void observe(const RequestEvent&) {}
  HeapKey key_for(ModelId) const { return {}; }
};
static_assert(!HeapPolicyHooks<NoTrimFlag>);
static_assert(!HeapPolicyHooks<KeyOfAnotherType>);
static_assert(!HeapPolicyHooks<FlagsNotConstant>);

TEST(HeapPolicyBase, AMinimalPolicyEvictsItsLowestKeys) {
  const ModelTable models(4, ModelInfo{"m", 10, 1.0, 0.1, 0.0});
  ModelCache cache(30, models, std::make_unique<OldestRequest>(models, PolicyOptions{}));
  std::vector<ModelId> evicted;
  std::uint64_t index = 0;
  for (ModelId m : {0u, 1u, 2u, 0u}) {  // 1 is now the one requested longest ago
    cache.record({.model = m, .index = index++});
    if (!cache.state().resident(m)) cache.admit(m, evicted);
  }
  ASSERT_TRUE(evicted.empty());
  cache.record({.model = 3, .index = index++});
  cache.admit(3, evicted);
  EXPECT_EQ(evicted, std::vector<ModelId>{1});
}

}  // namespace
