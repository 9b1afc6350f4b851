// cremebrulee-oracle: CremeBrulee with perfect knowledge of the future (Ogden et al. 2021).
//   U(m) = B(m) * C(m) / S(m),  B = 1 / (requests until m's next request)
// A model never requested again has U = 0. Lowest utility first, then the victim set is trimmed
// largest first. B depends on "now", so victims are found by a scan at eviction time.
#include "core/per_model.hpp"
#include "core/policy.hpp"
#include "core/victim_selection.hpp"

namespace brulee {
namespace {
class CremeBruleeOracle final : public Policy {
 public:
  using Policy::Policy;
  std::string_view name() const override { return "cremebrulee-oracle"; }
  void on_request(const RequestEvent& request) override {
    next_[request.model] = request.next_index;
    now_ = request.index;
  }
  void on_load(ModelId) override {}
  void on_evict(ModelId) override {}
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    const std::size_t from = victims.size();
    select_lowest_scan(cache, needed_bytes, victims, [&](ModelId model) {
      const std::uint64_t next = next_.get(model);
      if (next == 0 || next == kNeverAgain) return HeapKey{0.0, 0};
      const double distance = static_cast<double>(next > now_ ? next - now_ : 1);
      const double size = std::max(1.0, static_cast<double>(cache.bytes_of(model)));
      return HeapKey{cost_of(model) / (distance * size), 0};
    });
    keep_largest_needed(cache, needed_bytes, victims, from);
  }

 private:
  PerModel<std::uint64_t> next_;
  std::uint64_t now_ = 0;
};
}  // namespace

std::unique_ptr<Policy> make_cremebrulee_oracle(const ModelTable& models,
                                                const PolicyOptions& options) {
  return std::make_unique<CremeBruleeOracle>(models, options);
}
}  // namespace brulee
