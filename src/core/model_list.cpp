#include "core/model_list.hpp"

#include "core/error.hpp"

namespace brulee {

void ModelList::grow(ModelId model) {
  if (model == kNoModel) throw CacheError("invalid model id");
  links_.resize(static_cast<std::size_t>(model) + 1);
}

void ListPolicy::select_victims(const CacheState& cache, std::uint64_t needed_bytes,
                                std::vector<ModelId>& victims) {
  std::uint64_t freed = 0;
  for (ModelId model = list_.back(); model != kNoModel && freed < needed_bytes;
       model = list_.prev(model)) {
    if (cache.pinned(model)) continue;
    victims.push_back(model);
    freed += cache.bytes_of(model);
  }
  // Warm the records of the next likely victims (the models just before the tail).
  ModelId next = victims.empty() ? list_.back() : list_.prev(victims.back());
  for (int k = 0; k < 2 && next != kNoModel; ++k, next = list_.prev(next)) {
    list_.prefetch(next);
    cache.prefetch(next);
  }
}

}  // namespace brulee
