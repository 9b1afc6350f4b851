// lru: evict the least recently requested model (the paper's "recent").
#include "core/model_list.hpp"

namespace brulee {
namespace {
class Lru final : public ListPolicy {
 public:
  Lru(const ModelTable& models, const PolicyOptions& options) : ListPolicy(models, options, true) {}
  std::string_view name() const override { return "lru"; }
};
}  // namespace

std::unique_ptr<Policy> make_lru(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Lru>(models, options);
}
}  // namespace brulee
