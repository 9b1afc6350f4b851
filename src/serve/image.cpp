#include "serve/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"

namespace brulee::serve {

runtime::Tensor image_to_tensor(std::string_view encoded, const runtime::TensorSpec& spec) {
  if (spec.dtype != runtime::DType::kFloat32 || spec.shape.size() != 4) {
    throw UsageError("input " + spec.name + " is not an FP32 image tensor of rank 4");
  }
  const bool nchw = spec.shape[1] == 3;
  const bool nhwc = !nchw && spec.shape[3] == 3;
  if (!nchw && !nhwc) throw UsageError("input " + spec.name + " does not have 3 channels");
  auto dim = [](std::int64_t value) { return value > 0 ? static_cast<int>(value) : 224; };
  const int height = dim(nchw ? spec.shape[2] : spec.shape[1]);
  const int width = dim(nchw ? spec.shape[3] : spec.shape[2]);
  if (encoded.empty()) throw UsageError("the request body is empty; send a JPEG or PNG image");
  const cv::Mat raw(1, static_cast<int>(encoded.size()), CV_8UC1,
                    const_cast<char*>(encoded.data()));
  cv::Mat image;
  try {
    image = cv::imdecode(raw, cv::IMREAD_COLOR);
  } catch (const cv::Exception&) {
    image.release();
  }
  if (image.empty())
    throw UsageError("the request body is not a JPEG or PNG image OpenCV can decode");
  cv::Mat resized, rgb, scaled;
  cv::resize(image, resized, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(scaled, CV_32FC3, 1.0 / 255.0);
  constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
  constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};
  runtime::Tensor tensor;
  tensor.name = spec.name;
  tensor.dtype = runtime::DType::kFloat32;
  tensor.shape = {1, nchw ? 3 : height, nchw ? height : width, nchw ? width : 3};
  const std::size_t pixels = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  std::vector<float> values(pixels * 3);
  for (int y = 0; y < height; ++y) {
    const auto* row = scaled.ptr<cv::Vec3f>(y);
    for (int x = 0; x < width; ++x) {
      const std::size_t p = static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
                            static_cast<std::size_t>(x);
      for (std::size_t c = 0; c < 3; ++c) {
        const float v = (row[x][static_cast<int>(c)] - kMean[c]) / kStd[c];
        values[nchw ? c * pixels + p : p * 3 + c] = v;
      }
    }
  }
  tensor.data.resize(values.size() * sizeof(float));
  std::memcpy(tensor.data.data(), values.data(), tensor.data.size());
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
