// TorchScript models through libtorch (docs/runtime.md). The only translation unit that includes
// torch headers (they take ~20 s to compile).
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <dlfcn.h>
#include <torch/script.h>

#include <nlohmann/json.hpp>

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
#include "runtime/workspace_pool.hpp"

namespace brulee::runtime {
namespace {

constexpr const char* kMetadataFile = "brulee.json";

std::string torch_reason(const c10::Error& error) {
  std::string reason = error.what_without_backtrace();
  // Keep the first line: later lines are TorchScript call stacks.
  if (const auto newline = reason.find('\n'); newline != std::string::npos) reason.resize(newline);
  return "libtorch: " + reason;
}

c10::ScalarType scalar_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return c10::kFloat;
    case DType::kFloat64:
      return c10::kDouble;
    case DType::kInt32:
      return c10::kInt;
    case DType::kInt64:
      return c10::kLong;
    case DType::kUInt8:
      return c10::kByte;
    case DType::kInt8:
      return c10::kChar;
    case DType::kBool:
      return c10::kBool;
  }
  return c10::kFloat;
}

DType dtype_of(c10::ScalarType type) {
  switch (type) {
    case c10::kFloat:
      return DType::kFloat32;
    case c10::kDouble:
      return DType::kFloat64;
    case c10::kInt:
      return DType::kInt32;
    case c10::kLong:
      return DType::kInt64;
    case c10::kByte:
      return DType::kUInt8;
    case c10::kChar:
      return DType::kInt8;
    case c10::kBool:
      return DType::kBool;
    default:
      throw std::runtime_error(std::string("libtorch returned an unsupported element type ") +
                               c10::toString(type));
  }
}

// libtorch's matrix products go to the system's BLAS (libblas.so.3). With OpenBLAS (Debian's
// libopenblas0-pthread, which scripts/bootstrap.sh installs) they run on one thread each:
// libtorch's intra-op threads already share the cores, and OpenBLAS's own pool beside them made
// resnet18 1.3x slower (docs/runtime.md, "BLAS"). Debian's reference BLAS has no threads and no
// such call.
void single_threaded_blas() {
  static const bool once = [] {
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
      set(1);
    }
    return true;
  }();
  (void)once;
}

void apply_threads(int intra_op_threads) {
  single_threaded_blas();
  const int wanted = intra_op_threads > 0
                         ? intra_op_threads
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

std::vector<TensorSpec> parse_specs(const nlohmann::json& list) {
  std::vector<TensorSpec> specs;
  for (const auto& item : list) {
    TensorSpec spec;
    spec.name = item.at("name").get<std::string>();
    spec.dtype = parse_dtype(item.value("dtype", std::string("FP32")));
    spec.shape = item.at("shape").get<std::vector<std::int64_t>>();
    specs.push_back(std::move(spec));
  }
  return specs;
}

void collect(const c10::IValue& value, std::vector<at::Tensor>& tensors) {
  if (value.isTensor()) {
    tensors.push_back(value.toTensor());
  } else if (value.isTuple()) {
    for (const auto& element : value.toTupleRef().elements()) collect(element, tensors);
  } else if (value.isTensorList()) {
    for (const auto& tensor : value.toTensorVector()) tensors.push_back(tensor);
  } else if (value.isList()) {
    for (const auto& element : value.toListRef()) collect(element, tensors);
  } else if (value.isNone()) {
    // e.g. absent auxiliary heads
  } else {
    throw std::runtime_error("model returned a " + value.tagKind() + ", not tensors");
  }
}

// libtorch's CPU allocator through the calling thread's workspace pool
// (runtime/workspace_pool.hpp). Installed by the first inference that runs in a pool's scope: a
// process that never pools (the profiler, a server without a process limit) keeps libtorch's own.
// Tensors allocated before keep their own deleter.
class PoolAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t bytes) const override {
    void* data = workspace_allocate(bytes);
    return {data, data, &workspace_free, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &workspace_free; }
};

void use_pool_allocator() {
  static PoolAllocator allocator;
  static const bool once = [] {
    c10::SetCPUAllocator(&allocator, 1);  // above the default's priority (0)
    return true;
  }();
  (void)once;
}

struct Script {
  std::optional<torch::jit::Module> module;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

std::vector<Tensor> run(Script& script, const std::vector<Tensor>& inputs) {
  std::vector<std::size_t> order;
  if (script.inputs.empty()) {
    order.resize(inputs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (const auto& input : inputs) {  // unknown metadata: still check data against shape
      if (input.data.size() != element_count(input.shape) * dtype_bytes(input.dtype)) {
        throw UsageError("input '" + input.name + "': data size does not match shape " +
                         shape_text(input.shape));
      }
    }
  } else {
    order = match_inputs(script.inputs, inputs);
  }
  if (workspace_pool_in_scope()) use_pool_allocator();
  try {
    c10::InferenceMode inference_mode;
    std::vector<c10::IValue> arguments;
    for (const auto index : order) {
      const Tensor& input = inputs[index];
      auto tensor =
          torch::empty(input.shape, torch::TensorOptions().dtype(scalar_type(input.dtype)));
      std::memcpy(tensor.data_ptr(), input.data.data(), input.data.size());
      arguments.emplace_back(std::move(tensor));
    }
    const c10::IValue result = script.module->forward(std::move(arguments));
    std::vector<at::Tensor> tensors;
    collect(result, tensors);
    std::vector<Tensor> outputs;
    for (std::size_t o = 0; o < tensors.size(); ++o) {
      const at::Tensor dense = tensors[o].contiguous();
      Tensor output;
      output.name = o < script.outputs.size()
                        ? script.outputs[o].name
                        : (o == 0 ? std::string("output") : "output_" + std::to_string(o));
      output.dtype = dtype_of(dense.scalar_type());
      output.shape.assign(dense.sizes().begin(), dense.sizes().end());
      output.data.resize(dense.numel() * dense.element_size());
      std::memcpy(output.data.data(), dense.data_ptr(), output.data.size());
      outputs.push_back(std::move(output));
    }
    return outputs;
  } catch (const c10::Error& error) {
    throw std::runtime_error(torch_reason(error));
  }
}

class ScriptModel final : public LoadedModel {
 public:
  ScriptModel(Script script, double load_time_s, std::uint64_t resident_bytes)
      : script_(std::move(script)), load_time_s_(load_time_s), resident_bytes_(resident_bytes) {}
  ~ScriptModel() override {
    std::lock_guard lock(load_mutex());
    script_.module.reset();
  }
  const std::vector<TensorSpec>& inputs() const override { return script_.inputs; }
  const std::vector<TensorSpec>& outputs() const override { return script_.outputs; }
  std::vector<Tensor> infer(const std::vector<Tensor>& inputs) override {
    return run(script_, inputs);
  }
  double load_time_s() const override { return load_time_s_; }
  std::uint64_t resident_bytes() const override { return resident_bytes_; }

 private:
  Script script_;
  double load_time_s_;
  std::uint64_t resident_bytes_;
};

class ScriptBackend final : public Backend {
 public:
  std::unique_ptr<LoadedModel> load(const std::string& path, const LoadOptions& options) override {
    std::lock_guard lock(load_mutex());
    apply_threads(options.intra_op_threads);
    std::error_code error_code;
    if (!std::filesystem::is_regular_file(path, error_code)) {
      throw std::runtime_error(path + ": cannot open: not a regular file");
    }
    LoadMeasurement measurement;
    Script script;
    torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
    try {
      script.module = torch::jit::load(path, torch::kCPU, extra);
      script.module->eval();
    } catch (const c10::Error& error) {
      throw std::runtime_error(path + ": " + torch_reason(error));
    } catch (const std::exception& error) {
      throw std::runtime_error(path + ": libtorch: " + error.what());
    }
    if (!extra[kMetadataFile].empty()) {
      try {
        const auto metadata = nlohmann::json::parse(extra[kMetadataFile]);
        if (metadata.contains("inputs")) script.inputs = parse_specs(metadata["inputs"]);
        if (metadata.contains("outputs")) script.outputs = parse_specs(metadata["outputs"]);
      } catch (const std::exception& error) {
        throw std::runtime_error(path + ": bad " + kMetadataFile +
                                 " inside the model: " + error.what());
      }
    }
    if (!options.inputs.empty()) script.inputs = options.inputs;
    if (options.warm_up && !script.inputs.empty()) {
      try {
        run(script, warmup_inputs(script.inputs));
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
    return std::make_unique<ScriptModel>(std::move(script), load_time_s, bytes);
  }
};

}  // namespace

Backend& torchscript_backend() {
  static ScriptBackend instance;
  return instance;
}

double direct::torchscript_load_and_warm_s(const std::string& path,
                                           const std::vector<std::int64_t>& input_shape) {
  const auto start = std::chrono::steady_clock::now();
  torch::jit::Module module = torch::jit::load(path);
  module.eval();
  c10::InferenceMode inference_mode;
  std::vector<c10::IValue> arguments{torch::zeros(input_shape)};
  const c10::IValue result = module.forward(arguments);
  return seconds_since(start);
}

}  // namespace brulee::runtime
