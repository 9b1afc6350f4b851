// lfu: evict the model with the fewest requests so far (the paper's "popularity"). Counts are
// global (kept while a model is out of memory too); ties go to the least recently used.
#include "core/heap_policy.hpp"

namespace brulee {
namespace {
class Lfu final : public HeapPolicy<Lfu> {
 public:
  using HeapPolicy<Lfu>::HeapPolicy;
  std::string_view name() const override { return "lfu"; }

  // Used by HeapPolicy (CRTP).
  static constexpr bool kKeysOnlyGrow = true;
  static constexpr bool kTrimsVictims = false;
  void observe(const RequestEvent& request) {
    ++count_[request.model];
    last_[request.model] = request.index;
  }
  HeapKey key_for(ModelId model) const {
    return {static_cast<double>(count_.get(model)), last_.get(model)};
  }

 private:
  PerModel<std::uint64_t> count_;
  PerModel<std::uint64_t> last_;
};
}  // namespace

std::unique_ptr<Policy> make_lfu(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Lfu>(models, options);
}
}  // namespace brulee
