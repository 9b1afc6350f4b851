#include "core/policy.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace brulee {

CostMode parse_cost_mode(std::string_view text) {
  if (text == "direct") return CostMode::kDirect;
  if (text == "increase") return CostMode::kIncrease;
  throw UsageError("unknown cost mode '" + std::string(text) + "' (use direct or increase)");
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
// name, summary, oracle, trims, factory
const PolicyFactory kFactories[] = {
    {"random", "evict uniformly random resident models (seeded)", false, false, &make_random},
    {"fifo", "evict in load order", false, false, &make_fifo},
    {"lru", "evict the least recently requested (the paper's 'recent')", false, false, &make_lru},
    {"lfu", "evict the least requested so far (the paper's 'popularity')", false, false, &make_lfu},
    {"lfu-da", "LFU with dynamic aging (in-cache frequency + clock)", false, false, &make_lfu_da},
    {"loadtime", "evict the cheapest model to reload first", false, false, &make_loadtime},
    {"size", "evict the largest model first", false, false, &make_size},
    {"gdsf", "greedy-dual-size-frequency: clock + frequency * cost / size", false, false,
     &make_gdsf},
    {"sieve", "SIEVE: FIFO with a visited bit and a moving hand", false, false, &make_sieve},
    {"s3fifo", "S3-FIFO: small FIFO, main FIFO and ghost FIFO (byte-aware)", false, false,
     &make_s3fifo},
    {"belady", "oracle: evict the model requested furthest in the future", true, false,
     &make_belady},
    {"belady-size", "oracle: evict the largest (distance to next use) * size", true, false,
     &make_belady_size},
    {"cremebrulee", "CremeBrulee: lowest popularity * load cost / size first", false, true,
     &make_cremebrulee},
    {"cremebrulee-increase", "CremeBrulee with cost = load / exec latency", false, true,
     &make_cremebrulee_increase},
    {"cremebrulee-oracle", "CremeBrulee with B = 1 / distance to next use (oracle)", true, true,
     &make_cremebrulee_oracle},
    {"predictive", "cost / (size x predicted time to next use), from per-model idle histograms",
     false, true, &make_predictive},
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
