#pragma once
// Helpers shared by the backends (not part of the contract in backend.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/backend.hpp"

namespace brulee::runtime {

// Product of the dimensions; throws UsageError on a negative dimension or a product above
// kMaxTensorElements (runtime/dtype.hpp).
std::uint64_t element_count(const std::vector<std::int64_t>& shape);
std::string shape_text(const std::vector<std::int64_t>& shape);
// Checks names, dtypes, shapes (-1 matches any size) and data sizes of `inputs` against `specs`;
// returns, for each spec, the index of its tensor in `inputs`. Throws UsageError naming the
// problem.
std::vector<std::size_t> match_inputs(const std::vector<TensorSpec>& specs,
                                      const std::vector<Tensor>& inputs);
// Zero-filled tensors for a warm-up inference (-1 dimensions become 1).
std::vector<Tensor> warmup_inputs(const std::vector<TensorSpec>& specs);
// True when every dimension of every spec is known.
bool fully_known(const std::vector<TensorSpec>& specs);

}  // namespace brulee::runtime
