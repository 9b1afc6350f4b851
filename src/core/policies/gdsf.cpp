// gdsf: Greedy-Dual-Size-Frequency (Cherkasova 1998), as FaaSCache uses for keep-alive.
//   priority(m) = clock + frequency(m) * cost(m) / size(m)
// frequency counts requests since the model was loaded (reset on eviction); cost is the load
// latency; on each eviction the clock rises to the victim's priority, so models that stay
// unused age relative to newcomers.
#include <algorithm>

#include "core/policy_util.hpp"

namespace brulee {
namespace {
class Gdsf : public HeapPolicy<Gdsf> {
 public:
  Gdsf(const ModelTable& models, const PolicyOptions& options, bool size_aware)
      : HeapPolicy<Gdsf>(models, options), size_aware_(size_aware) {}
  std::string_view name() const override { return size_aware_ ? "gdsf" : "lfu-da"; }

  void on_load(ModelId model) override {
    reprice(model);  // with the clock as it is after the evictions that made room
    HeapPolicy<Gdsf>::on_load(model);
  }
  void on_evict(ModelId model) override {
    clock_ = std::max(clock_, priority_.get(model));
    frequency_[model] = 0;
    HeapPolicy<Gdsf>::on_evict(model);
  }
  void on_cost_update(ModelId model) override {
    reprice(model);
    HeapPolicy<Gdsf>::on_cost_update(model);
  }

  // Used by HeapPolicy (CRTP). The priority is fixed when the model is requested (with the
  // clock of that moment) and only grows: the heap may hold an older, lower one.
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) {
    // A miss is the first use of the copy about to be loaded.
    frequency_[request.model] = request.hit ? frequency_[request.model] + 1 : 1;
    last_[request.model] = request.index;
    if (request.hit) reprice(request.model);
  }
  HeapKey key_for(ModelId model) const { return {priority_.get(model), last_.get(model)}; }

 private:
  void reprice(ModelId model) {
    const double frequency = static_cast<double>(frequency_[model]);
    double value = frequency;
    if (size_aware_) {
      value = frequency * info(model).load_latency_s /
              std::max(1.0, static_cast<double>(info(model).size_bytes));
    }
    priority_[model] = clock_ + value;
  }

  bool size_aware_;
  double clock_ = 0.0;
  PerModel<std::uint64_t> frequency_;
  PerModel<double> priority_;  // clock + frequency * cost / size, as of the last request
  PerModel<std::uint64_t> last_;
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
