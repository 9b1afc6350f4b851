// /classify's image path (image.hpp) on arbitrary bytes: header sniffing (PNG IHDR and chunks,
// JPEG markers), the caps, then OpenCV's decode and the preprocessing:
// - only a UsageError escapes, never a sanitizer report;
// - the decode's peak heap (OpenCV, libpng, libjpeg included) stays within image_decode_bytes.
// A small pixel cap keeps executions fast; the bound is checked all the same.
#include <cstdint>
#include <string_view>

#include <opencv2/core.hpp>

#include "check.hpp"
#include "core/error.hpp"
#include "serve/image.hpp"

using namespace brulee::serve;
using brulee::fuzz::fail;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::setNumThreads(0);  // decode and resize on the calling thread
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  static const brulee::runtime::TensorSpec spec{
      "input", brulee::runtime::DType::kFloat32, {1, 3, 32, 32}};
  ImageLimits limits;
  limits.max_pixels = 512 * 512;
  limits.max_metadata_bytes = 32 << 20;
  ImageHeader header;
  try {
    header = read_image_header(bytes);
    check_image_limits(header, limits);
  } catch (const brulee::UsageError&) {
    return 0;
  }
  const std::uint64_t bound = image_decode_bytes(header, spec);
  brulee::fuzz::HeapPeak heap;
  try {
    const brulee::runtime::Tensor tensor = image_to_tensor(bytes, spec, limits);
    if (tensor.data.size() != 3 * 32 * 32 * sizeof(float)) {
      fail("image_to_tensor returned a tensor of the wrong size");
    }
  } catch (const brulee::UsageError&) {
  }
  heap.expect_at_most(bound, "image_to_tensor");
  return 0;
}
