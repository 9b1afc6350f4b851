#pragma once
// Image classification helpers for POST /v2/models/{m}/classify: decode a JPEG or PNG,
// resize to the model's input, normalise as ImageNet models expect, and rank the output.
// Only PNG and JPEG are accepted (by their magic bytes), and their size is read from the header
// (PNG IHDR, JPEG SOF) before anything is decoded: an image above the pixel cap is refused
// without decoding, and image_decode_bytes bounds what a decode will allocate.
#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/backend.hpp"

namespace brulee::serve {

enum class ImageFormat { kPng, kJpeg };

struct ImageHeader {
  ImageFormat format = ImageFormat::kPng;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t components = 0;  // samples per pixel as stored (PNG colour type, JPEG frame)
  // JPEG: start-of-scan markers in the file. A progressive or multi-scan JPEG is decoded
  // through a buffer holding the whole image's DCT coefficients (2 bytes per sample, per
  // component at its sampling): jpeg_coefficient_bytes, 0 otherwise.
  std::uint32_t jpeg_scans = 0;
  bool jpeg_whole_image = false;
  std::uint64_t jpeg_coefficient_bytes = 0;
  bool exif = false;  // EXIF present: OpenCV may rotate the decoded image (one more copy)
  // Upper bound of the bytes the decoder copies or inflates out of metadata (PNG text, iCCP and
  // eXIf chunks; JPEG APP1 segments, which OpenCV keeps for EXIF).
  std::uint64_t metadata_bytes = 0;

  std::uint64_t pixels() const { return std::uint64_t{width} * height; }
};

struct ImageLimits {
  std::uint64_t max_pixels = std::uint64_t{4096} * 4096;  // width x height of the image
  std::uint32_t max_jpeg_scans = 256;  // each progressive scan is one more pass over the image
  std::uint64_t max_metadata_bytes = std::uint64_t{64} << 20;
};

// Reads the format and size from the first bytes (PNG signature + IHDR, JPEG SOI + markers up
// to SOF) and walks the chunk/marker structure for scans and metadata, decoding nothing.
// Throws UsageError unless the bytes are a PNG or a JPEG with a well-formed header.
ImageHeader read_image_header(std::string_view encoded);

// Throws UsageError (a 400 answer) if the image is beyond `limits`.
void check_image_limits(const ImageHeader& header, const ImageLimits& limits);

// Upper bound of the heap bytes image_to_tensor holds at its peak for this image and input spec:
// the decoded image (and its rotated copy), the decoder's buffers and metadata, the resized and
// normalised copies and the tensor. Charge it to a memory budget before decoding.
std::uint64_t image_decode_bytes(const ImageHeader& header, const runtime::TensorSpec& spec);

// Builds the input tensor for `spec` (FP32, NCHW [1,3,H,W] or NHWC [1,H,W,3]; -1 sizes become
// 224). RGB scaled to [0,1], then (x - mean) / std with the ImageNet mean and std.
// Throws UsageError if the bytes are not a PNG or JPEG within `limits` that decodes, or the spec
// is not an image input (or asks for more pixels than limits.max_pixels).
runtime::Tensor image_to_tensor(std::string_view encoded, const runtime::TensorSpec& spec,
                                const ImageLimits& limits = {});

struct ClassScore {
  std::size_t index = 0;
  double probability = 0.0;
};
// Softmax over the output's elements (FP32 or FP64), the k best first.
std::vector<ClassScore> top_k(const runtime::Tensor& output, std::size_t k);

}  // namespace brulee::serve
