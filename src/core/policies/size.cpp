// size: evict the largest model first; ties go to the least recently used.
#include "core/policy_util.hpp"

namespace brulee {
namespace {
class SizePolicy final : public HeapPolicy {
 public:
  using HeapPolicy::HeapPolicy;
  std::string_view name() const override { return "size"; }

 protected:
  void observe(const RequestEvent& request) override { last_[request.model] = request.index; }
  HeapKey key_for(ModelId model) const override {
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
