#include "serve/http_target.hpp"

#include <charconv>

namespace brulee::serve {

namespace {

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;  // two hex digits must follow
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc() || end != in.data() + i + 3 || value == 0 || value == '/') return false;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return true;
}

}  // namespace

std::optional<RequestTarget> parse_target(std::string_view target, std::string& error) {
  RequestTarget parsed;
  const auto question = target.find('?');
  if (question != std::string_view::npos) {
    parsed.query = target.substr(question + 1);
    target = target.substr(0, question);
  }
  if (target.empty() || target.front() != '/') {
    error = "the request target must be an absolute path";
    return std::nullopt;
  }
  target.remove_prefix(1);
  if (!target.empty() && target.back() == '/') target.remove_suffix(1);
  std::size_t start = 0;
  for (;;) {
    if (parsed.segments.size() == kMaxTargetSegments) {
      error = "the request path has more than " + std::to_string(kMaxTargetSegments) + " segments";
      return std::nullopt;
    }
    const auto slash = target.find('/', start);
    std::string decoded;
    if (!percent_decode(target.substr(start, slash - start), decoded)) {
      error = "malformed percent-encoding in the request path";
      return std::nullopt;
    }
    parsed.segments.push_back(std::move(decoded));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parsed;
}

std::optional<std::string_view> query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace brulee::serve
