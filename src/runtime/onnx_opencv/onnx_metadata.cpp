#include "runtime/onnx_opencv/onnx_metadata.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

namespace brulee::runtime::onnx {
namespace {

// Protobuf wire format (https://protobuf.dev/programming-guides/encoding/).
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool done() const { return pos_ >= bytes_.size(); }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) throw std::runtime_error("truncated varint");
      const auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    throw std::runtime_error("malformed varint");
  }

  // Next field: number and wire type; the payload of length-delimited fields in `payload`.
  bool next(std::uint32_t& field, std::uint32_t& wire, std::string_view& payload,
            std::uint64_t& number) {
    if (done()) return false;
    const std::uint64_t key = varint();
    field = static_cast<std::uint32_t>(key >> 3);
    wire = static_cast<std::uint32_t>(key & 7);
    if (field == 0) throw std::runtime_error("field number 0");
    switch (wire) {
      case kVarint:
        number = varint();
        break;
      case kFixed64:
        skip(8);
        break;
      case kFixed32:
        skip(4);
        break;
      case kLengthDelimited: {
        const std::uint64_t length = varint();
        if (length > bytes_.size() - pos_) throw std::runtime_error("truncated field");
        payload = bytes_.substr(pos_, static_cast<std::size_t>(length));
        pos_ += static_cast<std::size_t>(length);
        break;
      }
      default:
        throw std::runtime_error("unsupported wire type " + std::to_string(wire));
    }
    return true;
  }

 private:
  void skip(std::size_t count) {
    if (count > bytes_.size() - pos_) throw std::runtime_error("truncated field");
    pos_ += count;
  }
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

std::optional<DType> onnx_dtype(std::uint64_t elem_type) {
  switch (elem_type) {
    case 1:
      return DType::kFloat32;
    case 2:
      return DType::kUInt8;
    case 3:
      return DType::kInt8;
    case 6:
      return DType::kInt32;
    case 7:
      return DType::kInt64;
    case 9:
      return DType::kBool;
    case 11:
      return DType::kFloat64;
    default:
      return std::nullopt;
  }
}

// ValueInfoProto { 1: name, 2: TypeProto { 1: Tensor { 1: elem_type, 2: TensorShapeProto {
//   1: Dimension { 1: dim_value, 2: dim_param } } } } }
TensorSpec read_value_info(std::string_view bytes) {
  TensorSpec spec;
  std::uint32_t field = 0, wire = 0;
  std::string_view payload;
  std::uint64_t number = 0;
  Reader value_info(bytes);
  while (value_info.next(field, wire, payload, number)) {
    if (field == 1 && wire == kLengthDelimited) spec.name = std::string(payload);
    if (field != 2 || wire != kLengthDelimited) continue;
    Reader type(payload);
    while (type.next(field, wire, payload, number)) {
      if (field != 1 || wire != kLengthDelimited) continue;  // only tensor types
      Reader tensor(payload);
      while (tensor.next(field, wire, payload, number)) {
        if (field == 1 && wire == kVarint) {
          const auto dtype = onnx_dtype(number);
          if (!dtype) {
            throw std::runtime_error("input/output '" + spec.name +
                                     "' has unsupported ONNX element type " +
                                     std::to_string(number));
          }
          spec.dtype = *dtype;
        } else if (field == 2 && wire == kLengthDelimited) {
          Reader shape(payload);
          while (shape.next(field, wire, payload, number)) {
            if (field != 1 || wire != kLengthDelimited) continue;
            std::int64_t dim = -1;
            Reader dimension(payload);
            while (dimension.next(field, wire, payload, number)) {
              if (field == 1 && wire == kVarint) dim = static_cast<std::int64_t>(number);
            }
            spec.shape.push_back(dim > 0 ? dim : -1);
          }
        }
      }
    }
  }
  return spec;
}

}  // namespace

GraphSignature read_signature(std::string_view model_bytes) {
  std::uint32_t field = 0, wire = 0;
  std::string_view payload, graph;
  std::uint64_t number = 0;
  bool have_graph = false;
  Reader model(model_bytes);
  while (model.next(field, wire, payload, number)) {
    if (field == 7 && wire == kLengthDelimited) {  // ModelProto.graph
      graph = payload;
      have_graph = true;
    }
  }
  if (!have_graph) throw std::runtime_error("not an ONNX model (no graph)");
  GraphSignature signature;
  std::set<std::string> initializers;
  std::vector<TensorSpec> inputs;
  Reader graph_reader(graph);
  while (graph_reader.next(field, wire, payload, number)) {
    if (wire != kLengthDelimited) continue;
    if (field == 11) inputs.push_back(read_value_info(payload));             // GraphProto.input
    if (field == 12) signature.outputs.push_back(read_value_info(payload));  // .output
    if (field == 5) {  // GraphProto.initializer: TensorProto, name is field 8
      Reader tensor(payload);
      std::string_view tensor_payload;
      while (tensor.next(field, wire, tensor_payload, number)) {
        if (field == 8 && wire == kLengthDelimited)
          initializers.insert(std::string(tensor_payload));
      }
    }
  }
  for (auto& input : inputs) {
    if (!initializers.contains(input.name)) signature.inputs.push_back(std::move(input));
  }
  if (signature.inputs.empty()) throw std::runtime_error("ONNX graph has no inputs");
  if (signature.outputs.empty()) throw std::runtime_error("ONNX graph has no outputs");
  return signature;
}

}  // namespace brulee::runtime::onnx
