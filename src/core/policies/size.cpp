// size: evict the largest model first; ties go to the least recently used.
#include "core/heap_policy.hpp"

namespace brulee {
namespace {
class SizePolicy final : public HeapPolicy<SizePolicy> {
 public:
  using HeapPolicy<SizePolicy>::HeapPolicy;
  std::string_view name() const override { return "size"; }

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) { last_[request.model] = request.index; }
  HeapKey key_for(ModelId model) const {
    return {-static_cast<double>(info(model).size_bytes), last_.get(model)};
  }

 private:
  PerModel<std::uint64_t> last_;
};
}  // namespace

std::unique_ptr<Policy> make_size(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<SizePolicy>(models, options);
}
}  // namespace brulee
