// gdsf: Greedy-Dual-Size-Frequency (Cherkasova 1998), as FaaSCache uses for keep-alive.
//   priority(m) = clock + frequency(m) * cost(m) / size(m)
// frequency counts requests since the model was loaded (reset on eviction); cost is the load
// latency; on each eviction the clock rises to the victim's priority, so models that stay
// unused age relative to newcomers.
#include <algorithm>

#include "core/heap_policy.hpp"

namespace brulee {
namespace {
class Gdsf : public HeapPolicy<Gdsf> {
 public:
  Gdsf(const ModelTable& models, const PolicyOptions& options, bool size_aware)
      : HeapPolicy<Gdsf>(models, options), size_aware_(size_aware) {}
  std::string_view name() const override { return size_aware_ ? "gdsf" : "lfu-da"; }

  void on_load(ModelId model) override {
    reweigh(model);
    reprice(model);  // with the clock as it is after the evictions that made room
    HeapPolicy<Gdsf>::on_load(model);
  }
  void on_evict(ModelId model) override {
    clock_ = std::max(clock_, state_.get(model).priority);
    state_[model].frequency = 0;
    HeapPolicy<Gdsf>::on_evict(model);
  }
  void on_cost_update(ModelId model) override {
    reweigh(model);
    reprice(model);
    HeapPolicy<Gdsf>::on_cost_update(model);
  }
  void prefetch(ModelId model) const { state_.prefetch(model); }  // used by HeapPolicy

  // Used by HeapPolicy (CRTP). The priority is fixed when the model is requested (with the
  // clock of that moment) and only grows: the heap may hold an older, lower one.
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) {
    // A miss is the first use of the copy about to be loaded.
    state_[request.model].frequency = request.hit ? state_[request.model].frequency + 1 : 1;
    state_[request.model].last = request.index;
    if (request.hit) reprice(request.model);
  }
  HeapKey key_for(ModelId model) const {
    return {state_.get(model).priority, state_.get(model).last};
  }

 private:
  // cost / size (1 for lfu-da), cached per model: refreshed on load and on cost updates.
  void reweigh(ModelId model) {
    state_[model].weight = size_aware_
                               ? info(model).load_latency_s /
                                     std::max(1.0, static_cast<double>(info(model).size_bytes))
                               : 1.0;
  }
  void reprice(ModelId model) {
    State& state = state_[model];
    state.priority = clock_ + static_cast<double>(state.frequency) * state.weight;
  }

  bool size_aware_;
  double clock_ = 0.0;
  struct State {
    std::uint64_t frequency = 0;  // requests since load
    std::uint64_t last = 0;       // index of the last request
    double priority = 0.0;        // clock + frequency * cost / size, as of the last request
    double weight = 0.0;          // cost / size
  };
  PerModel<State> state_;  // one cache line per model touched per request
};
}  // namespace

std::unique_ptr<Policy> make_gdsf(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Gdsf>(models, options, true);
}
// lfu-da: LFU with dynamic aging (Arlitt et al. 2000): GDSF with cost / size = 1.
std::unique_ptr<Policy> make_lfu_da(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Gdsf>(models, options, false);
}
}  // namespace brulee
