// cremebrulee: the online CremeBrulee policy (Ogden et al., ACSOS 2021).
//   U(m) = B(m) * C(m) / S(m)
// B = m's share of all requests so far, C = load cost (load latency, or load / exec latency in
// the "increase" mode), S = size. The lowest utility is evicted first, then the victim set is
// trimmed, largest first, to what the need requires. The share's denominator (all requests) is
// common to every model, so ordering by count * C / S gives the same order and lets an indexed
// heap keep it in O(log n) per request.
#include <algorithm>

#include "core/heap_policy.hpp"

namespace brulee {
namespace {
class CremeBrulee final : public HeapPolicy<CremeBrulee> {
 public:
  CremeBrulee(const ModelTable& models, const PolicyOptions& options, std::string_view name)
      : HeapPolicy<CremeBrulee>(models, options), name_(name) {}
  std::string_view name() const override { return name_; }

  void on_load(ModelId model) override {
    reweigh(model);
    HeapPolicy<CremeBrulee>::on_load(model);
  }
  void on_cost_update(ModelId model) override {
    reweigh(model);
    HeapPolicy<CremeBrulee>::on_cost_update(model);
  }
  void prefetch(ModelId model) const { state_.prefetch(model); }  // used by HeapPolicy

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = true;
  void observe(const RequestEvent& request) {
    State& state = state_[request.model];
    ++state.count;
    state.last = request.index;
  }
  HeapKey key_for(ModelId model) const {
    const State& state = state_.get(model);  // fields, not a copy: just written on a load
    if (state.count == 0) return never_requested_key(state.cost, state.size);
    return {static_cast<double>(state.count) * state.cost / state.size, state.last};
  }

 private:
  // C and S, cached per resident model: refreshed on load and on cost updates.
  void reweigh(ModelId model) {
    State& state = state_[model];
    state.cost = cost_of(model);
    state.size = std::max(1.0, static_cast<double>(info(model).size_bytes));
  }

  std::string_view name_;
  struct State {
    std::uint64_t count = 0;  // requests so far (all time)
    std::uint64_t last = 0;   // index of the last request
    double cost = 0.0;        // C(m)
    double size = 1.0;        // S(m), at least 1 byte
  };
  PerModel<State> state_;  // one 32-byte record per model: one cache line touched per request
};
}  // namespace

std::unique_ptr<Policy> make_cremebrulee(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<CremeBrulee>(models, options, "cremebrulee");
}
std::unique_ptr<Policy> make_cremebrulee_increase(const ModelTable& models,
                                                  const PolicyOptions& options) {
  PolicyOptions increase = options;
  increase.cost_mode = CostMode::kIncrease;
  return std::make_unique<CremeBrulee>(models, increase, "cremebrulee-increase");
}
}  // namespace brulee
