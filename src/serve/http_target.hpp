#pragma once
// A request target ("/v2/models/m0/infer?top_k=3") split for routing: percent-decoded path
// segments and the raw query. Kept apart from the network code so it can be tested and fuzzed
// alone (tests/serve/http_target_test.cpp, fuzz/).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace brulee::serve {

struct RequestTarget {
  std::vector<std::string> segments;  // "/v2/models/m0/" -> {"v2", "models", "m0"}
  std::string_view query;             // after '?', undecoded; views into the parsed target
};

inline constexpr std::size_t kMaxTargetSegments = 16;

// Fails (nullopt, `error` says why) on a target that is not an absolute path, on a malformed
// escape, on an escape decoding to NUL or '/', and on more than kMaxTargetSegments segments.
// One trailing slash is ignored ("/v2/" is "/v2").
std::optional<RequestTarget> parse_target(std::string_view target, std::string& error);

// The value of `key` in a query string ("a=1&b=2"), undecoded; "" for a key without '='.
std::optional<std::string_view> query_value(std::string_view query, std::string_view key);

}  // namespace brulee::serve
