#pragma once
// The eviction policy interface shared, unchanged, by the simulator and the server.
// A policy orders models; CacheState counts bytes. No I/O, threads or clocks: time and request
// indices are passed in.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/cache_state.hpp"
#include "core/model_info.hpp"

namespace brulee {

struct RequestEvent {
  ModelId model = kNoModel;
  double time_s = 0.0;      // arrival time (virtual in the simulator, real in the server)
  std::uint64_t index = 0;  // position of the request in the stream, from 0
  std::uint64_t next_index = kNeverAgain;  // oracle only: index of the model's next request
  bool hit = false;                        // was the model resident when the request arrived
  // A hint: a model that will be requested soon (the simulator knows the trace), or kNoModel.
  // A policy may start loading that model's per-model state into the CPU cache; it must not
  // change anything on its account.
  ModelId upcoming = kNoModel;
};

// How CremeBrulee (and others that weigh by cost) price a reload.
enum class CostMode {
  kDirect,    // C = load latency (the paper's "cost-direct", default)
  kIncrease,  // C = load latency / exec latency (the paper's "cost-increase")
};

struct PolicyOptions {
  std::uint64_t seed = 0;  // for randomised policies
  CostMode cost_mode = CostMode::kDirect;
};

class Policy : public UnpinListener {
 public:
  Policy(const ModelTable& models, const PolicyOptions& options)
      : models_(models), options_(options) {}
  virtual ~Policy() = default;
  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  virtual std::string_view name() const = 0;

  // Every request, hit or miss, before any load it triggers.
  virtual void on_request(const RequestEvent& request) = 0;
  // `model` became resident (CacheState already holds it).
  virtual void on_load(ModelId model) = 0;
  // `model` left memory (CacheState no longer holds it).
  virtual void on_evict(ModelId model) = 0;
  // The driver changed the model's size or costs in the ModelTable.
  virtual void on_cost_update(ModelId /*model*/) {}
  // The last pin of a resident model was released, and the policy had asked to hear of it with
  // CacheState::notify_when_unpinned (ModelCache registers the policy as the listener).
  // Policies that set pinned models aside during selection take them back here.
  void on_unpinned(ModelId /*model*/) override {}
  // Appends resident, unpinned, distinct models whose bytes add up to at least `needed_bytes`.
  // Precondition: 0 < needed_bytes <= cache.evictable_bytes(). Must not change residency: the
  // driver evicts every returned model and calls on_evict for each.
  virtual void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                              std::vector<ModelId>& victims) = 0;

 protected:
  const ModelInfo& info(ModelId model) const { return models_[model]; }
  double cost_of(ModelId model) const {  // load cost under options().cost_mode
    const ModelInfo& m = models_[model];
    if (options_.cost_mode == CostMode::kIncrease) {
      return m.load_latency_s / std::max(m.exec_latency_s, 1e-9);
    }
    return m.load_latency_s;
  }
  const ModelTable& models() const { return models_; }
  const PolicyOptions& options() const { return options_; }

 private:
  const ModelTable& models_;
  PolicyOptions options_;
};

// ---- Registry: policies are chosen by name. ----

struct PolicyFactory {
  const char* name;
  const char* summary;
  bool oracle;  // needs RequestEvent::next_index (knowledge of the future)
  // Trims its victims largest first (keep_largest_needed): every victim is needed, no single
  // one could stay resident and the rest still free enough.
  bool trims;
  std::unique_ptr<Policy> (*make)(const ModelTable&, const PolicyOptions&);
};

std::span<const PolicyFactory> policy_factories();
// Throws UsageError naming the known policies if `name` is unknown.
const PolicyFactory& find_policy(std::string_view name);
std::unique_ptr<Policy> make_policy(std::string_view name, const ModelTable& models,
                                    const PolicyOptions& options = {});
std::string policy_names(std::string_view separator = ", ");
CostMode parse_cost_mode(std::string_view text);  // "direct" | "increase"

}  // namespace brulee
