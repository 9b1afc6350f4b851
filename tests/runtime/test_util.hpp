#pragma once
// Helpers for the runtime tests: the tiny zoo's location, deterministic inputs, and the shared
// temporary folder (tests/support/temp_dir.hpp).
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
#include "temp_dir.hpp"

namespace brulee::runtime::testing {

inline std::string tiny_zoo() { return BRULEE_TINY_ZOO; }
inline std::string tiny_model_path(const std::string& name) {
  return (std::filesystem::path(tiny_zoo()) / name / "1" /
          (name.ends_with("-onnx") ? "model.onnx" : "model.pt"))
      .string();
}

using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

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
