// belady: the offline optimum for uniform sizes and costs (Belady 1966): evict the model whose
// next request is furthest in the future. The driver supplies each request's next-use index.
#include "core/heap_policy.hpp"

namespace brulee {
namespace {
class Belady final : public HeapPolicy<Belady> {
 public:
  using HeapPolicy<Belady>::HeapPolicy;
  std::string_view name() const override { return "belady"; }

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = false;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) {
    next_[request.model] = request.next_index;
    last_[request.model] = request.index;
  }
  HeapKey key_for(ModelId model) const {
    // Furthest next use = lowest key; "never again" is furthest of all.
    const std::uint64_t next = next_.get(model) == 0 ? kNeverAgain : next_.get(model);
    return {-static_cast<double>(next), last_.get(model)};
  }

 private:
  PerModel<std::uint64_t> next_;  // 0 = never requested (no knowledge): treat as never again
  PerModel<std::uint64_t> last_;
};
}  // namespace

std::unique_ptr<Policy> make_belady(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Belady>(models, options);
}
}  // namespace brulee
