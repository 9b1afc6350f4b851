#pragma once
// Tensor data types and element counts: one table for the backends (runtime) and the KServe
// codecs (serve). Header-only, so the server's library uses it without linking the runtime.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace brulee::runtime {

enum class DType { kFloat32, kFloat64, kInt32, kInt64, kUInt8, kInt8, kBool };

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // the KServe v2 name
  std::size_t bytes;      // per element
};

inline constexpr std::array<DTypeInfo, 7> kDTypes{{{DType::kFloat32, "FP32", 4},
                                                   {DType::kFloat64, "FP64", 8},
                                                   {DType::kInt32, "INT32", 4},
                                                   {DType::kInt64, "INT64", 8},
                                                   {DType::kUInt8, "UINT8", 1},
                                                   {DType::kInt8, "INT8", 1},
                                                   {DType::kBool, "BOOL", 1}}};

// KServe v2 names: "FP32", "INT64", ...; "UNKNOWN" for a value outside the enum.
constexpr std::string_view dtype_name(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "UNKNOWN";
}

// Bytes per element; 0 for a value outside the enum.
constexpr std::size_t dtype_bytes(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.bytes;
  }
  return 0;
}

// The KServe names, separated by ", " (for error messages).
inline std::string dtype_names() {
  std::string names;
  for (const auto& entry : kDTypes) {
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names;
}

// Throws UsageError naming the known types.
inline DType parse_dtype(std::string_view kserve_name) {
  for (const auto& entry : kDTypes) {
    if (entry.name == kserve_name) return entry.dtype;
  }
  throw UsageError("unknown data type '" + std::string(kserve_name) + "' (known: " + dtype_names() +
                   ")");
}

// The most elements a tensor may hold, in every use (a request's input, a model's declared
// shape, a warm-up input): 2^40. Its bytes (at most 8 per element) then stay below 2^44, so
// `count * dtype_bytes` never overflows, and such a tensor is far beyond any machine's memory:
// a larger shape is a mistake or an attack, refused before anything is allocated.
inline constexpr std::uint64_t kMaxTensorElements = std::uint64_t{1} << 40;

enum class ShapeProblem { kNone, kNegativeDimension, kTooLarge };

struct ElementCount {
  std::uint64_t count = 0;  // the product of the dimensions, when problem == kNone
  ShapeProblem problem = ShapeProblem::kNone;
};

// The product of the dimensions, or the first problem met: a negative dimension, or a product
// above kMaxTensorElements. Callers word the error for their context.
constexpr ElementCount count_elements(std::span<const std::int64_t> shape) {
  std::uint64_t count = 1;
  for (const std::int64_t dim : shape) {
    if (dim < 0) return {0, ShapeProblem::kNegativeDimension};
    const auto size = static_cast<std::uint64_t>(dim);
    if (size != 0 && count > kMaxTensorElements / size) return {0, ShapeProblem::kTooLarge};
    count *= size;
  }
  return {count, ShapeProblem::kNone};
}

}  // namespace brulee::runtime
