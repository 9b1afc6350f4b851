#include "serve/json_limits.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "core/units.hpp"

namespace brulee::serve {

using nlohmann::json;

namespace {

// What nlohmann::json 3.11 allocates per element of a document (libstdc++ containers):
// an object is a heap std::map, each member one map node (tree links + key + value), an array a
// heap std::vector grown by doubling, a string value a heap std::string. Numbers, booleans and
// null live inside their json value.
constexpr std::uint64_t kTreeLinkBytes = 32;  // _Rb_tree_node_base: colour + three pointers
constexpr std::uint64_t kObjectBytes = malloc_chunk_bytes(sizeof(json::object_t));
constexpr std::uint64_t kArrayBytes = malloc_chunk_bytes(sizeof(json::array_t));
constexpr std::uint64_t kMemberBytes =
    malloc_chunk_bytes(kTreeLinkBytes + sizeof(std::pair<const std::string, json>));
constexpr std::uint64_t kStringBytes = malloc_chunk_bytes(sizeof(json::string_t));
constexpr std::uint64_t kSmallStringBytes = 15;  // libstdc++ keeps up to 15 chars inline
// The lexer's token buffers (std::string and std::vector, grown by doubling, one being copied)
// and, on a syntax error, the message quoting the token: a small multiple of the longest token
// (as quoted: see `run` in scan_json). The rest is the parser's stack of open containers and
// its fixed state.
constexpr std::uint64_t kLexerBytesPerTokenByte = 12;
constexpr std::uint64_t kParserFixedBytes = 16 << 10;

// Bytes outside strings that stop the scan of a number or literal: 1 ends it, 2 (NUL) is noted.
constexpr std::array<std::uint8_t, 256> kBareTokenStops = [] {
  std::array<std::uint8_t, 256> table{};
  for (unsigned char c : std::string_view(" \t\n\r\"{}[],:")) table[c] = 1;
  table[0] = 2;
  return table;
}();

// Index of the quote that closes the string opened at text[open], or text.size(). A quote
// closes it when an even number of backslashes precedes it; memchr finds the candidates.
std::size_t string_end(std::string_view text, std::size_t open) {
  std::size_t from = open + 1;
  while (from < text.size()) {
    const void* found = std::memchr(text.data() + from, '"', text.size() - from);
    if (!found) break;
    const auto quote = static_cast<std::size_t>(static_cast<const char*>(found) - text.data());
    std::size_t backslashes = 0;
    while (quote - backslashes > open + 1 && text[quote - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote;
    from = quote + 1;
  }
  return text.size();
}

std::uint64_t string_heap_bytes(std::uint64_t length) {
  return length > kSmallStringBytes ? malloc_chunk_bytes(length + 1) : 0;
}

// Where a value sits, for JsonScan's tensor_data pricing: the request object, its "inputs"
// array, one input object, or (any depth) inside an input's "data".
enum class Role : std::uint8_t { kOther, kRequest, kInputs, kInput, kData };
enum class KeyRole : std::uint8_t { kOther, kInputs, kData };

}  // namespace

JsonScan scan_json(std::string_view text, std::size_t max_depth, bool tensor_data) {
  max_depth = std::min(max_depth, kJsonDepthCeiling);
  struct Frame {
    std::uint64_t elements = 0;  // values so far, arrays only
    bool object = false;
    bool expect_key = false;  // objects: the next string is a key
    Role role = Role::kOther;
    KeyRole key = KeyRole::kOther;  // objects: what the last key names
  };
  std::array<Frame, kJsonDepthCeiling> frames;
  std::size_t depth = 0;
  JsonScan scan;
  std::uint64_t bytes = 0;
  std::uint64_t largest_regrowth = 0;  // the old buffer while the largest array last doubled
  std::uint64_t longest_token = 0;
  // The lexer's token as a syntax error would quote it: nlohmann 3.11 clears its token only where
  // a string or a number starts, so everything read since (whitespace, brackets, commas, colons,
  // literals such as `true`) is one token, kept in a buffer and quoted whole in the error's
  // message, each control character as "<U+0009>" (8 bytes). A body of 16,000 tabs took 385 KB;
  // `[` followed by 20,000 `true,` and a bad byte, 1.1 MB.
  std::uint64_t run = 0;
  // The role of a value starting now (container: `object` says which kind).
  const auto value_role = [&](bool container, bool object) {
    if (!tensor_data) return Role::kOther;
    if (depth == 0) return container && object ? Role::kRequest : Role::kOther;
    const Frame& parent = frames[depth - 1];
    switch (parent.role) {
      case Role::kData:
        return Role::kData;
      case Role::kRequest:
        return parent.key == KeyRole::kInputs && container && !object ? Role::kInputs
                                                                      : Role::kOther;
      case Role::kInputs:
        return container && object ? Role::kInput : Role::kOther;
      case Role::kInput:
        return parent.key == KeyRole::kData ? Role::kData : Role::kOther;
      case Role::kOther:
        break;
    }
    return Role::kOther;
  };
  const auto add_element = [&] {
    if (depth > 0 && !frames[depth - 1].object) ++frames[depth - 1].elements;
  };
  const auto close_array = [&](const Frame& frame) {
    if (frame.elements == 0 || frame.role == Role::kData) return;
    const std::uint64_t capacity = std::bit_ceil(frame.elements);
    bytes += malloc_chunk_bytes(capacity * sizeof(json));
    if (capacity > 1) {
      largest_regrowth =
          std::max(largest_regrowth, malloc_chunk_bytes(capacity / 2 * sizeof(json)));
    }
  };
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      run += c == ' ' ? 1 : 8;
      longest_token = std::max(longest_token, run);
      ++i;
      continue;
    }
    ++run;  // a structural character (the cases below that start a token set run again)
    switch (c) {
      case ':':
        ++i;
        break;
      case '"': {
        const std::size_t j = string_end(text, i);
        const std::uint64_t length = j - i - 1;  // raw: never shorter than the decoded string
        // The quote may end the current token instead, if the lexer fails on it inside a
        // literal or a number (`[tru"`): `run` counts it already.
        longest_token = std::max(longest_token, run);
        // A new token: the quotes and the raw text, and 8 for the control character at which the
        // lexer would stop inside it (a string holds none unescaped).
        run = length + 2 + 8;
        const std::uint64_t heap = string_heap_bytes(length);
        scan.string_heap_bytes += heap;
        ++scan.strings;
        if (depth > 0 && frames[depth - 1].object && frames[depth - 1].expect_key) {
          Frame& frame = frames[depth - 1];
          frame.expect_key = false;
          const std::string_view raw = text.substr(i + 1, length);
          frame.key = frame.role == Role::kRequest && raw == "inputs" ? KeyRole::kInputs
                      : frame.role == Role::kInput && raw == "data"   ? KeyRole::kData
                                                                      : KeyRole::kOther;
          if (frame.role != Role::kData) bytes += kMemberBytes + heap;
        } else if (value_role(false, false) != Role::kData) {
          add_element();
          bytes += kStringBytes + heap;
        }
        i = j + 1;
        break;
      }
      case '{':
      case '[': {
        const Role role = value_role(true, c == '{');
        if (role != Role::kData) add_element();
        if (depth == max_depth) {
          scan.too_deep = true;
          scan.depth = depth + 1;
          i = size;
          break;
        }
        frames[depth++] = Frame{0, c == '{', c == '{', role, KeyRole::kOther};
        scan.depth = std::max(scan.depth, depth);
        if (c == '{') {
          ++scan.objects;
          if (role != Role::kData) bytes += kObjectBytes;
        } else {
          ++scan.arrays;
          if (role != Role::kData) bytes += kArrayBytes;
        }
        ++i;
        break;
      }
      case '}':
      case ']':
        if (depth > 0) {
          --depth;
          if (!frames[depth].object) close_array(frames[depth]);
        }
        ++i;
        break;
      case ',':
        if (depth > 0 && frames[depth - 1].object) frames[depth - 1].expect_key = true;
        ++i;
        break;
      default: {
        std::size_t j = i;
        std::uint64_t controls = 0;  // quoted 8 bytes each, 7 more than their own
        for (;;) {
          while (j < size && kBareTokenStops[static_cast<unsigned char>(text[j])] == 0) {
            controls += static_cast<unsigned char>(text[j]) < 0x20 ? 1 : 0;
            ++j;
          }
          if (j == size || text[j] != '\0') break;
          scan.nul_byte = true;  // part of the token, as far as the scan is concerned
          ++controls;
          ++j;
        }
        if (value_role(false, false) == Role::kData) {
          ++scan.data_scalars;
          bytes += 8;  // its element of the tensor
        } else {
          add_element();
        }
        ++scan.scalars;
        // A number starts a new token; a literal or a stray byte joins the current one.
        const bool number = c == '-' || (c >= '0' && c <= '9');
        run = (number ? 0 : run - 1) + (j - i) + 7 * controls;
        i = j;
        break;
      }
    }
    longest_token = std::max(longest_token, run);
  }
  while (depth > 0) {  // text that ends inside containers: what the parser built until then
    --depth;
    if (!frames[depth].object) close_array(frames[depth]);
  }
  scan.document_bytes =
      bytes + largest_regrowth + kLexerBytesPerTokenByte * (longest_token + 16) + kParserFixedBytes;
  return scan;
}

void check_json_limits(const JsonScan& scan, const JsonLimits& limits, std::string_view what) {
  const std::size_t max_depth = std::min(limits.max_depth, kJsonDepthCeiling);
  if (scan.too_deep || scan.depth > max_depth) {
    throw UsageError(std::string(what) + " nests arrays and objects more than " +
                     std::to_string(max_depth) + " levels deep");
  }
  if (scan.document_bytes > limits.max_document_bytes) {
    throw UsageError(std::string(what) + " would take " + format_bytes(scan.document_bytes) +
                     " of memory as a JSON document, more than the per-request limit of " +
                     format_bytes(limits.max_document_bytes));
  }
}

json parse_json(std::string_view text, const JsonLimits& limits, std::string_view what) {
  const JsonScan scan = scan_json(text, limits.max_depth);
  check_json_limits(scan, limits, what);
  if (scan.nul_byte) throw UsageError(std::string(what) + " is not valid JSON (a NUL byte)");
  json root = json::parse(text.begin(), text.end(), nullptr, false);
  if (root.is_discarded()) throw UsageError(std::string(what) + " is not valid JSON");
  return root;
}

}  // namespace brulee::serve
