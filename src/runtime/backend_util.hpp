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
// The same tensors filled with seeded values of the kind `brulee replay` sends (floats uniform in
// [0, 1), integers 0-9, booleans 0 or 1). Timings are taken on these: an inference's time can
// depend on the values (a TorchScript squeezenet1_1 runs 1.45x longer on random values than on
// zeros; docs/fidelity.md, "Inputs of zeros").
std::vector<Tensor> sample_inputs(const std::vector<TensorSpec>& specs, std::uint64_t seed);
// True when every dimension of every spec is known.
bool fully_known(const std::vector<TensorSpec>& specs);

}  // namespace brulee::runtime
