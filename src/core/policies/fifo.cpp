// fifo: evict in load order; hits do not refresh a model.
#include "core/model_list.hpp"

namespace brulee {
namespace {
class Fifo final : public ListPolicy {
 public:
  Fifo(const ModelTable& models, const PolicyOptions& options)
      : ListPolicy(models, options, false) {}
  std::string_view name() const override { return "fifo"; }
};
}  // namespace

std::unique_ptr<Policy> make_fifo(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Fifo>(models, options);
}
}  // namespace brulee
