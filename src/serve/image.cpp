#include "serve/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "core/units.hpp"

namespace brulee::serve {

namespace {

unsigned byte_at(std::string_view bytes, std::size_t at) {
  return static_cast<unsigned char>(bytes[at]);
}
std::uint32_t big_endian_16(std::string_view bytes, std::size_t at) {
  return byte_at(bytes, at) << 8 | byte_at(bytes, at + 1);
}
std::uint32_t big_endian_32(std::string_view bytes, std::size_t at) {
  return big_endian_16(bytes, at) << 16 | big_endian_16(bytes, at + 2);
}

constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);
constexpr std::uint32_t kPngMaxLength = 0x7fffffff;  // PNG's largest chunk length and size
// libpng (Debian's build) stops inflating one text or iCCP chunk beyond 8,000,000 bytes; deflate
// expands a byte at most 1032 times.
constexpr std::uint64_t kPngInflateCapBytes = 8'000'000;
constexpr std::uint64_t kDeflateMaxRatio = 1032;
// OpenCV's EXIF reader copies the segment and up to eight string tags out of it.
constexpr std::uint64_t kExifCopies = 10;
constexpr std::uint64_t kJpegMaxSegmentBytes = 0xffff;

// PNG: signature, IHDR (the first chunk, 13 bytes), then every chunk's type and length.
ImageHeader read_png_header(std::string_view bytes) {
  constexpr std::size_t kIhdrEnd = 8 + 8 + 13 + 4;
  if (bytes.size() < kIhdrEnd) throw UsageError("the PNG image ends inside its header");
  if (big_endian_32(bytes, 8) != 13 || bytes.substr(12, 4) != "IHDR") {
    throw UsageError("the PNG image does not start with a valid IHDR chunk");
  }
  ImageHeader header;
  header.format = ImageFormat::kPng;
  header.width = big_endian_32(bytes, 16);
  header.height = big_endian_32(bytes, 20);
  const unsigned depth = byte_at(bytes, 24);
  const unsigned colour = byte_at(bytes, 25);
  if (header.width == 0 || header.height == 0 || header.width > kPngMaxLength ||
      header.height > kPngMaxLength) {
    throw UsageError("the PNG image declares an invalid size");
  }
  const bool depth_valid = [&] {
    switch (colour) {
      case 0:  // grey
        return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
      case 3:  // palette
        return depth == 1 || depth == 2 || depth == 4 || depth == 8;
      case 2:  // RGB
      case 4:  // grey + alpha
      case 6:  // RGBA
        return depth == 8 || depth == 16;
      default:
        return false;
    }
  }();
  if (!depth_valid || byte_at(bytes, 26) != 0 || byte_at(bytes, 27) != 0 ||
      byte_at(bytes, 28) > 1) {
    throw UsageError("the PNG image declares an invalid colour type, depth or method");
  }
  header.components = colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 1;
  // The chunks libpng copies or inflates (text, iCCP, eXIf, palettes, ...): its read buffer and
  // its stored copy. libpng allocates a chunk's buffer at the length the chunk declares, before
  // reading it: a chunk that runs past the end of the body is refused here (a 44-byte PNG
  // declaring a 973 MB iTXt chunk made it allocate 973 MB). IDAT is streamed through fixed
  // buffers. The walk stops at IEND; a partial chunk header after the last chunk is left to
  // libpng, which fails on it without allocating.
  std::size_t at = kIhdrEnd;
  while (bytes.size() - at >= 8) {
    const std::uint64_t length = big_endian_32(bytes, at);
    const std::string_view type = bytes.substr(at + 4, 4);
    if (length > kPngMaxLength)
      throw UsageError("the PNG image has a chunk longer than PNG allows");
    if (length + 12 > bytes.size() - at) {
      throw UsageError("the PNG image has a chunk that runs past the end of the body");
    }
    if (type == "IEND") break;
    if (type == "zTXt" || type == "iTXt" || type == "iCCP") {
      const std::uint64_t inflated = std::min(kPngInflateCapBytes, kDeflateMaxRatio * length);
      header.metadata_bytes += 2 * (inflated + 1024) + 2 * length;
    } else if (type == "eXIf") {
      header.exif = true;
      header.metadata_bytes += (2 + kExifCopies) * length + 1024;
    } else if (type != "IDAT") {
      header.metadata_bytes += 2 * length + 64;
    }
    at += 12 + static_cast<std::size_t>(length);
  }
  return header;
}

bool is_jpeg_frame_marker(unsigned marker) {  // SOF0..SOF15 but DHT, JPG and DAC
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// JPEG: SOI, then marker segments up to the first scan (SOS); the frame header (SOF) gives the
// size. The walk continues through the entropy-coded data to count scans and APP1 segments.
// Outside scans a marker must follow each segment directly, as libjpeg reads them: anything
// else is refused rather than guessed at.
ImageHeader read_jpeg_header(std::string_view bytes) {
  ImageHeader header;
  header.format = ImageFormat::kJpeg;
  bool have_frame = false;
  bool progressive = false;
  std::uint64_t coefficient_bytes = 0;
  bool scanning = false;
  const std::size_t size = bytes.size();
  std::size_t at = 2;
  const auto truncated = [] { return UsageError("the JPEG image ends inside its header"); };
  for (;;) {
    if (scanning) {
      // The next marker: 0xFF followed by neither 0x00 (a stuffed byte) nor RSTn nor 0xFF.
      bool found = false;
      while (at + 1 < size) {
        const void* next = std::memchr(bytes.data() + at, 0xFF, size - at - 1);
        if (!next) break;
        at = static_cast<std::size_t>(static_cast<const char*>(next) - bytes.data());
        const unsigned following = byte_at(bytes, at + 1);
        if (following == 0x00 || (following >= 0xD0 && following <= 0xD7)) {
          at += 2;
        } else if (following == 0xFF) {
          ++at;
        } else {
          found = true;
          break;
        }
      }
      if (!found) break;  // the data ends inside a scan: the decoder reports it
    } else {
      if (at >= size) throw truncated();
      if (byte_at(bytes, at) != 0xFF) {
        throw UsageError("the JPEG image has no marker where one must be (byte " +
                         std::to_string(at) + ")");
      }
    }
    while (at < size && byte_at(bytes, at) == 0xFF) ++at;  // fill bytes
    if (at >= size) {
      if (scanning) break;
      throw truncated();
    }
    const unsigned marker = byte_at(bytes, at++);
    if (marker == 0xD9) break;                                           // EOI
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0xD8 || marker == 0x00) {
      throw UsageError("the JPEG image has an unexpected marker (byte " + std::to_string(at) + ")");
    }
    if (size - at < 2 || size - at < big_endian_16(bytes, at)) {
      // After the first scan the decoder reports the truncation, having allocated at most one
      // segment (64 KiB) for it.
      if (!scanning) throw truncated();
      header.metadata_bytes += 2 * kJpegMaxSegmentBytes;
      break;
    }
    const std::size_t length = big_endian_16(bytes, at);
    if (length < 2) throw UsageError("the JPEG image has a marker segment shorter than 2 bytes");
    const std::string_view segment = bytes.substr(at + 2, length - 2);
    if (is_jpeg_frame_marker(marker)) {
      if (have_frame) throw UsageError("the JPEG image has more than one frame header");
      if (segment.size() < 6) throw UsageError("the JPEG image has a short frame header");
      header.height = big_endian_16(segment, 1);
      header.width = big_endian_16(segment, 3);
      header.components = byte_at(segment, 5);
      if (header.width == 0 || header.height == 0) {
        throw UsageError("the JPEG image does not declare its size in its frame header");
      }
      if (header.components != 1 && header.components != 3 && header.components != 4) {
        throw UsageError("the JPEG image has " + std::to_string(header.components) +
                         " colour components (1, 3 or 4 are supported)");
      }
      if (segment.size() < 6 + 3 * std::size_t{header.components}) {
        throw UsageError("the JPEG image has a short frame header");
      }
      // libjpeg's whole-image buffer: per component, its 8x8 blocks (at its sampling factors,
      // rounded up to whole MCUs) of 64 two-byte coefficients.
      unsigned max_h = 1, max_v = 1;
      for (std::size_t c = 0; c < header.components; ++c) {
        const unsigned h = byte_at(segment, 7 + 3 * c) >> 4, v = byte_at(segment, 7 + 3 * c) & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4) {
          throw UsageError("the JPEG image has invalid sampling factors");
        }
        max_h = std::max(max_h, h);
        max_v = std::max(max_v, v);
      }
      for (std::size_t c = 0; c < header.components; ++c) {
        const std::uint64_t h = byte_at(segment, 7 + 3 * c) >> 4,
                            v = byte_at(segment, 7 + 3 * c) & 15;
        const auto blocks = [](std::uint64_t pixels, std::uint64_t sampling, std::uint64_t max) {
          const std::uint64_t count = (pixels * sampling + 8 * max - 1) / (8 * max);
          return (count + sampling - 1) / sampling * sampling;
        };
        coefficient_bytes += blocks(header.width, h, max_h) * blocks(header.height, v, max_v) * 128;
      }
      have_frame = true;
      progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE;
    } else if (marker == 0xDA) {  // SOS
      if (!have_frame) throw UsageError("the JPEG image has a scan before its frame header");
      if (segment.empty()) throw UsageError("the JPEG image has a short scan header");
      // A first scan without every component means more scans: libjpeg buffers the whole image.
      if (header.jpeg_scans == 0 && byte_at(segment, 0) < header.components) {
        header.jpeg_whole_image = true;
      }
      ++header.jpeg_scans;
      scanning = true;
    } else if (marker == 0xE1) {  // APP1: libjpeg keeps it for OpenCV, which reads EXIF from it
      const bool exif = segment.substr(0, 6) == std::string_view("Exif\0\0", 6);
      header.exif = header.exif || exif;
      header.metadata_bytes += (exif ? 2 + kExifCopies : 2) * length + 64;
    }
    at += length;
  }
  if (!have_frame) throw UsageError("the JPEG image has no frame header (SOF)");
  if (header.jpeg_scans == 0) throw UsageError("the JPEG image has no image data (no scan)");
  header.jpeg_whole_image = header.jpeg_whole_image || progressive || header.jpeg_scans > 1;
  if (header.jpeg_whole_image) header.jpeg_coefficient_bytes = coefficient_bytes;
  return header;
}

struct ImageInput {
  bool nchw = true;
  int height = 0;
  int width = 0;
};

ImageInput image_input(const runtime::TensorSpec& spec) {
  if (spec.dtype != runtime::DType::kFloat32 || spec.shape.size() != 4) {
    throw UsageError("input " + spec.name + " is not an FP32 image tensor of rank 4");
  }
  ImageInput input;
  input.nchw = spec.shape[1] == 3;
  if (!input.nchw && spec.shape[3] != 3) {
    throw UsageError("input " + spec.name + " does not have 3 channels");
  }
  constexpr std::int64_t kDefaultSide = 224;
  constexpr std::int64_t kMaxSide = 65535;
  const auto side = [&](std::int64_t value) {
    if (value > kMaxSide) {
      throw UsageError("input " + spec.name + " asks for an image side of " +
                       std::to_string(value) + " pixels, more than " + std::to_string(kMaxSide));
    }
    return static_cast<int>(value > 0 ? value : kDefaultSide);
  };
  input.height = side(input.nchw ? spec.shape[2] : spec.shape[1]);
  input.width = side(input.nchw ? spec.shape[3] : spec.shape[2]);
  return input;
}

}  // namespace

ImageHeader read_image_header(std::string_view encoded) {
  if (encoded.empty()) throw UsageError("the request body is empty; send a JPEG or PNG image");
  if (encoded.substr(0, kPngSignature.size()) == kPngSignature) return read_png_header(encoded);
  if (encoded.size() >= 3 && byte_at(encoded, 0) == 0xFF && byte_at(encoded, 1) == 0xD8 &&
      byte_at(encoded, 2) == 0xFF) {
    return read_jpeg_header(encoded);
  }
  throw UsageError("the request body is not a JPEG or PNG image");
}

void check_image_limits(const ImageHeader& header, const ImageLimits& limits) {
  if (header.pixels() > limits.max_pixels) {
    throw UsageError("the image is " + std::to_string(header.width) + "x" +
                     std::to_string(header.height) + " pixels, more than the limit of " +
                     std::to_string(limits.max_pixels) + " pixels");
  }
  if (header.jpeg_scans > limits.max_jpeg_scans) {
    throw UsageError("the JPEG image has " + std::to_string(header.jpeg_scans) +
                     " scans, more than the limit of " + std::to_string(limits.max_jpeg_scans));
  }
  if (header.metadata_bytes > limits.max_metadata_bytes) {
    throw UsageError("the image's metadata could take " + format_bytes(header.metadata_bytes) +
                     " to decode, more than the limit of " +
                     format_bytes(limits.max_metadata_bytes));
  }
}

std::uint64_t image_decode_bytes(const ImageHeader& header, const runtime::TensorSpec& spec) {
  const ImageInput input = image_input(spec);
  const std::uint64_t width = header.width;
  const std::uint64_t components = std::max<std::uint64_t>(header.components, 1);
  // The decoded 8-bit BGR image (cv::Mat, 64-byte aligned) lives throughout. Beside it, one at a
  // time: the decoder's buffers; the rotated copy when EXIF asks for one (the decoder's buffers
  // are gone by then); the resized, RGB, float and tensor copies at the model's input size
  // (3 + 3 + 12 + 12 bytes a pixel).
  const std::uint64_t image = 3 * header.pixels() + 64;
  std::uint64_t decoder = 0;
  if (header.format == ImageFormat::kJpeg) {
    // Row buffers (context rows, upsampling, colour conversion), and the coefficients.
    decoder =
        128 * (width + 64) * std::max<std::uint64_t>(components, 3) + header.jpeg_coefficient_bytes;
  } else {
    // Two rows at up to 8 bytes a pixel, a row pointer per line, zlib's window and state.
    decoder = 2 * (8 * width + 64) + 8 * std::uint64_t{header.height} + (64 << 10);
  }
  const std::uint64_t rotated = header.exif ? image : 0;
  const std::uint64_t preprocessed = 30 * std::uint64_t(input.width) * std::uint64_t(input.height);
  constexpr std::uint64_t kFixedBytes = 1 << 20;  // decoder structures, resize's tables
  return image + std::max({decoder, rotated, preprocessed}) + header.metadata_bytes + kFixedBytes;
}

runtime::Tensor image_to_tensor(std::string_view encoded, const runtime::TensorSpec& spec,
                                const ImageLimits& limits) {
  const ImageInput input = image_input(spec);
  const int height = input.height;
  const int width = input.width;
  if (std::uint64_t(width) * std::uint64_t(height) > limits.max_pixels) {
    throw UsageError("input " + spec.name + " asks for more pixels than the limit of " +
                     std::to_string(limits.max_pixels));
  }
  const ImageHeader header = read_image_header(encoded);
  check_image_limits(header, limits);
  const cv::Mat raw(1, static_cast<int>(encoded.size()), CV_8UC1,
                    const_cast<char*>(encoded.data()));
  cv::Mat image;
  try {
    image = cv::imdecode(raw, cv::IMREAD_COLOR);
  } catch (const cv::Exception&) {
    image.release();
  }
  if (image.empty()) throw UsageError("the request body is not a JPEG or PNG image that decodes");
  const auto decoded_width = static_cast<std::uint32_t>(image.cols);
  const auto decoded_height = static_cast<std::uint32_t>(image.rows);
  const bool as_declared = (decoded_width == header.width && decoded_height == header.height) ||
                           (decoded_width == header.height && decoded_height == header.width);
  if (!as_declared) throw UsageError("the image decodes to another size than its header declares");
  cv::Mat resized, rgb, scaled;
  cv::resize(image, resized, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  image.release();
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  resized.release();
  rgb.convertTo(scaled, CV_32FC3, 1.0 / 255.0);
  rgb.release();
  constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
  constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};
  runtime::Tensor tensor;
  tensor.name = spec.name;
  tensor.dtype = runtime::DType::kFloat32;
  const bool nchw = input.nchw;
  tensor.shape = {1, nchw ? 3 : height, nchw ? height : width, nchw ? width : 3};
  const std::size_t pixels = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  tensor.data.resize(pixels * 3 * sizeof(float));
  for (int y = 0; y < height; ++y) {
    const auto* row = scaled.ptr<cv::Vec3f>(y);
    for (int x = 0; x < width; ++x) {
      const std::size_t p = static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
                            static_cast<std::size_t>(x);
      for (std::size_t c = 0; c < 3; ++c) {
        const float v = (row[x][static_cast<int>(c)] - kMean[c]) / kStd[c];
        const std::size_t index = nchw ? c * pixels + p : p * 3 + c;
        std::memcpy(tensor.data.data() + index * sizeof(float), &v, sizeof v);
      }
    }
  }
  return tensor;
}

std::vector<ClassScore> top_k(const runtime::Tensor& output, std::size_t k) {
  std::vector<double> logits;
  if (output.dtype == runtime::DType::kFloat32) {
    logits.resize(output.data.size() / sizeof(float));
    for (std::size_t i = 0; i < logits.size(); ++i) {
      float v;
      std::memcpy(&v, output.data.data() + i * sizeof(float), sizeof(float));
      logits[i] = v;
    }
  } else if (output.dtype == runtime::DType::kFloat64) {
    logits.resize(output.data.size() / sizeof(double));
    std::memcpy(logits.data(), output.data.data(), logits.size() * sizeof(double));
  } else {
    throw UsageError("output " + output.name + " is not a floating-point score tensor");
  }
  if (logits.empty()) return {};
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (double& v : logits) {
    v = std::exp(v - top);
    sum += v;
  }
  std::vector<ClassScore> scores(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) scores[i] = {i, logits[i] / sum};
  k = std::min(k, scores.size());
  std::partial_sort(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(k), scores.end(),
                    [](const ClassScore& a, const ClassScore& b) {
                      return a.probability > b.probability ||
                             (a.probability == b.probability && a.index < b.index);
                    });
  scores.resize(k);
  return scores;
}

}  // namespace brulee::serve
