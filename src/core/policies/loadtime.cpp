// loadtime: evict the model that is cheapest to load again first (lowest load latency);
// ties go to the least recently used.
#include "core/heap_policy.hpp"

namespace brulee {
namespace {
class LoadTime final : public HeapPolicy<LoadTime> {
 public:
  using HeapPolicy<LoadTime>::HeapPolicy;
  std::string_view name() const override { return "loadtime"; }

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) { last_[request.model] = request.index; }
  HeapKey key_for(ModelId model) const { return {info(model).load_latency_s, last_.get(model)}; }

 private:
  PerModel<std::uint64_t> last_;
};
}  // namespace

std::unique_ptr<Policy> make_loadtime(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<LoadTime>(models, options);
}
}  // namespace brulee
