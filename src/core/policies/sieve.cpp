// sieve: SIEVE (Zhang et al., NSDI 2024). Models sit in load order with a "visited" bit set by
// hits. A hand moves from the oldest model toward the newest: a visited model has its bit
// cleared and survives, an unvisited one is evicted. The hand keeps its place between evictions.
#include "core/model_list.hpp"
#include "core/per_model.hpp"

namespace brulee {
namespace {
class Sieve final : public Policy {
 public:
  using Policy::Policy;
  std::string_view name() const override { return "sieve"; }
  void on_request(const RequestEvent& request) override {
    if (request.hit) visited_[request.model] = 1;
  }
  void on_load(ModelId model) override {
    visited_[model] = 0;
    list_.push_front(model);
  }
  void on_evict(ModelId model) override {
    if (hand_ == model) hand_ = list_.prev(model);
    list_.unlink(model);
  }
  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    ++epoch_;
    std::uint64_t freed = 0;
    // At most two full passes: the first clears every visited bit.
    std::size_t steps = 2 * cache.resident_count() + 2;
    ModelId at = hand_ == kNoModel ? list_.back() : hand_;
    while (freed < needed_bytes && steps-- > 0) {
      if (at == kNoModel) at = list_.back();
      if (at == kNoModel) break;
      const ModelId next = list_.prev(at);
      if (chosen_[at] != epoch_ && !cache.pinned(at)) {
        if (visited_[at]) {
          visited_[at] = 0;
        } else {
          chosen_[at] = epoch_;
          victims.push_back(at);
          freed += cache.bytes_of(at);
        }
      }
      at = next;
    }
    hand_ = at;
  }

 private:
  ModelList list_;
  PerModel<std::uint8_t> visited_;
  PerModel<std::uint64_t> chosen_;
  std::uint64_t epoch_ = 0;
  ModelId hand_ = kNoModel;
};
}  // namespace

std::unique_ptr<Policy> make_sieve(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<Sieve>(models, options);
}
}  // namespace brulee
