#include "core/model_list.hpp"

#include "core/error.hpp"

namespace brulee {

void ModelList::grow(ModelId model) {
  if (model == kNoModel) throw CacheError("invalid model id");
  links_.resize(static_cast<std::size_t>(model) + 1);
  slots_ = links_.size();
}

}  // namespace brulee
