// s3fifo: S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023),
// byte-aware. New models enter a small FIFO S (target: 10% of the capacity); models that come
// back soon after leaving S (remembered in a ghost FIFO G) enter the main FIFO M. Evicting from
// S: a model hit while in S moves to M, otherwise it goes (and is remembered in G). Evicting from
// M: a model with hits left (a frequency capped at 3) has it decremented and goes back to M's
// head, otherwise it goes. S is evicted from while it holds more than its target.
#include <deque>

#include "core/model_list.hpp"
#include "core/per_model.hpp"

namespace brulee {
namespace {

class S3Fifo final : public Policy {
 public:
  using Policy::Policy;
  std::string_view name() const override { return "s3fifo"; }

  void on_request(const RequestEvent& request) override {
    if (request.hit && frequency_[request.model] < 3) ++frequency_[request.model];
  }

  void on_load(ModelId model) override {
    frequency_[model] = 0;
    bytes_[model] = info(model).size_bytes;
    if (ghost_stamp_[model] != 0) {
      ghost_stamp_[model] = 0;
      place(model, kMain);
    } else {
      place(model, kSmall);
    }
  }

  void on_evict(ModelId model) override {
    const auto was = static_cast<Where>(where_[model]);
    unplace(model);
    if (was == kSmall) remember(model);
  }

  void select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                      std::vector<ModelId>& victims) override {
    ++epoch_;
    const std::uint64_t small_target = cache.capacity_bytes() / 10;
    std::uint64_t small_left = small_bytes_;  // S's bytes not yet chosen
    std::uint64_t freed = 0;
    ModelId small_at = small_.back();
    ModelId main_at = main_.back();
    const auto choose = [&](ModelId model) {
      chosen_[model] = epoch_;
      victims.push_back(model);
      freed += cache.bytes_of(model);
      if (where_[model] == kSmall) small_left -= bytes_[model];
    };
    // Each model is examined a bounded number of times (frequencies only fall).
    for (std::size_t steps = 8 * cache.resident_count() + 8; freed < needed_bytes && steps > 0;
         --steps) {
      const bool from_small =
          small_at != kNoModel && (small_left > small_target || main_.back() == kNoModel);
      if (from_small) {
        const ModelId model = small_at;
        small_at = small_.prev(model);
        if (cache.pinned(model) || chosen_[model] == epoch_) continue;
        if (frequency_[model] > 0) {  // hit while in S: promote to M
          small_left -= bytes_[model];
          unplace(model);
          place(model, kMain);
          frequency_[model] = 0;
          if (main_at == kNoModel) main_at = main_.back();
        } else {
          choose(model);
        }
        continue;
      }
      if (main_at == kNoModel) main_at = main_.back();  // wrap around
      if (main_at == kNoModel) break;
      const ModelId model = main_at;
      main_at = main_.prev(model);
      if (cache.pinned(model) || chosen_[model] == epoch_) continue;
      if (frequency_[model] > 0) {  // reinsert at M's head with one hit fewer
        --frequency_[model];
        main_.move_to_front(model);
      } else {
        choose(model);
      }
    }
    // Everything left evictable is pinned-around or recently promoted: take in queue order.
    for (ModelList* list : {&small_, &main_}) {
      for (ModelId model = list->back(); model != kNoModel && freed < needed_bytes;
           model = list->prev(model)) {
        if (!cache.pinned(model) && chosen_[model] != epoch_) choose(model);
      }
    }
  }

 private:
  enum Where : std::uint8_t { kNone, kSmall, kMain };

  void place(ModelId model, Where where) {
    where_[model] = where;
    if (where == kSmall) {
      small_.push_front(model);
      small_bytes_ += bytes_[model];
    } else {
      main_.push_front(model);
      ++main_count_;
    }
  }
  void unplace(ModelId model) {
    if (where_[model] == kSmall) {
      small_.unlink(model);
      small_bytes_ -= bytes_[model];
    } else if (where_[model] == kMain) {
      main_.unlink(model);
      --main_count_;
    }
    where_[model] = kNone;
  }
  // The ghost FIFO remembers as many models as M holds (at least 16).
  void remember(ModelId model) {
    ghost_.push_back({model, ++ghost_clock_});
    ghost_stamp_[model] = ghost_clock_;
    while (ghost_.size() > std::max<std::size_t>(16, main_count_)) {
      const auto [old, stamp] = ghost_.front();
      ghost_.pop_front();
      if (ghost_stamp_[old] == stamp) ghost_stamp_[old] = 0;
    }
  }

  ModelList small_, main_;
  PerModel<std::uint8_t> where_;
  PerModel<std::uint8_t> frequency_;
  PerModel<std::uint64_t> bytes_;
  PerModel<std::uint64_t> chosen_;
  PerModel<std::uint64_t> ghost_stamp_;  // != 0: in the ghost FIFO (stamp of its entry)
  std::deque<std::pair<ModelId, std::uint64_t>> ghost_;
  std::uint64_t ghost_clock_ = 0;
  std::uint64_t small_bytes_ = 0;
  std::size_t main_count_ = 0;
  std::uint64_t epoch_ = 0;
};

}  // namespace

std::unique_ptr<Policy> make_s3fifo(const ModelTable& models, const PolicyOptions& options) {
  return std::make_unique<S3Fifo>(models, options);
}
}  // namespace brulee
