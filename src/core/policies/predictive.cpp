// predictive: CremeBrulee's oracle utility with the future predicted online.
//   U(m) = C(m) / (S(m) * D(m, now))
// C = load cost, S = size, D = the expected time until m's next request, from m's idle-time
// histogram, a rate prior and how long m has been idle (core/interarrival.hpp). Lowest utility
// first, then the victim set is trimmed largest first, as CremeBrulee's.
//
// D depends on "now", so keys go stale as time passes, up or down. Keys are set on every request
// and load (eagerly), and at each selection the policy re-keys kRefresh resident models in turn
// (a hand going round the resident set) and then the heap's top until it holds: with up to
// kRefresh resident models (the paper's 26-model catalog) every key is fresh at every selection
// and the order is exact; with thousands, a model's key is at most (residents / kRefresh)
// selections old. docs/policies.md.
#include <algorithm>
#include <bit>

#include "core/interarrival.hpp"
#include "core/policy_util.hpp"

namespace brulee {
namespace {
class Predictive final : public HeapPolicy<Predictive> {
 public:
  using HeapPolicy<Predictive>::HeapPolicy;
  std::string_view name() const override { return "predictive"; }

  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    vacate();
    const auto resident = cache.resident_models();
    const std::size_t count = resident.size();
    const std::size_t refresh = std::min(count, kRefresh);
    for (std::size_t k = 0; k < refresh; ++k) {
      if (hand_ >= count) hand_ = 0;
      rekey(resident[hand_++]);
    }
    for (int k = 0; k < kTopChecks && !heap_.empty(); ++k) {
      const IndexedHeap::Entry top = heap_.top();
      const HeapKey fresh = key_for(top.model);
      if (fresh == top.key) break;
      heap_.set(top.model, fresh);
    }
    HeapPolicy<Predictive>::select_victims(cache, needed_bytes, victims);
  }
  void prefetch(ModelId model) const { predictor_.prefetch(model); }  // used by HeapPolicy

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = false;
  static constexpr bool kTrimsVictims = true;
  void observe(const RequestEvent& request) {
    now_s_ = std::max(now_s_, request.time_s);
    predictor_.observe(request.model, request.time_s);
  }
  HeapKey key_for(ModelId model) const {
    const ModelInfo& m = info(model);
    const double size = std::max(1.0, static_cast<double>(m.size_bytes));
    const double utility = cost(model, m) / (size * predictor_.remaining_s(model, now_s_));
    // Ties: the least recently requested first (a non-negative double's bits order as it does).
    return {utility, std::bit_cast<std::uint64_t>(predictor_.history(model).last_s + 0.0)};
  }

 private:
  static constexpr std::size_t kRefresh = 32;
  static constexpr int kTopChecks = 4;
  // The predicted cost of a miss: the load, plus the part of it that the requests expected to
  // arrive while it runs wait too (each about half of it). With q = the share of m's gaps
  // shorter than its load latency, the requests following the next one within the load number
  // about q / (1 - q) (each gap is short with probability q), capped at kMaxFollowers.
  double cost(ModelId model, const ModelInfo& m) const {
    const double q = predictor_.share_within_s(model, m.load_latency_s);
    const double followers =
        q >= kMaxFollowers / (1.0 + kMaxFollowers) ? kMaxFollowers : q / (1.0 - q);
    return cost_of(model) * (1.0 + 0.5 * followers);
  }
  static constexpr double kMaxFollowers = 64.0;
  void rekey(ModelId model) {
    if (heap_.contains(model)) heap_.set(model, key_for(model));
  }
  InterArrivalPredictor predictor_;
  double now_s_ = 0.0;
  std::size_t hand_ = 0;
};
}  // namespace

std::unique_ptr<Policy> make_predictive(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Predictive>(models, options);
}
}  // namespace brulee
