#include "core/policy.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "core/policy_util.hpp"

namespace brulee {

CostMode parse_cost_mode(std::string_view text) {
  if (text == "direct") return CostMode::kDirect;
  if (text == "increase") return CostMode::kIncrease;
  throw UsageError("unknown cost mode '" + std::string(text) + "' (use direct or increase)");
}

void keep_largest_needed(const CacheState& cache, std::uint64_t needed_bytes,
                         std::vector<ModelId>& victims, std::size_t from) {
  std::uint64_t freed = 0;
  for (std::size_t i = 0; i < from; ++i) freed += cache.bytes_of(victims[i]);
  // Each candidate's bytes are read once, into a small array (on the stack for the usual few).
  struct Sized {
    std::uint64_t bytes;
    ModelId model;
  };
  constexpr std::size_t kOnStack = 32;
  const std::size_t count = victims.size() - from;
  Sized on_stack[kOnStack];
  std::vector<Sized> spilled;
  Sized* sized = on_stack;
  if (count > kOnStack) {
    spilled.resize(count);
    sized = spilled.data();
  }
  // Largest first; among equal sizes keep the eviction order (a stable insertion sort: victim
  // sets are small).
  for (std::size_t i = 0; i < count; ++i) {
    const Sized moving{cache.bytes_of(victims[from + i]), victims[from + i]};
    std::size_t at = i;
    while (at > 0 && sized[at - 1].bytes < moving.bytes) {
      sized[at] = sized[at - 1];
      --at;
    }
    sized[at] = moving;
  }
  std::size_t keep = 0;
  while (keep < count && freed < needed_bytes) {
    victims[from + keep] = sized[keep].model;
    freed += sized[keep].bytes;
    ++keep;
  }
  victims.resize(from + keep);
}

void ModelList::grow(ModelId model) {
  if (model == kNoModel) throw CacheError("invalid model id");
  links_.resize(static_cast<std::size_t>(model) + 1);
}

void ListPolicy::select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                                std::vector<ModelId>& victims) {
  std::uint64_t freed = 0;
  for (ModelId model = list_.back(); model != kNoModel && freed < needed_bytes;
       model = list_.prev(model)) {
    if (cache.pinned(model)) continue;
    victims.push_back(model);
    freed += cache.bytes_of(model);
  }
  // Warm the records of the next likely victims (the models just before the tail).
  ModelId next = victims.empty() ? list_.back() : list_.prev(victims.back());
  for (int k = 0; k < 2 && next != kNoModel; ++k, next = list_.prev(next)) {
    list_.prefetch(next);
    cache.prefetch(next);
  }
}

// ---- registry ----

std::unique_ptr<Policy> make_random(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_fifo(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_lru(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_lfu(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_lfu_da(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_loadtime(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_size(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_gdsf(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_sieve(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_s3fifo(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_belady(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_belady_size(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_cremebrulee(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_cremebrulee_increase(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_cremebrulee_oracle(const ModelTable&, const PolicyOptions&);
std::unique_ptr<Policy> make_predictive(const ModelTable&, const PolicyOptions&);

namespace {
const PolicyFactory kFactories[] = {
    {"random", "evict uniformly random resident models (seeded)", false, &make_random},
    {"fifo", "evict in load order", false, &make_fifo},
    {"lru", "evict the least recently requested (the paper's 'recent')", false, &make_lru},
    {"lfu", "evict the least requested so far (the paper's 'popularity')", false, &make_lfu},
    {"lfu-da", "LFU with dynamic aging (in-cache frequency + clock)", false, &make_lfu_da},
    {"loadtime", "evict the cheapest model to reload first", false, &make_loadtime},
    {"size", "evict the largest model first", false, &make_size},
    {"gdsf", "greedy-dual-size-frequency: clock + frequency * cost / size", false, &make_gdsf},
    {"sieve", "SIEVE: FIFO with a visited bit and a moving hand", false, &make_sieve},
    {"s3fifo", "S3-FIFO: small FIFO, main FIFO and ghost FIFO (byte-aware)", false, &make_s3fifo},
    {"belady", "oracle: evict the model requested furthest in the future", true, &make_belady},
    {"belady-size", "oracle: evict the largest (distance to next use) * size", true,
     &make_belady_size},
    {"cremebrulee", "CremeBrulee: lowest popularity * load cost / size first", false,
     &make_cremebrulee},
    {"cremebrulee-increase", "CremeBrulee with cost = load / exec latency", false,
     &make_cremebrulee_increase},
    {"cremebrulee-oracle", "CremeBrulee with B = 1 / distance to next use (oracle)", true,
     &make_cremebrulee_oracle},
    {"predictive", "cost / (size x predicted time to next use), from per-model idle histograms",
     false, &make_predictive},
};
}  // namespace

std::span<const PolicyFactory> policy_factories() { return kFactories; }

std::string policy_names(std::string_view separator) {
  std::string names;
  for (const auto& factory : kFactories) {
    if (!names.empty()) names += separator;
    names += factory.name;
  }
  return names;
}

const PolicyFactory& find_policy(std::string_view name) {
  for (const auto& factory : kFactories) {
    if (name == factory.name) return factory;
  }
  throw UsageError("unknown policy '" + std::string(name) + "' (known: " + policy_names() + ")");
}

std::unique_ptr<Policy> make_policy(std::string_view name, const ModelTable& models,
                                    const PolicyOptions& options) {
  return find_policy(name).make(models, options);
}

}  // namespace brulee
