#pragma once
// Helpers for the runtime tests: the tiny zoo's location, temp folders, deterministic inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend.hpp"
#include "runtime/repository.hpp"

namespace brulee::runtime::testing {

inline std::string tiny_zoo() { return BRULEE_TINY_ZOO; }
inline std::string tiny_model_path(const std::string& name) {
  return (std::filesystem::path(tiny_zoo()) / name / "1" /
          (name.ends_with("-onnx") ? "model.onnx" : "model.pt"))
      .string();
}

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("brulee_runtime_" + std::string(info ? info->name() : "x") + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// FP32 tensor with values drawn uniformly from [0, 1) by a fixed seed.
inline Tensor random_tensor(const TensorSpec& spec, unsigned seed = 7) {
  Tensor tensor;
  tensor.name = spec.name;
  tensor.dtype = DType::kFloat32;
  tensor.shape = spec.shape;
  std::size_t count = 1;
  for (auto& dim : tensor.shape) {
    if (dim < 0) dim = 1;
    count *= static_cast<std::size_t>(dim);
  }
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> values(count);
  for (auto& value : values) value = uniform(rng);
  tensor.data.resize(count * sizeof(float));
  std::memcpy(tensor.data.data(), values.data(), tensor.data.size());
  return tensor;
}

inline std::vector<float> floats(const Tensor& tensor) {
  std::vector<float> values(tensor.data.size() / sizeof(float));
  std::memcpy(values.data(), tensor.data.data(), values.size() * sizeof(float));
  return values;
}

}  // namespace brulee::runtime::testing
