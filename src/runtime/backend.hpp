#pragma once
// One small interface over the inference libraries (docs/runtime.md). A new backend is one new
// folder under src/runtime/ (its sources and library added in src/runtime/CMakeLists.txt) plus
// one line in the table in backend.cpp; the server never changes for it.
// This header is the contract between the runtime, the profiler and the server.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/dtype.hpp"

namespace brulee::runtime {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<std::int64_t> shape;  // -1 = any size in that dimension
};

struct Tensor {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;  // row-major, little-endian, dtype_bytes(dtype) * product(shape)
};

struct LoadOptions {
  int intra_op_threads = 0;  // 0 = all cores
  // Added by the runtime: input metadata from the repository's config.json. When empty, the
  // backend reads it from the model file (ONNX graph inputs; TorchScript extra file brulee.json).
  std::vector<TensorSpec> inputs;
  // Run one inference on zeros during load (part of load_time_s and resident_bytes). Skipped
  // automatically when an input shape is not fully known.
  bool warm_up = true;
};

// A model in memory. infer() is never called concurrently on one handle (the server keeps a
// FIFO per model); different handles may run at the same time.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  virtual const std::vector<TensorSpec>& inputs() const = 0;
  virtual const std::vector<TensorSpec>& outputs() const = 0;
  // Throws UsageError on a wrong input name, shape or dtype; std::runtime_error on a library
  // failure (with the library's reason).
  virtual std::vector<Tensor> infer(const std::vector<Tensor>& inputs) = 0;
  // Measured at load: wall time of load + one warm-up inference, and bytes held after them.
  virtual double load_time_s() const = 0;
  virtual std::uint64_t resident_bytes() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Throws std::runtime_error with the library's reason if the file cannot be loaded.
  virtual std::unique_ptr<LoadedModel> load(const std::string& path,
                                            const LoadOptions& options) = 0;
};

// The registry: one entry per backend, in the order a repository tries them.
struct BackendEntry {
  std::string_view name;       // config.json "backend": "onnx", "torchscript"
  std::string_view file_name;  // the file it loads in a version folder: "model.onnx"
  Backend& (*instance)();      // the backend (one per process, made on first use)
};
std::span<const BackendEntry> backend_entries();
// Throws UsageError naming the known backends if `name` is unknown.
const BackendEntry& find_backend(std::string_view name);
Backend& backend(std::string_view name);  // find_backend(name).instance()
std::vector<std::string> backend_names();

}  // namespace brulee::runtime
