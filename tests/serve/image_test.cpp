// /classify's image path: PNG and JPEG only (by magic bytes), size read from the header (PNG
// IHDR, JPEG SOF) and checked against the caps before anything is decoded, decode bytes known.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/error.hpp"
#include "serve/image.hpp"

namespace brulee::serve {
namespace {

using ::testing::StrEq;
using ::testing::ThrowsMessage;

const runtime::TensorSpec kNchw{"input", runtime::DType::kFloat32, {1, 3, 224, 224}};

std::string encode(const cv::Mat& image, const std::string& extension,
                   const std::vector<int>& parameters = {}) {
  std::vector<unsigned char> bytes;
  if (!cv::imencode(extension, image, bytes, parameters)) return {};
  return std::string(bytes.begin(), bytes.end());
}

cv::Mat gradient(int width, int height, int type = CV_8UC3) {
  cv::Mat image(height, width, type);
  cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(255));
  return image;
}

void put_big_endian_32(std::string& bytes, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(value >> (24 - 8 * i));
}

std::uint32_t crc32(std::string_view bytes) {  // PNG's CRC (ISO 3309), bit by bit
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

// A valid PNG whose IHDR (CRC included, so libpng would accept it) declares another size.
std::string png_declaring(std::uint32_t width, std::uint32_t height) {
  std::string png = encode(gradient(8, 8), ".png");
  put_big_endian_32(png, 16, width);
  put_big_endian_32(png, 20, height);
  put_big_endian_32(png, 29, crc32(std::string_view(png).substr(12, 17)));
  return png;
}

void append_chunk(std::string& png, std::string_view type, std::string_view data) {
  std::string chunk(4, '\0');
  put_big_endian_32(chunk, 0, static_cast<std::uint32_t>(data.size()));
  chunk.append(type).append(data);
  const std::uint32_t crc = crc32(std::string_view(chunk).substr(4));
  chunk.resize(chunk.size() + 4);
  put_big_endian_32(chunk, chunk.size() - 4, crc);
  png += chunk;
}

// A real black RGB PNG of width x height pixels, deflated row by row (never whole in memory):
// 14000x14000 is 561 MiB decoded and 2.5 MB encoded.
std::string black_png(std::uint32_t width, std::uint32_t height) {
  std::string ihdr(13, '\0');
  put_big_endian_32(ihdr, 0, width);
  put_big_endian_32(ihdr, 4, height);
  ihdr[8] = 8;  // depth
  ihdr[9] = 2;  // RGB
  z_stream stream{};
  deflateInit(&stream, Z_BEST_SPEED);
  std::string row(1 + 3 * std::size_t{width}, '\0'), idat;
  std::vector<unsigned char> out(1 << 16);
  for (std::uint32_t y = 0; y <= height; ++y) {
    stream.next_in = reinterpret_cast<Bytef*>(row.data());
    stream.avail_in = y < height ? static_cast<uInt>(row.size()) : 0;
    const int flush = y < height ? Z_NO_FLUSH : Z_FINISH;
    do {
      stream.next_out = out.data();
      stream.avail_out = static_cast<uInt>(out.size());
      deflate(&stream, flush);
      idat.append(reinterpret_cast<const char*>(out.data()), out.size() - stream.avail_out);
    } while (stream.avail_out == 0);
  }
  deflateEnd(&stream);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  append_chunk(png, "IHDR", ihdr);
  append_chunk(png, "IDAT", idat);
  append_chunk(png, "IEND", "");
  return png;
}

long max_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Offset of the JPEG's frame header (SOF0 or SOF2) marker.
std::size_t sof_offset(const std::string& jpeg) {
  for (std::size_t i = 2; i + 1 < jpeg.size(); ++i) {
    const auto marker = static_cast<unsigned char>(jpeg[i + 1]);
    if (static_cast<unsigned char>(jpeg[i]) == 0xFF && (marker == 0xC0 || marker == 0xC2)) {
      return i;
    }
  }
  return 0;
}

TEST(ServeImage, ReadsPngAndJpegSizeFromTheHeader) {
  const cv::Mat colour = gradient(37, 21);
  ImageHeader header = read_image_header(encode(colour, ".png"));
  EXPECT_EQ(header.format, ImageFormat::kPng);
  EXPECT_EQ(header.width, 37u);
  EXPECT_EQ(header.height, 21u);
  EXPECT_EQ(header.components, 3u);
  EXPECT_EQ(read_image_header(encode(gradient(5, 3, CV_8UC1), ".png")).components, 1u);
  EXPECT_EQ(read_image_header(encode(gradient(5, 3, CV_8UC4), ".png")).components, 4u);

  header = read_image_header(encode(colour, ".jpg"));
  EXPECT_EQ(header.format, ImageFormat::kJpeg);
  EXPECT_EQ(header.width, 37u);
  EXPECT_EQ(header.height, 21u);
  EXPECT_EQ(header.components, 3u);
  EXPECT_EQ(header.jpeg_scans, 1u);
  EXPECT_FALSE(header.jpeg_whole_image);
  EXPECT_EQ(read_image_header(encode(gradient(5, 3, CV_8UC1), ".jpg")).components, 1u);

  const ImageHeader progressive =
      read_image_header(encode(colour, ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  EXPECT_EQ(progressive.width, 37u);
  EXPECT_GT(progressive.jpeg_scans, 1u);
  EXPECT_TRUE(progressive.jpeg_whole_image);
  EXPECT_EQ(header.jpeg_coefficient_bytes, 0u);
  // OpenCV writes 4:2:0: luma 6x4 blocks (rounded to 2x2 MCUs), each chroma 3x2; 128 bytes each.
  EXPECT_EQ(progressive.jpeg_coefficient_bytes, (6 * 4 + 2 * 3 * 2) * 128u);
  // That whole-image buffer is part of what decoding costs.
  const cv::Mat large = gradient(1000, 800);
  EXPECT_GT(image_decode_bytes(
                read_image_header(encode(large, ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1})), kNchw),
            image_decode_bytes(read_image_header(encode(large, ".jpg")), kNchw) + 1'000'000);
}

// Before the fix: a PNG declaring 14000x14000 pixels made OpenCV allocate its 561 MiB image
// before finding that the data was missing. Now the header is read and the request refused
// without decoding; image_decode_bytes tells what the decode would have taken.
TEST(ServeImage, HugeDeclaredSizesAreRefusedWithoutDecoding) {
  const std::string png = png_declaring(14000, 14000);
  const ImageHeader header = read_image_header(png);
  EXPECT_EQ(header.width, 14000u);
  EXPECT_GE(image_decode_bytes(header, kNchw), std::uint64_t{14000} * 14000 * 3);
  EXPECT_THAT([&] { image_to_tensor(png, kNchw); },
              ThrowsMessage<UsageError>(StrEq(
                  "the image is 14000x14000 pixels, more than the limit of 16777216 pixels")));

  std::string jpeg = encode(gradient(16, 16), ".jpg");
  const std::size_t sof = sof_offset(jpeg);
  ASSERT_GT(sof, 0u);
  jpeg[sof + 5] = jpeg[sof + 7] = static_cast<char>(0xEA);  // 60000 = 0xEA60
  jpeg[sof + 6] = jpeg[sof + 8] = static_cast<char>(0x60);
  EXPECT_THAT([&] { image_to_tensor(jpeg, kNchw); },
              ThrowsMessage<UsageError>(StrEq(
                  "the image is 60000x60000 pixels, more than the limit of 16777216 pixels")));
}

// The same with a real image: before the fix, decoding it took +573 MiB of RSS and 4 s, then
// the request went on. Now it is refused from its header; the process's peak RSS does not move.
TEST(ServeImage, HugeRealImageIsRefusedBeforeItsPixelsAreAllocated) {
  const std::string png = black_png(14000, 14000);
  ASSERT_LT(png.size(), 4u << 20);
  const long before_kib = max_rss_kib();
  EXPECT_THROW(image_to_tensor(png, kNchw), UsageError);
  EXPECT_LT(max_rss_kib() - before_kib, 64 << 10);
  // A small one decodes: the encoder above is sound.
  EXPECT_NO_THROW(image_to_tensor(black_png(40, 30), kNchw));
}

TEST(ServeImage, CapsAreParameters) {
  const std::string png = encode(gradient(37, 21), ".png");
  const runtime::TensorSpec small{"input", runtime::DType::kFloat32, {1, 3, 8, 8}};
  ImageLimits limits;
  limits.max_pixels = 37 * 21 - 1;
  EXPECT_THAT([&] { image_to_tensor(png, small, limits); },
              ThrowsMessage<UsageError>(
                  StrEq("the image is 37x21 pixels, more than the limit of 776 pixels")));
  limits.max_pixels = 37 * 21;
  EXPECT_EQ(image_to_tensor(png, small, limits).data.size(), 3u * 8 * 8 * sizeof(float));
  // The model's own input size counts against the cap too.
  EXPECT_THROW(image_to_tensor(png, kNchw, limits), UsageError);

  const std::string progressive =
      encode(gradient(37, 21), ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  limits = ImageLimits{};
  EXPECT_NO_THROW(image_to_tensor(progressive, kNchw, limits));
  limits.max_jpeg_scans = 1;
  EXPECT_THROW(image_to_tensor(progressive, kNchw, limits), UsageError);
}

// Before the fix any format OpenCV decodes was taken (BMP, PPM, TIFF, ...), each with its own
// decoder's memory behaviour. Now the magic bytes decide.
TEST(ServeImage, OnlyPngAndJpegAreAccepted) {
  const cv::Mat image = gradient(16, 16);
  for (const char* extension : {".bmp", ".ppm", ".tiff", ".webp", ".sr"}) {
    const std::string bytes = encode(image, extension);
    if (bytes.empty()) continue;  // no encoder for it in this OpenCV
    EXPECT_THAT([&] { image_to_tensor(bytes, kNchw); },
                ThrowsMessage<UsageError>(StrEq("the request body is not a JPEG or PNG image")))
        << extension;
  }
  for (const std::string& bytes : {std::string("GIF89a\x01\x00\x01\x00", 10), std::string("hello"),
                                   std::string("\x89PNG", 4), std::string("\xFF\xD8", 2)}) {
    EXPECT_THROW(read_image_header(bytes), UsageError);
  }
  EXPECT_THAT(
      [] { read_image_header(""); },
      ThrowsMessage<UsageError>(StrEq("the request body is empty; send a JPEG or PNG image")));
}

TEST(ServeImage, MalformedHeadersAreRefused) {
  const std::string png = encode(gradient(16, 16), ".png");
  EXPECT_THROW(read_image_header(png.substr(0, 30)), UsageError);  // ends inside IHDR
  std::string bad = png;
  bad[11] = 12;  // IHDR length
  EXPECT_THROW(read_image_header(bad), UsageError);
  EXPECT_THROW(read_image_header(png_declaring(0, 16)), UsageError);
  EXPECT_THROW(read_image_header(png_declaring(0x80000000u, 16)), UsageError);
  bad = png;
  bad[25] = 5;  // colour type
  EXPECT_THROW(read_image_header(bad), UsageError);
  // Found by the image fuzz target: libpng allocates a chunk's declared length before reading
  // it, so a 44-byte PNG declaring a 973 MB iTXt chunk allocated 973 MB. Chunks must fit in the
  // body.
  std::string lying = png.substr(0, 33);
  lying.append("\x3a\x00\x00\x53iTXt\x23\x91\x00", 11);
  EXPECT_THAT([&] { read_image_header(lying); },
              ThrowsMessage<UsageError>(
                  StrEq("the PNG image has a chunk that runs past the end of the body")));
  EXPECT_THROW(read_image_header(png.substr(0, png.size() - 1)), UsageError);  // IEND cut

  const std::string jpeg = encode(gradient(16, 16), ".jpg");
  const std::size_t sof = sof_offset(jpeg);
  EXPECT_THROW(read_image_header(jpeg.substr(0, sof + 4)), UsageError);  // ends inside SOF
  bad = jpeg;
  bad[sof + 5] = bad[sof + 6] = 0;  // height 0 (defined later by DNL: not supported)
  EXPECT_THROW(read_image_header(bad), UsageError);
  bad = jpeg;
  bad.insert(2, "junk");  // no marker after SOI
  EXPECT_THROW(read_image_header(bad), UsageError);
  bad = jpeg;
  bad[sof + 1] = static_cast<char>(0xFE);  // the frame header becomes a comment: no SOF
  EXPECT_THROW(read_image_header(bad), UsageError);
  bad = jpeg;
  bad[sof + 9] = 2;  // two components
  EXPECT_THROW(read_image_header(bad), UsageError);
}

// A compressed text chunk may inflate to 1032 times its size (8 MB at most in libpng): counted
// in metadata_bytes and capped.
TEST(ServeImage, CompressedPngMetadataIsCountedAndCapped) {
  const std::string png = encode(gradient(16, 16), ".png");
  std::string chunk(12 + 5000, '\0');
  put_big_endian_32(chunk, 0, 5000);
  chunk.replace(4, 4, "zTXt");
  std::string with_text = png;
  with_text.insert(33, chunk);  // after IHDR
  const ImageHeader header = read_image_header(with_text);
  EXPECT_GE(header.metadata_bytes, 8'000'000u);
  EXPECT_GT(image_decode_bytes(header, kNchw), header.metadata_bytes);
  ImageLimits limits;
  limits.max_metadata_bytes = 1 << 20;
  EXPECT_THROW(check_image_limits(header, limits), UsageError);
  EXPECT_NO_THROW(check_image_limits(header, ImageLimits{}));
}

TEST(ServeImage, DecodesToTheModelInput) {
  const cv::Mat red(10, 20, CV_8UC3, cv::Scalar(0, 0, 255));  // BGR
  const float expected[3] = {(1.0f - 0.485f) / 0.229f, (0.0f - 0.456f) / 0.224f,
                             (0.0f - 0.406f) / 0.225f};
  for (const char* extension : {".png", ".jpg"}) {
    const runtime::Tensor nchw = image_to_tensor(encode(red, extension), kNchw);
    EXPECT_EQ(nchw.shape, (std::vector<std::int64_t>{1, 3, 224, 224}));
    const runtime::TensorSpec nhwc_spec{"input", runtime::DType::kFloat32, {1, 8, 6, 3}};
    const runtime::Tensor nhwc = image_to_tensor(encode(red, extension), nhwc_spec);
    EXPECT_EQ(nhwc.shape, (std::vector<std::int64_t>{1, 8, 6, 3}));
    for (std::size_t c = 0; c < 3; ++c) {
      float first_of_plane, first_of_pixel;
      std::memcpy(&first_of_plane, nchw.data.data() + c * 224 * 224 * sizeof(float), 4);
      std::memcpy(&first_of_pixel, nhwc.data.data() + c * sizeof(float), 4);
      EXPECT_NEAR(first_of_plane, expected[c], 0.05) << extension << " channel " << c;
      EXPECT_NEAR(first_of_pixel, expected[c], 0.05) << extension << " channel " << c;
    }
  }
  const runtime::TensorSpec not_image{"input", runtime::DType::kFloat32, {1, 4, 8, 8}};
  EXPECT_THROW(image_to_tensor(encode(red, ".png"), not_image), UsageError);
  const runtime::TensorSpec huge{"input", runtime::DType::kFloat32, {1, 3, 100000, 8}};
  EXPECT_THROW(image_to_tensor(encode(red, ".png"), huge), UsageError);
}

}  // namespace
}  // namespace brulee::serve
