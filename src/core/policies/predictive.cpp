// predictive: CremeBrulee's oracle utility with the future predicted online.
//   U(m) = C(m) / (S(m) * D(m, now))
// C = the predicted cost of a miss (the load cost, plus the share of the load the requests
// expected to arrive during it wait too), S = size, D = the expected time until m's next request,
// from m's idle-time histogram, a rate prior and how long m has been idle (core/interarrival.hpp).
// Lowest utility first, then the victim set is trimmed largest first, as CremeBrulee's.
//
// The key is U times (now - first request seen), a factor common to every model at any instant
// (core/interarrival.hpp, relative_utility): the same order, but a key computed earlier stays
// comparable with one computed now, as CremeBrulee's count does. It still drifts with m's idle
// time (D's shape factor), up or down, so: a hit only updates m's history and marks it stale
// (a lazy heap, like CremeBrulee's); a selection re-keys the stale entries it meets, every
// resident model when there are at most 32 (the order is then exact: the paper's 26-model
// catalog), else the heap's top, and the next while the top was a periodic model (at most 64:
// a periodic model's key grows as its next firing nears). docs/policies.md.
#include <algorithm>
#include <bit>

#include "core/heap_policy.hpp"
#include "core/interarrival.hpp"

namespace brulee {
namespace {
class Predictive final : public HeapPolicy<Predictive> {
 public:
  using HeapPolicy<Predictive>::HeapPolicy;
  std::string_view name() const override { return "predictive"; }

  void on_load(ModelId model) override {
    reweigh(model);
    HeapPolicy<Predictive>::on_load(model);
  }
  void on_cost_update(ModelId model) override {
    reweigh(model);
    HeapPolicy<Predictive>::on_cost_update(model);
  }
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    drop_kept_victim();
    const auto resident = cache.resident_models();
    // Every key when few models are resident (the order is then exact), else only the top's.
    if (resident.size() <= kRefreshAll) {
      for (ModelId model : resident) rekey(model);
    }
    // Else re-key the top; while it is a periodic model (whose key grows as its next firing
    // nears, so its stored key can be far below its true one), the next top too, up to
    // kTopChecks times.
    for (int k = 0; k < kTopChecks && !heap_.empty(); ++k) {
      const IndexedHeap::Entry top = heap_.top();
      const HeapKey fresh = key_for(top.model);
      if (fresh == top.key) break;
      heap_.set(top.model, fresh);
      if (heap_.top().model == top.model || !state_.get(top.model).history.periodic()) break;
    }
    HeapPolicy<Predictive>::select_victims(cache, needed_bytes, victims);
  }
  void prefetch(ModelId model) const { state_.prefetch(model); }  // used by HeapPolicy

  // Used by HeapPolicy (CRTP).
  // Not strictly true (an idle model's key can fall as well as rise with its shape factor), but
  // it makes a hit O(1); keys that fell are caught by the re-keying above.
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = true;
  void observe(const RequestEvent& request) {
    now_s_ = std::max(now_s_, request.time_s);
    if (!started_) [[unlikely]] {
      started_ = true;
      origin_s_ = request.time_s;
    }
    state_[request.model].history.observe(request.time_s);
  }
  HeapKey key_for(ModelId model) const {
    const State& state = state_.get(model);
    if (state.history.count == 0) return never_requested_key(state.cost, state.size);
    // The time-invariant form (times the span common to all models): docs/policies.md.
    const double utility = relative_utility(state.history, origin_s_, state.load_latency_s,
                                            state.cost, state.size, now_s_);
    // Ties: the least recently requested first (a non-negative double's bits order as it does).
    return {utility, std::bit_cast<std::uint64_t>(state.history.last_s + 0.0)};
  }

 private:
  static constexpr std::size_t kRefreshAll = 32;
  static constexpr int kTopChecks = 64;
  void rekey(ModelId model) {
    if (heap_.contains(model)) heap_.set(model, key_for(model));
  }
  // C, S and L cached per model: refreshed on load and on cost updates.
  void reweigh(ModelId model) {
    State& state = state_[model];
    state.cost = cost_of(model);
    state.size = static_cast<float>(std::max<std::uint64_t>(1, info(model).size_bytes));
    state.load_latency_s = static_cast<float>(info(model).load_latency_s);
  }
  struct State {
    InterArrivalHistory history;
    double cost = 0.0;
    float size = 1.0f;
    float load_latency_s = 0.0f;
  };
  static_assert(sizeof(State) == 64);
  PerModel<State> state_;  // one cache line per model
  double now_s_ = 0.0;
  double origin_s_ = 0.0;  // the first request's time
  bool started_ = false;
};
}  // namespace

std::unique_ptr<Policy> make_predictive(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Predictive>(models, options);
}
}  // namespace brulee
