#pragma once
// The libraries called directly, with none of brulee's bookkeeping (metadata, measurement, mutex):
// the baseline of the load-time benchmark (bench/runtime/load_bench.cpp). Each loads the file,
// runs one inference on zeros of `input_shape` (FP32), drops the model, and returns the seconds
// from the start of the load to the end of that inference.
#include <cstdint>
#include <string>
#include <vector>

namespace brulee::runtime::direct {

double onnx_load_and_warm_s(const std::string& path, const std::vector<std::int64_t>& input_shape);
double torchscript_load_and_warm_s(const std::string& path,
                                   const std::vector<std::int64_t>& input_shape);

}  // namespace brulee::runtime::direct
