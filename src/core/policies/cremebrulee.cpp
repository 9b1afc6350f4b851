// cremebrulee: the online CremeBrulee policy (Ogden et al., ACSOS 2021).
//   U(m) = B(m) * C(m) / S(m)
// B = m's share of all requests so far, C = load cost (load latency, or load / exec latency in
// the "increase" mode), S = size. The lowest utility is evicted first, then the victim set is
// trimmed, largest first, to what the need requires. The share's denominator (all requests) is
// common to every model, so ordering by count * C / S gives the same order and lets an indexed
// heap keep it in O(log n) per request.
#include "core/policy_util.hpp"

namespace brulee {
namespace {
class CremeBrulee final : public HeapPolicy<CremeBrulee> {
 public:
  CremeBrulee(const ModelTable& models, const PolicyOptions& options, std::string_view name)
      : HeapPolicy<CremeBrulee>(models, options), name_(name) {}
  std::string_view name() const override { return name_; }

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = true;
  void observe(const RequestEvent& request) {
    ++count_[request.model];
    last_[request.model] = request.index;
  }
  HeapKey key_for(ModelId model) const {
    const double size = std::max(1.0, static_cast<double>(info(model).size_bytes));
    return {static_cast<double>(count_.get(model)) * cost_of(model) / size, last_.get(model)};
  }

 private:
  std::string_view name_;
  PerModel<std::uint64_t> count_;
  PerModel<std::uint64_t> last_;
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
