#pragma once
// The one next-use computation: for each request of a stream of model ids, the index of the
// same model's next request, or `never` if there is none. One backwards pass, one slot per
// model. Used by the simulator (its trace column), the policy demo, the replay client (which
// sends it to oracle policies on the server) and the tests.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model_info.hpp"

namespace brulee {

// next[i] = smallest j > i with models[j] == models[i], else `never`. `next` must be as long
// as `models`. Throws UsageError naming the request if a model id is not below `model_count`.
// `Index` must hold every index of the stream and `never` (callers check the length).
template <typename Index>
void fill_next_use(std::span<const ModelId> models, std::size_t model_count, std::span<Index> next,
                   Index never) {
  if (next.size() != models.size()) {
    throw UsageError("next-use output holds " + std::to_string(next.size()) + " slots for " +
                     std::to_string(models.size()) + " requests");
  }
  std::vector<Index> seen(model_count, never);
  for (std::size_t i = models.size(); i-- > 0;) {
    const ModelId model = models[i];
    if (model >= model_count) {
      throw UsageError("request " + std::to_string(i) + " names model id " + std::to_string(model) +
                       ", but the catalog has " + std::to_string(model_count) + " models");
    }
    next[i] = seen[model];
    seen[model] = static_cast<Index>(i);
  }
}

// The same, as a new vector of 64-bit indices with kNeverAgain for "never" (what
// RequestEvent::next_index takes).
inline std::vector<std::uint64_t> next_use_indices(std::span<const ModelId> models,
                                                   std::size_t model_count) {
  std::vector<std::uint64_t> next(models.size());
  fill_next_use<std::uint64_t>(models, model_count, next, kNeverAgain);
  return next;
}

}  // namespace brulee
