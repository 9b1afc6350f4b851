#include "serve/kserve.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace brulee::serve {

using nlohmann::json;
using runtime::DType;
using runtime::Tensor;

namespace {

// The longest JSON text of one element, its comma included. Floats are written as the shortest
// text that reads back the same double, with ".0" added to integral values:
// "-2.2250738585072014e-308" is 24 characters, "-1234567890123456700000.0" 25.
constexpr std::size_t max_text_chars(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat64:
      return 27;
    case DType::kInt32:
      return 12;
    case DType::kInt64:
      return 21;
    case DType::kUInt8:
      return 4;
    case DType::kInt8:
      return 5;
    case DType::kBool:
      return 6;
  }
  return 27;
}

// A name as quoted in an error message: at most 64 bytes of it.
std::string shown(std::string_view name) {
  constexpr std::size_t kShownBytes = 64;
  if (name.size() <= kShownBytes) return std::string(name);
  return std::string(name.substr(0, kShownBytes)) + "...";
}

const json* member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

// Optional boolean member of an optional parameters object.
std::optional<bool> flag(const json* parameters, const char* key, const std::string& owner) {
  if (!parameters) return std::nullopt;
  if (!parameters->is_object()) throw UsageError(owner + ": \"parameters\" must be an object");
  const json* value = member(*parameters, key);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) {
    throw UsageError(owner + ": parameter " + key + " must be a boolean");
  }
  return value->get<bool>();
}

void check_distinct(std::vector<std::string_view> names, const char* what) {
  std::sort(names.begin(), names.end());
  const auto twice = std::adjacent_find(names.begin(), names.end());
  if (twice != names.end()) {
    throw UsageError(std::string(what) + " " + shown(*twice) + " appears more than once");
  }
}

template <typename T>
void put(std::vector<std::byte>& data, std::size_t index, T value) {
  std::memcpy(data.data() + index * sizeof(T), &value, sizeof(T));
}

template <typename T>
T get(const std::vector<std::byte>& data, std::size_t index) {
  T value;
  std::memcpy(&value, data.data() + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
T integer_leaf(const json& leaf, const std::string& input, std::size_t index) {
  const auto fail = [&](const char* why) {
    return UsageError("input " + shown(input) + ": element " + std::to_string(index) + why);
  };
  if (!leaf.is_number_integer()) throw fail(" is not an integer");
  if (leaf.is_number_unsigned()) {
    const auto value = leaf.get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      throw fail(" is out of range");
    }
    return static_cast<T>(value);
  }
  const auto value = leaf.get<std::int64_t>();
  if (value < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
      (value > 0 && static_cast<std::uint64_t>(value) >
                        static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
    throw fail(" is out of range");
  }
  return static_cast<T>(value);
}

std::uint64_t element_count(const std::vector<std::int64_t>& shape, const std::string& input) {
  const runtime::ElementCount counted = runtime::count_elements(shape);
  switch (counted.problem) {
    case runtime::ShapeProblem::kNone:
      return counted.count;
    case runtime::ShapeProblem::kNegativeDimension:
      throw UsageError("input " + shown(input) + ": shape has a negative dimension");
    case runtime::ShapeProblem::kTooLarge:
      break;
  }
  throw UsageError("input " + shown(input) + ": shape is too large");
}

// A JSON number as FP32: values that round to the largest float are clamped to it, larger ones
// are out of range (converting them is undefined behaviour, not infinity).
float to_float32(double value, const std::string& input, std::size_t index) {
  constexpr double kLargest = std::numeric_limits<float>::max();
  constexpr double kRoundsToLargest = kLargest + 0x1p103;  // half an ulp above it
  if (std::fabs(value) <= kLargest) return static_cast<float>(value);
  if (std::fabs(value) < kRoundsToLargest) {
    return static_cast<float>(std::copysign(kLargest, value));
  }
  throw UsageError("input " + shown(input) + ": element " + std::to_string(index) +
                   " is out of range for FP32");
}

void put_leaf(Tensor& tensor, std::size_t i, const json& leaf) {
  switch (tensor.dtype) {
    case DType::kFloat32:
    case DType::kFloat64: {
      if (!leaf.is_number()) {
        throw UsageError("input " + shown(tensor.name) + ": element " + std::to_string(i) +
                         " is not a number");
      }
      const double value = leaf.get<double>();
      if (tensor.dtype == DType::kFloat32) {
        put(tensor.data, i, to_float32(value, tensor.name, i));
      } else {
        put(tensor.data, i, value);
      }
      break;
    }
    case DType::kInt32:
      put(tensor.data, i, integer_leaf<std::int32_t>(leaf, tensor.name, i));
      break;
    case DType::kInt64:
      put(tensor.data, i, integer_leaf<std::int64_t>(leaf, tensor.name, i));
      break;
    case DType::kUInt8:
      put(tensor.data, i, integer_leaf<std::uint8_t>(leaf, tensor.name, i));
      break;
    case DType::kInt8:
      put(tensor.data, i, integer_leaf<std::int8_t>(leaf, tensor.name, i));
      break;
    case DType::kBool:
      if (!leaf.is_boolean()) {
        throw UsageError("input " + shown(tensor.name) + ": element " + std::to_string(i) +
                         " is not a boolean");
      }
      put(tensor.data, i, static_cast<std::uint8_t>(leaf.get<bool>() ? 1 : 0));
      break;
  }
}

// What the first pass learned of one input's "data".
struct DataSeen {
  bool present = false;
  bool too_deep = false;  // an array nested kMaxTensorRank deep in it
  std::uint64_t leaves = 0;
};

// An inference request's JSON read from nlohmann's SAX events in two passes, so that tensor data
// never becomes a document (a number there costs 16 bytes as a json value, three times that
// while its array grows, against 1-8 bytes of tensor). The first pass builds the document
// without the value of "data" in each object of the top-level "inputs" array (a null stands in
// for it) and counts that value's leaves; the request's shapes and datatypes are then checked
// and its tensors sized; the second pass writes each leaf straight into its tensor. Leaves are
// the non-array values of the (possibly nested) data; an object among them is one leaf, which
// no datatype accepts. A key "inputs" or "data" given twice at those places is refused (a
// document keeps the last; this reader would have counted both).
class InferReader {
 public:
  // First pass: the document into `root`, what each input's data holds into data_seen().
  explicit InferReader(json& root) : root_(&root) {}
  // Second pass: leaves of input i into *targets[i] (nullptr: not read from JSON), sized already.
  explicit InferReader(std::vector<Tensor*> targets) : targets_(std::move(targets)) {}

  const std::vector<DataSeen>& data_seen() const { return seen_; }

  bool null() { return scalar(json(nullptr)); }
  bool boolean(bool value) { return scalar(json(value)); }
  bool number_integer(json::number_integer_t value) { return scalar(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return scalar(json(value)); }
  bool number_float(json::number_float_t value, const json::string_t&) {
    return scalar(json(value));
  }
  bool string(json::string_t& value) { return scalar(json(std::move(value))); }
  bool binary(json::binary_t& value) { return scalar(json(std::move(value))); }
  bool start_object(std::size_t) { return open(true); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(false); }
  bool end_array() { return close(); }
  bool key(json::string_t& name) {
    if (in_data_) return true;  // a key of an object among the leaves
    Frame& frame = frames_.back();
    frame.data_next = false;
    if (frame.role == Role::kRequest && name == "inputs") {
      if (inputs_seen_) throw UsageError("request has \"inputs\" twice");
      inputs_seen_ = true;
      frame.inputs_next = true;
    } else if (frame.role == Role::kInput && name == "data") {
      if (frame.data_seen) throw UsageError("an input has \"data\" twice");
      frame.data_seen = true;
      frame.data_next = true;
    } else {
      frame.inputs_next = false;
    }
    if (root_) key_ = std::move(name);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  enum class Role : std::uint8_t { kOther, kRequest, kInputs, kInput };
  struct Frame {
    json* node = nullptr;  // first pass only
    Role role = Role::kOther;
    bool inputs_next = false;  // the request: the value after the key "inputs"
    bool data_next = false;    // an input: the value after the key "data"
    bool data_seen = false;
    std::size_t index = 0;     // an input: its place in "inputs"
    std::size_t elements = 0;  // "inputs": values so far
  };

  // A value starting outside the data: enters the data if it is the value of an input's
  // "data" (then true), else counts it among "inputs" if it is one of them.
  bool enter_data_value() {
    if (frames_.empty()) return false;
    Frame& parent = frames_.back();
    if (parent.data_next) {
      parent.data_next = false;
      in_data_ = true;
      input_ = parent.index;
      arrays_ = 0;
      skip_ = 0;
      leaf_ = 0;
      if (root_) {
        if (seen_.size() <= input_) seen_.resize(input_ + 1);
        seen_[input_].present = true;
        insert(json(nullptr));
      }
      return true;
    }
    if (parent.role == Role::kInputs) ++parent.elements;
    return false;
  }

  // The document's new value, under the open container (first pass).
  json* insert(json value) {
    if (frames_.empty()) {
      *root_ = std::move(value);
      return root_;
    }
    json& parent = *frames_.back().node;
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(value);
    return &slot;
  }

  bool scalar(json value) {
    if (in_data_) {
      if (skip_ == 0) leaf(value);
      if (skip_ == 0 && arrays_ == 0) in_data_ = false;  // the data was this one scalar
      return true;
    }
    enter_data_value();
    if (in_data_) return scalar(std::move(value));
    if (root_) insert(std::move(value));
    return true;
  }

  bool open(bool object) {
    if (!in_data_ && !enter_data_value()) {
      Frame frame;
      if (frames_.empty()) {
        frame.role = object ? Role::kRequest : Role::kOther;
      } else {
        const Frame& parent = frames_.back();
        if (parent.role == Role::kRequest && parent.inputs_next && !object) {
          frame.role = Role::kInputs;
        } else if (parent.role == Role::kInputs && object) {
          frame.role = Role::kInput;
          frame.index = parent.elements - 1;
        }
      }
      if (root_) frame.node = insert(object ? json::object() : json::array());
      frames_.push_back(frame);
      return true;
    }
    // In the data (this container may be its value).
    if (skip_ > 0) {
      ++skip_;
    } else if (object) {
      leaf(json::object());
      skip_ = 1;
    } else {
      if (arrays_ >= kMaxTensorRank && root_) seen_[input_].too_deep = true;
      ++arrays_;
    }
    return true;
  }

  bool close() {
    if (!in_data_) {
      frames_.pop_back();
      return true;
    }
    if (skip_ > 0) {
      --skip_;
    } else {
      --arrays_;
    }
    if (skip_ == 0 && arrays_ == 0) in_data_ = false;
    return true;
  }

  void leaf(const json& value) {
    if (root_) {
      ++seen_[input_].leaves;
      return;
    }
    Tensor* tensor = input_ < targets_.size() ? targets_[input_] : nullptr;
    if (!tensor) return;
    if (leaf_ >= tensor->data.size() / element_bytes(tensor->dtype)) {
      throw UsageError("input " + shown(tensor->name) + ": more data than its shape holds");
    }
    put_leaf(*tensor, leaf_++, value);
  }

  json* root_ = nullptr;
  std::vector<Tensor*> targets_;
  std::vector<DataSeen> seen_;
  std::vector<Frame> frames_;
  std::string key_;
  bool inputs_seen_ = false;
  bool in_data_ = false;
  std::size_t input_ = 0;   // the input whose data is being read
  std::size_t arrays_ = 0;  // arrays open in it
  std::size_t skip_ = 0;    // containers open inside an object leaf
  std::size_t leaf_ = 0;    // second pass: the next leaf's index in its tensor
};

// One entry of "inputs". Tensor bytes of the binary extension are taken from `binary` at
// `binary_offset`, which advances past them. Data given as JSON (`seen`: what the first pass
// counted) is checked against the shape and sized, not filled: from_json is set, and the second
// pass fills it.
Tensor parse_input(const json& input, const DataSeen& seen, bool binary_extension,
                   std::string_view binary, std::size_t& binary_offset, bool& from_json) {
  from_json = false;
  if (!input.is_object()) throw UsageError("each input must be a JSON object");
  for (const char* key : {"name", "datatype"}) {
    const json* value = member(input, key);
    if (!value || !value->is_string()) {
      throw UsageError(std::string("each input needs a string \"") + key + "\"");
    }
  }
  Tensor tensor;
  tensor.name = member(input, "name")->get<std::string>();
  tensor.dtype = parse_kserve_dtype(member(input, "datatype")->get_ref<const std::string&>());
  const json* shape = member(input, "shape");
  if (!shape || !shape->is_array()) {
    throw UsageError("input " + shown(tensor.name) + " needs a \"shape\" array");
  }
  if (shape->size() > kMaxTensorRank) {
    throw UsageError("input " + shown(tensor.name) + ": shape has " +
                     std::to_string(shape->size()) + " dimensions, more than " +
                     std::to_string(kMaxTensorRank));
  }
  tensor.shape.reserve(shape->size());
  for (const json& dim : *shape) {
    const bool valid =
        dim.is_number_unsigned() || (dim.is_number_integer() && dim.get<std::int64_t>() >= 0);
    if (!valid || dim.get<std::uint64_t>() >
                      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw UsageError("input " + shown(tensor.name) + ": shape must hold non-negative integers");
    }
    tensor.shape.push_back(dim.get<std::int64_t>());
  }
  const std::uint64_t count = element_count(tensor.shape, tensor.name);
  const std::uint64_t data_bytes = count * element_bytes(tensor.dtype);  // < 2^44
  std::optional<std::uint64_t> binary_size;
  if (const json* parameters = member(input, "parameters")) {
    if (!parameters->is_object()) {
      throw UsageError("input " + shown(tensor.name) + ": \"parameters\" must be an object");
    }
    if (const json* size = member(*parameters, "binary_data_size")) {
      if (!size->is_number_unsigned()) {
        throw UsageError("input " + shown(tensor.name) +
                         ": binary_data_size must be a non-negative integer");
      }
      binary_size = size->get<std::uint64_t>();
    }
  }
  if (!binary_size) {
    if (!seen.present) throw UsageError("input " + shown(tensor.name) + " has no \"data\"");
    if (seen.too_deep) throw UsageError("tensor data is nested too deeply");
    if (seen.leaves != count) {
      throw UsageError("input " + shown(tensor.name) + ": shape holds " + std::to_string(count) +
                       " elements but data has " + std::to_string(seen.leaves));
    }
    tensor.data.resize(static_cast<std::size_t>(count) * element_bytes(tensor.dtype));
    from_json = true;
    return tensor;
  }
  if (!binary_extension) {
    throw UsageError("input " + shown(tensor.name) +
                     " has binary_data_size but no Inference-Header-Content-Length header");
  }
  if (*binary_size != data_bytes) {
    throw UsageError("input " + shown(tensor.name) + ": binary_data_size " +
                     std::to_string(*binary_size) + " does not match shape and datatype (" +
                     std::to_string(data_bytes) + " bytes)");
  }
  if (*binary_size > binary.size() - binary_offset) {
    throw UsageError("input " + shown(tensor.name) + ": binary_data_size " +
                     std::to_string(*binary_size) + " but only " +
                     std::to_string(binary.size() - binary_offset) +
                     " bytes of binary data are left");
  }
  const auto* bytes = reinterpret_cast<const std::byte*>(binary.data() + binary_offset);
  tensor.data.assign(bytes, bytes + *binary_size);
  binary_offset += static_cast<std::size_t>(*binary_size);
  return tensor;
}

RequestedOutput parse_output(const json& output) {
  const json* name = output.is_object() ? member(output, "name") : nullptr;
  if (!name || !name->is_string()) {
    throw UsageError("each requested output needs a string \"name\"");
  }
  RequestedOutput wanted;
  wanted.name = name->get<std::string>();
  wanted.binary_data =
      flag(member(output, "parameters"), "binary_data", "output " + shown(wanted.name));
  return wanted;
}

// ---- encoding ----

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), 0 if there is none.
std::size_t utf8_sequence_bytes(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

// Appends `text` as a JSON string. Invalid UTF-8 bytes become U+FFFD; at most 6 bytes out per
// byte in, plus the quotes.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = utf8_sequence_bytes(text, i);
      if (length == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          out.append(escaped, sizeof escaped);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void append_double(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  const std::string_view written(text, static_cast<std::size_t>(end - text));
  out += written;
  if (written.find_first_of(".e") == std::string_view::npos) out += ".0";
}

template <typename T>
void append_integer(std::string& out, T value) {
  char text[24];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  out.append(text, end);
}

// Two sinks for one writer: TextSink writes the body, BoundSink adds up the most each piece
// can take, so the bound and the body cannot disagree on the layout.
class BoundSink {
 public:
  void literal(std::string_view text) { bytes_ += text.size(); }
  void string(std::string_view text) { bytes_ += 6 * text.size() + 2; }
  void integer(std::uint64_t) { bytes_ += 20; }
  void integer(std::int64_t) { bytes_ += 20; }
  void data(const Tensor& tensor) {
    bytes_ +=
        tensor.data.size() / runtime::dtype_bytes(tensor.dtype) * max_text_chars(tensor.dtype);
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::uint64_t bytes_ = 0;
};

class TextSink {
 public:
  explicit TextSink(std::string& out) : out_(out) {}
  void literal(std::string_view text) { out_ += text; }
  void string(std::string_view text) { append_json_string(out_, text); }
  void integer(std::uint64_t value) { append_integer(out_, value); }
  void integer(std::int64_t value) { append_integer(out_, value); }
  void data(const Tensor& tensor) {
    const std::size_t count = tensor.data.size() / element_bytes(tensor.dtype);
    for (std::size_t i = 0; i < count; ++i) {
      if (i > 0) out_ += ',';
      switch (tensor.dtype) {
        case DType::kFloat32:
          append_double(out_, static_cast<double>(get<float>(tensor.data, i)));
          break;
        case DType::kFloat64:
          append_double(out_, get<double>(tensor.data, i));
          break;
        case DType::kInt32:
          append_integer(out_, get<std::int32_t>(tensor.data, i));
          break;
        case DType::kInt64:
          append_integer(out_, get<std::int64_t>(tensor.data, i));
          break;
        case DType::kUInt8:
          append_integer(out_, get<std::uint8_t>(tensor.data, i));
          break;
        case DType::kInt8:
          append_integer(out_, get<std::int8_t>(tensor.data, i));
          break;
        case DType::kBool:
          out_ += get<std::uint8_t>(tensor.data, i) != 0 ? "true" : "false";
          break;
      }
    }
  }

 private:
  std::string& out_;
};

struct SelectedOutput {
  const Tensor* tensor;
  bool binary;
};

std::vector<SelectedOutput> select_outputs(const std::string& model_name,
                                           const InferRequest& request,
                                           const std::vector<Tensor>& outputs) {
  std::vector<SelectedOutput> selected;
  if (request.outputs.empty()) {
    selected.reserve(outputs.size());
    for (const auto& tensor : outputs) selected.push_back({&tensor, request.binary_outputs});
    return selected;
  }
  selected.reserve(request.outputs.size());
  for (const auto& wanted : request.outputs) {
    const auto found = std::find_if(outputs.begin(), outputs.end(), [&](const Tensor& tensor) {
      return tensor.name == wanted.name;
    });
    if (found == outputs.end()) {
      throw UsageError("model " + model_name + " has no output named " + shown(wanted.name));
    }
    selected.push_back({&*found, binary_output(request, wanted)});
  }
  return selected;
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The JSON part of the answer; binary outputs' bytes follow it.
template <typename Sink>
void write_response(Sink& sink, const std::string& model_name, const std::string& version,
                    const json& id, std::string_view parameters,
                    const std::vector<SelectedOutput>& selected) {
  sink.literal("{\"model_name\":");
  sink.string(model_name);
  sink.literal(",\"model_version\":");
  sink.string(version);
  if (!id.is_null()) {
    sink.literal(",\"id\":");
    if (id.is_string()) {
      sink.string(id.get_ref<const std::string&>());
    } else {
      sink.literal(dump(id));
    }
  }
  if (!parameters.empty()) {
    sink.literal(",\"parameters\":");
    sink.literal(parameters);
  }
  sink.literal(",\"outputs\":[");
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const Tensor& tensor = *selected[i].tensor;
    sink.literal(i == 0 ? "{\"name\":" : ",{\"name\":");
    sink.string(tensor.name);
    sink.literal(",\"datatype\":\"");
    sink.literal(kserve_dtype(tensor.dtype));
    sink.literal("\",\"shape\":[");
    for (std::size_t d = 0; d < tensor.shape.size(); ++d) {
      if (d > 0) sink.literal(",");
      sink.integer(tensor.shape[d]);
    }
    if (selected[i].binary) {
      sink.literal("],\"parameters\":{\"binary_data_size\":");
      sink.integer(static_cast<std::uint64_t>(tensor.data.size()));
      sink.literal("}}");
    } else {
      sink.literal("],\"data\":[");
      sink.data(tensor);
      sink.literal("]}");
    }
  }
  sink.literal("]}");
}

std::uint64_t response_bound(const std::string& model_name, const std::string& version,
                             const json& id, std::string_view parameters,
                             const std::vector<SelectedOutput>& selected) {
  BoundSink bound;
  write_response(bound, model_name, version, id, parameters, selected);
  std::uint64_t bytes = bound.bytes();
  for (const auto& output : selected) {
    if (output.binary) bytes += output.tensor->data.size();
  }
  return bytes;
}

}  // namespace

std::uint64_t checked_element_count(const std::vector<std::int64_t>& shape,
                                    const std::string& tensor) {
  return element_count(shape, tensor);
}

void check_distinct_names(std::vector<std::string_view> names, const char* what) {
  check_distinct(std::move(names), what);
}

std::string_view kserve_dtype(DType dtype) { return runtime::dtype_name(dtype); }

DType parse_kserve_dtype(std::string_view name) {
  for (const auto& entry : runtime::kDTypes) {
    if (name == entry.name) return entry.dtype;
  }
  throw UsageError("unsupported datatype \"" + shown(name) +
                   "\" (supported: " + runtime::dtype_names() + ")");
}

std::size_t element_bytes(DType dtype) { return runtime::dtype_bytes(dtype); }

bool binary_output(const InferRequest& request, const RequestedOutput& output) {
  return output.binary_data.value_or(request.binary_outputs);
}

std::size_t parse_inference_header_length(std::string_view text, std::size_t body_bytes) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw UsageError("Inference-Header-Content-Length is not a byte count");
  }
  if (value > body_bytes) {
    throw UsageError("Inference-Header-Content-Length " + std::to_string(value) +
                     " is larger than the body (" + std::to_string(body_bytes) + " bytes)");
  }
  return value;
}

std::uint64_t infer_request_bytes(std::string_view body, std::optional<std::size_t> json_bytes,
                                  const InferLimits& limits) {
  // The document (tensor data priced as the tensors it is read into) and beyond it: per
  // object, a Tensor or RequestedOutput and the malloc overheads of its name, shape and data;
  // per other number, at most 8 bytes of shape; each long string copied once more (names, id);
  // binary tensors copied out of the body.
  constexpr std::uint64_t kPerObjectBytes = 256;
  constexpr std::uint64_t kPerScalarBytes = 8;
  const std::string_view header =
      json_bytes && *json_bytes <= body.size() ? body.substr(0, *json_bytes) : body;
  const JsonScan scan = scan_json(header, limits.json.max_depth, /*tensor_data=*/true);
  return scan.document_bytes + kPerObjectBytes * scan.objects +
         kPerScalarBytes * (scan.scalars - scan.data_scalars) + scan.string_heap_bytes +
         (body.size() - header.size());
}

InferRequest parse_infer_request(std::string_view body, std::optional<std::size_t> json_bytes,
                                 const InferLimits& limits) {
  std::string_view header = body;
  std::string_view binary;
  if (json_bytes) {
    if (*json_bytes > body.size()) {
      throw UsageError("Inference-Header-Content-Length " + std::to_string(*json_bytes) +
                       " is larger than the body (" + std::to_string(body.size()) + " bytes)");
    }
    header = body.substr(0, *json_bytes);
    binary = body.substr(*json_bytes);
  }
  const char* what = json_bytes ? "inference header" : "request body";
  const JsonScan scan = scan_json(header, limits.json.max_depth, /*tensor_data=*/true);
  check_json_limits(scan, limits.json, what);
  if (scan.nul_byte) throw UsageError(std::string(what) + " is not valid JSON (a NUL byte)");
  json root;
  InferReader structure(root);
  if (!json::sax_parse(header.begin(), header.end(), &structure)) {
    throw UsageError(std::string(what) + " is not valid JSON");
  }
  if (!root.is_object()) throw UsageError("request body must be a JSON object");
  InferRequest request;
  if (const auto id = root.find("id"); id != root.end()) {
    if (!id->is_string()) throw UsageError("\"id\" must be a string");
    request.id = std::move(*id);
  }
  if (const auto parameters = root.find("parameters"); parameters != root.end()) {
    if (!parameters->is_object()) throw UsageError("\"parameters\" must be an object");
    request.parameters = std::move(*parameters);  // moved, never copied: no recursion over it
    request.binary_outputs =
        flag(&request.parameters, "binary_data_output", "request").value_or(false);
  }
  const json* inputs = member(root, "inputs");
  if (!inputs || !inputs->is_array()) throw UsageError("request needs an \"inputs\" array");
  if (inputs->empty()) throw UsageError("\"inputs\" is empty");
  if (inputs->size() > limits.max_inputs) {
    throw UsageError("request has " + std::to_string(inputs->size()) +
                     " inputs, more than the limit of " + std::to_string(limits.max_inputs));
  }
  request.inputs.reserve(inputs->size());  // no reallocation: targets point into it
  std::vector<Tensor*> targets(inputs->size(), nullptr);
  std::size_t binary_offset = 0;
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    const DataSeen seen = i < structure.data_seen().size() ? structure.data_seen()[i] : DataSeen{};
    bool from_json = false;
    request.inputs.push_back(
        parse_input((*inputs)[i], seen, json_bytes.has_value(), binary, binary_offset, from_json));
    if (from_json) targets[i] = &request.inputs.back();
  }
  if (binary_offset != binary.size()) {
    throw UsageError("body has " + std::to_string(binary.size() - binary_offset) +
                     " bytes of binary data that no input claims");
  }
  std::vector<std::string_view> names;
  names.reserve(request.inputs.size());
  for (const auto& tensor : request.inputs) names.push_back(tensor.name);
  check_distinct(std::move(names), "input");
  if (std::any_of(targets.begin(), targets.end(), [](const Tensor* t) { return t != nullptr; })) {
    InferReader fill(std::move(targets));
    json::sax_parse(header.begin(), header.end(), &fill);  // valid: the first pass read it
  }
  if (const json* outputs = member(root, "outputs")) {
    if (!outputs->is_array()) throw UsageError("\"outputs\" must be an array");
    if (outputs->size() > limits.max_outputs) {
      throw UsageError("request names " + std::to_string(outputs->size()) +
                       " outputs, more than the limit of " + std::to_string(limits.max_outputs));
    }
    request.outputs.reserve(outputs->size());
    for (const json& output : *outputs) request.outputs.push_back(parse_output(output));
    names.clear();
    names.reserve(request.outputs.size());
    for (const auto& wanted : request.outputs) names.push_back(wanted.name);
    check_distinct(std::move(names), "output");
  }
  return request;
}

std::uint64_t infer_response_bytes(const std::string& model_name, const std::string& version,
                                   const InferRequest& request, const std::vector<Tensor>& outputs,
                                   const json& parameters) {
  const std::string parameters_text = parameters.is_null() ? std::string() : dump(parameters);
  return response_bound(model_name, version, request.id, parameters_text,
                        select_outputs(model_name, request, outputs));
}

EncodedResponse encode_infer_response(const std::string& model_name, const std::string& version,
                                      const InferRequest& request,
                                      const std::vector<Tensor>& outputs, const json& parameters) {
  const std::vector<SelectedOutput> selected = select_outputs(model_name, request, outputs);
  const std::string parameters_text = parameters.is_null() ? std::string() : dump(parameters);
  EncodedResponse response;
  response.body.reserve(response_bound(model_name, version, request.id, parameters_text, selected));
  TextSink text(response.body);
  write_response(text, model_name, version, request.id, parameters_text, selected);
  const bool any_binary = std::any_of(selected.begin(), selected.end(),
                                      [](const SelectedOutput& output) { return output.binary; });
  if (any_binary) {
    response.json_bytes = response.body.size();
    for (const auto& output : selected) {
      if (!output.binary) continue;
      const auto& data = output.tensor->data;
      response.body.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
  }
  return response;
}

bool parse_repository_index_request(std::string_view body, const JsonLimits& limits) {
  if (body.empty()) return false;
  const json root = parse_json(body, limits);
  if (!root.is_object()) throw UsageError("request body is not a JSON object");
  const json* ready = member(root, "ready");
  if (!ready) return false;
  if (!ready->is_boolean()) throw UsageError("\"ready\" must be a boolean");
  return ready->get<bool>();
}

json tensor_spec_json(const runtime::TensorSpec& spec) {
  return {{"name", spec.name},
          {"datatype", std::string(kserve_dtype(spec.dtype))},
          {"shape", spec.shape}};
}

std::string error_json(std::string_view message) {
  return dump(json{{"error", std::string(message)}});
}

}  // namespace brulee::serve
