#pragma once
// Image classification helpers for POST /v2/models/{m}/classify: decode a JPEG or PNG,
// resize to the model's input, normalise as ImageNet models expect, and rank the output.
#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/backend.hpp"

namespace brulee::serve {

// Builds the input tensor for `spec` (FP32, NCHW [1,3,H,W] or NHWC [1,H,W,3]; -1 sizes become
// 224). RGB scaled to [0,1], then (x - mean) / std with the ImageNet mean and std.
// Throws UsageError if the bytes are not a decodable image or the spec is not an image input.
runtime::Tensor image_to_tensor(std::string_view encoded, const runtime::TensorSpec& spec);

struct ClassScore {
  std::size_t index = 0;
  double probability = 0.0;
};
// Softmax over the output's elements (FP32 or FP64), the k best first.
std::vector<ClassScore> top_k(const runtime::Tensor& output, std::size_t k);

}  // namespace brulee::serve
