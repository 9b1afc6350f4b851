// belady-size: oracle, size-aware Belady: evict the largest (distance to next use) * size first.
// The order changes as time passes, so victims are found by a scan at eviction time.
#include "core/per_model.hpp"
#include "core/policy.hpp"
#include "core/victim_selection.hpp"

namespace brulee {
namespace {
class BeladySize final : public Policy {
 public:
  using Policy::Policy;
  std::string_view name() const override { return "belady-size"; }
  void on_request(const RequestEvent& request) override {
    next_[request.model] = request.next_index;
    now_ = request.index;
  }
  void on_load(ModelId) override {}
  void on_evict(ModelId) override {}
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    select_lowest_scan(cache, needed_bytes, victims, [&](ModelId model) {
      const std::uint64_t next = next_.get(model);
      const double distance = (next == 0 || next == kNeverAgain)
                                  ? 1e300
                                  : static_cast<double>(next > now_ ? next - now_ : 1);
      return HeapKey{-distance * static_cast<double>(cache.bytes_of(model)), 0};
    });
  }

 private:
  PerModel<std::uint64_t> next_;
  std::uint64_t now_ = 0;
};
}  // namespace

std::unique_ptr<Policy> make_belady_size(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<BeladySize>(models, options);
}
}  // namespace brulee
