// ONNX models through OpenCV's DNN module (docs/runtime.md).
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/error.hpp"
#include "core/seconds.hpp"
#include "runtime/backend_util.hpp"
#include "runtime/direct.hpp"
#include "runtime/memory.hpp"
#include "runtime/onnx_opencv/onnx_metadata.hpp"

namespace brulee::runtime {
namespace {

// The model file mapped read-only: the metadata reader and OpenCV's parser read it in place
// (no copy of the file into the heap; warm page cache pages are shared, not duplicated).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    std::error_code error;
    if (!std::filesystem::exists(path, error))
      throw std::runtime_error(path + ": cannot open: no such file");
    if (!std::filesystem::is_regular_file(path, error)) {
      throw std::runtime_error(path + ": cannot open: not a regular file");
    }
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0)
      throw std::runtime_error(path + ": cannot stat: " + std::strerror(errno));
    if (info.st_size <= 0) {
      ::close(fd_);
      throw std::runtime_error(path + ": empty file");
    }
    size_ = static_cast<std::size_t>(info.st_size);
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (data_ == MAP_FAILED) {
      ::close(fd_);
      throw std::runtime_error(path + ": cannot map: " + std::strerror(errno));
    }
  }
  ~MappedFile() {
    ::munmap(data_, size_);
    ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  int fd_ = -1;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// cv::Exception::what() spans lines and names OpenCV's source file; keep the reason.
std::string opencv_reason(const cv::Exception& error) {
  std::string reason = error.err.empty() ? std::string(error.what()) : error.err;
  if (!error.func.empty()) reason += " (in " + error.func + ")";
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return "OpenCV: " + reason;
}

int cv_depth(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return CV_32F;
    case DType::kFloat64:
      return CV_64F;
    case DType::kInt32:
      return CV_32S;
    case DType::kUInt8:
      return CV_8U;
    case DType::kInt8:
      return CV_8S;
    default:
      throw std::runtime_error("OpenCV DNN cannot take " + std::string(dtype_name(dtype)) +
                               " tensors");
  }
}

DType dtype_of(int depth) {
  switch (depth) {
    case CV_32F:
      return DType::kFloat32;
    case CV_64F:
      return DType::kFloat64;
    case CV_32S:
      return DType::kInt32;
    case CV_8U:
      return DType::kUInt8;
    case CV_8S:
      return DType::kInt8;
    default:
      throw std::runtime_error("OpenCV DNN returned an unsupported element type " +
                               std::to_string(depth));
  }
}

void apply_threads(int intra_op_threads) {
  const int wanted = intra_op_threads > 0
                         ? intra_op_threads
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (cv::getNumThreads() != wanted) cv::setNumThreads(wanted);
}

cv::Mat to_mat(const Tensor& tensor) {
  std::vector<int> sizes;
  for (const auto dim : tensor.shape) sizes.push_back(static_cast<int>(dim));
  if (sizes.empty()) sizes.push_back(1);
  cv::Mat mat(static_cast<int>(sizes.size()), sizes.data(), cv_depth(tensor.dtype));
  std::memcpy(mat.data, tensor.data.data(), tensor.data.size());
  return mat;
}

Tensor to_tensor(const std::string& name, const cv::Mat& mat) {
  const cv::Mat dense = mat.isContinuous() ? mat : mat.clone();
  Tensor tensor;
  tensor.name = name;
  tensor.dtype = dtype_of(dense.depth());
  for (int d = 0; d < dense.dims; ++d) tensor.shape.push_back(dense.size[d]);
  const std::size_t bytes = dense.total() * dense.elemSize();
  tensor.data.resize(bytes);
  std::memcpy(tensor.data.data(), dense.data, bytes);
  return tensor;
}

struct OnnxGraph {
  cv::dnn::Net net;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<std::string> output_layers;  // what net.forward() is asked for, one per output
};

std::vector<Tensor> run(OnnxGraph& graph, const std::vector<Tensor>& inputs) {
  const auto order = match_inputs(graph.inputs, inputs);
  try {
    for (std::size_t s = 0; s < graph.inputs.size(); ++s) {
      graph.net.setInput(to_mat(inputs[order[s]]), graph.inputs[s].name);
    }
    std::vector<cv::Mat> results;
    graph.net.forward(results, graph.output_layers);
    std::vector<Tensor> outputs;
    for (std::size_t o = 0; o < results.size(); ++o) {
      const std::string name =
          o < graph.outputs.size() ? graph.outputs[o].name : graph.output_layers[o];
      outputs.push_back(to_tensor(name, results[o]));
    }
    return outputs;
  } catch (const cv::Exception& error) {
    throw std::runtime_error(opencv_reason(error));
  }
}

class OnnxModel final : public LoadedModel {
 public:
  OnnxModel(OnnxGraph graph, double load_time_s, std::uint64_t resident_bytes)
      : graph_(std::move(graph)), load_time_s_(load_time_s), resident_bytes_(resident_bytes) {}
  ~OnnxModel() override {
    std::lock_guard lock(load_mutex());  // keep concurrent load measurements clean
    graph_.net = cv::dnn::Net();
  }
  const std::vector<TensorSpec>& inputs() const override { return graph_.inputs; }
  const std::vector<TensorSpec>& outputs() const override { return graph_.outputs; }
  std::vector<Tensor> infer(const std::vector<Tensor>& inputs) override {
    return run(graph_, inputs);
  }
  double load_time_s() const override { return load_time_s_; }
  std::uint64_t resident_bytes() const override { return resident_bytes_; }

 private:
  OnnxGraph graph_;
  double load_time_s_;
  std::uint64_t resident_bytes_;
};

class OnnxBackend final : public Backend {
 public:
  std::unique_ptr<LoadedModel> load(const std::string& path, const LoadOptions& options) override {
    std::lock_guard lock(load_mutex());
    apply_threads(options.intra_op_threads);
    LoadMeasurement measurement;
    OnnxGraph graph;
    {
      const MappedFile file(path);
      const std::string_view bytes = file.bytes();
      onnx::GraphSignature signature;
      try {
        signature = onnx::read_signature(bytes);
      } catch (const std::runtime_error& error) {
        throw std::runtime_error(path + ": not a valid ONNX model: " + error.what());
      }
      try {
        graph.net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
      } catch (const cv::Exception& error) {
        throw std::runtime_error(path + ": " + opencv_reason(error));
      }
      if (graph.net.empty()) throw std::runtime_error(path + ": OpenCV: the network is empty");
      graph.net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      graph.net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
      graph.inputs = options.inputs.empty() ? signature.inputs : options.inputs;
      graph.outputs = signature.outputs;
      for (const auto& input : graph.inputs)
        cv_depth(input.dtype);  // rejects what OpenCV cannot take
      bool outputs_are_layers = true;
      for (const auto& output : graph.outputs) {
        outputs_are_layers = outputs_are_layers && graph.net.getLayerId(output.name) >= 0;
        graph.output_layers.push_back(output.name);
      }
      if (!outputs_are_layers) graph.output_layers = graph.net.getUnconnectedOutLayersNames();
      if (graph.net.getLayerNames().empty()) {
        throw std::runtime_error(path + ": OpenCV: the network has no layers");
      }
    }
    if (options.warm_up) {
      try {
        run(graph, warmup_inputs(graph.inputs));
      } catch (const std::exception& error) {
        throw std::runtime_error(path + ": warm-up inference failed: " + error.what());
      }
    }
    // The bytes are measured as the allocator's in-use growth, which freed memory does not
    // count; memory is not handed back to the system here (trimming every arena on each load
    // made the server's loads 3x slower: the next allocations page-fault it all back in;
    // docs/runtime.md). Only the RSS fallback needs the load's transient memory gone first.
    if (!heap_stats_available()) release_free_memory();
    const double load_time_s = measurement.elapsed_s();
    const std::uint64_t bytes = measurement.grown_bytes();
    return std::make_unique<OnnxModel>(std::move(graph), load_time_s, bytes);
  }
};

}  // namespace

Backend& onnx_opencv_backend() {
  static OnnxBackend instance;
  return instance;
}

double direct::onnx_load_and_warm_s(const std::string& path,
                                    const std::vector<std::int64_t>& input_shape) {
  const auto start = std::chrono::steady_clock::now();
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  std::vector<int> sizes(input_shape.begin(), input_shape.end());
  cv::Mat zeros(static_cast<int>(sizes.size()), sizes.data(), CV_32F, cv::Scalar(0));
  net.setInput(zeros);
  cv::Mat result = net.forward();
  return seconds_since(start);
}

}  // namespace brulee::runtime
