// The REST front's reading of a request on arbitrary bytes: Boost.Beast's request parser with
// the server's limits (header 16 KiB, body 64 KiB here), fed in pieces as a socket would, then
// the request target split for routing (http_target.hpp) and the query read:
// - no sanitizer report; the parser stops at the header limit (the header it holds never
//   passes it) and the body never passes the body limit;
// - parse_target either fails with a reason or gives at most kMaxTargetSegments segments, none
//   holding a '/' or a NUL byte.
#include <cstdint>
#include <string_view>

#include <boost/beast/http.hpp>

#include "check.hpp"
#include "serve/http_target.hpp"

namespace http = boost::beast::http;
using brulee::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint32_t kHeaderLimit = 16u << 10;
  constexpr std::uint64_t kBodyLimit = 64u << 10;
  if (size == 0) return 0;
  // Byte 0 picks the piece size (1..256 bytes): the parser must give the same verdict whatever
  // the split, as requests arrive in arbitrary TCP segments.
  const std::size_t piece = std::size_t{data[0]} + 1;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  boost::beast::error_code ec;
  std::string pending;
  for (std::size_t at = 0; at < bytes.size() && !ec && !parser.is_done(); at += piece) {
    pending.append(bytes.substr(at, piece));
    const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
    if (ec == http::error::need_more) ec = {};
    pending.erase(0, used);
    if (pending.size() > kHeaderLimit + piece + 4096)
      fail("unparsed bytes grew past the header limit");
  }
  if (parser.get().body().size() > kBodyLimit) fail("the body passed the body limit");
  if (!parser.is_header_done()) return 0;
  const auto target_view = parser.get().target();
  std::string error;
  const auto target =
      brulee::serve::parse_target(std::string_view(target_view.data(), target_view.size()), error);
  if (!target) {
    if (error.empty()) fail("parse_target failed without a reason");
    return 0;
  }
  if (target->segments.size() > brulee::serve::kMaxTargetSegments) fail("too many segments");
  for (const auto& segment : target->segments) {
    if (segment.find('/') != std::string::npos || segment.find('\0') != std::string::npos) {
      fail("a decoded segment holds '/' or NUL");
    }
  }
  (void)brulee::serve::query_value(target->query, "top_k");
  return 0;
}
