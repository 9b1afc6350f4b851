// The server under hostile input with a small in-flight ceiling: each class of oversized input
// from the serving-edge review, several at once, while the process's peak RSS is watched. The
// peak may grow by the ceiling plus a stated constant (the clients' own buffers, threads,
// allocator slack), never by what the attacks ask for (hundreds of MB to GBs before the fixes).
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <thread>

#include "harness.hpp"

namespace brulee::serve::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

std::uint64_t status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::string(field).size() + 1));
  }
  return 0;
}

// Sends `head`, then `body_bytes` bytes made by `fill(piece, bytes, offset)` in 64 KiB pieces
// (nothing large is held on the client side), then reads whatever the server answers. Returns
// the status (-1: none).
using Fill = std::function<void(std::string&, std::uint64_t, std::uint64_t)>;
int stream_request(int port, const std::string& head, std::uint64_t body_bytes, const Fill& fill) {
  const int fd = connect_loopback(port);
  if (fd < 0) return -1;
  timeval timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  bool sent = ::send(fd, head.data(), head.size(), MSG_NOSIGNAL) > 0;
  std::string piece;
  for (std::uint64_t offset = 0; sent && offset < body_bytes; offset += piece.size()) {
    piece.clear();
    fill(piece, std::min<std::uint64_t>(64 << 10, body_bytes - offset), offset);
    // The server may answer and close early (413, 503): stop sending then.
    sent =
        ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(piece.size());
  }
  ::shutdown(fd, SHUT_WR);
  const std::string answer = read_answer(fd, false);
  ::close(fd);
  return status_of(answer);
}

void repeat(std::string& piece, std::uint64_t bytes, std::string_view unit) {
  while (piece.size() + unit.size() <= bytes) piece += unit;
  piece.append(bytes - piece.size(), ' ');
}

std::string post_head(const std::string& path, std::uint64_t length,
                      const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + extra +
         "Content-Length: " + std::to_string(length) + "\r\n\r\n";
}

TEST(ServeAttack, PeakRssStaysUnderTheInflightCeilingPlusAConstant) {
  constexpr std::uint64_t kCeiling = 32 * kMiB;
  // Client buffers, thread stacks, the allocator's arenas and the model: a stated constant.
  constexpr std::uint64_t kConstant = 64 * kMiB;
  HttpOptions http;
  http.max_body_bytes = 128 * kMiB;
  http.max_header_bytes = 16 << 10;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http, kCeiling);
  ASSERT_EQ(h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status,
            200);
  // (An image declaring 14000x14000 pixels needs an image model: image_test refuses it from its
  // header and bounds what a decode allocates.)
  std::ofstream("/proc/self/clear_refs") << "5";  // reset the peak (VmHWM) to the current RSS
  const std::uint64_t base_kib = status_kib("VmRSS:");

  struct Attack {
    const char* name;
    std::function<int()> send;
  };
  const int port = h.port;
  const std::vector<Attack> attacks{
      {"JSON nested 100,000 deep",
       [port] {
         const std::uint64_t n = 100000;
         return stream_request(port, post_head("/v2/models/m0/infer", 2 * n + 40), 2 * n + 40,
                               [](std::string& piece, std::uint64_t bytes, std::uint64_t) {
                                 repeat(piece, bytes, "{\"a\":[");
                               });
       }},
      {"4 MB of empty objects (~133 MB as a document)",
       [port] {
         constexpr std::uint64_t kBytes = 4 * kMiB;
         // [{},{},...,{}]: valid JSON, so a parser would build the whole document.
         return stream_request(port, post_head("/v2/models/m0/infer", kBytes), kBytes,
                               [](std::string& piece, std::uint64_t bytes, std::uint64_t offset) {
                                 if (offset == 0) piece = "[";
                                 const bool last = offset + bytes == kBytes;
                                 repeat(piece, bytes - (last ? 3 : 0), "{},");
                                 if (last) piece += "{}]";
                               });
       }},
      {"gzip body declaring 256 MB",
       [port] {
         return stream_request(
             port, post_head("/v2/models/m0/infer", 1 * kMiB, "Content-Encoding: gzip\r\n"),
             1 * kMiB, [](std::string& piece, std::uint64_t bytes, std::uint64_t) {
               piece.assign(bytes, '\0');
             });
       }},
      {"chunked 100 MB body",
       [port] {
         return stream_request(
             port,
             "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
             100 * kMiB, [](std::string& piece, std::uint64_t bytes, std::uint64_t) {
               // One chunk per piece: "<hex size>\r\n" data "\r\n", exactly `bytes` long.
               char size[32];
               std::uint64_t data = bytes > 8 ? bytes - 8 : 0;
               int digits =
                   std::snprintf(size, sizeof size, "%llx", static_cast<unsigned long long>(data));
               data = bytes > static_cast<std::uint64_t>(digits) + 4
                          ? bytes - static_cast<std::uint64_t>(digits) - 4
                          : 0;
               digits =
                   std::snprintf(size, sizeof size, "%llx", static_cast<unsigned long long>(data));
               piece = std::string(size) + "\r\n";
               piece.append(data, 'x');
               piece += "\r\n";
               piece.resize(bytes, ' ');
             });
       }},
      {"length-less 100 MB body",
       [port] {
         return stream_request(port, "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\n\r\n",
                               100 * kMiB,
                               [](std::string& piece, std::uint64_t bytes, std::uint64_t) {
                                 piece.assign(bytes, 'x');
                               });
       }},
      {"64 MB request line",
       [port] {
         return stream_request(port, "GET /v2/", 64 * kMiB,
                               [](std::string& piece, std::uint64_t bytes, std::uint64_t) {
                                 piece.assign(bytes, 'a');
                               });
       }},
      {"20,000 headers",
       [port] {
         return stream_request(port, "GET /v2 HTTP/1.1\r\n", 20000 * 12,
                               [](std::string& piece, std::uint64_t bytes, std::uint64_t) {
                                 repeat(piece, bytes, "X-Header: v\r\n");
                               });
       }},
      {"10,000 repeated output names",
       [port] {
         std::string body = R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],)"
                            R"("outputs":[)";
         for (int i = 0; i < 10000; ++i) body += std::string(i ? "," : "") + R"({"name":"y"})";
         body += "]}";
         return stream_request(port, post_head("/v2/models/m0/infer", body.size()) + body, 0,
                               [](std::string&, std::uint64_t, std::uint64_t) {});
       }},
  };
  for (const Attack& attack : attacks) {
    // Four at once, as several attackers would.
    std::vector<std::future<int>> runs;
    for (int i = 0; i < 4; ++i) runs.push_back(std::async(std::launch::async, attack.send));
    for (auto& run : runs) {
      const int status = run.get();
      EXPECT_NE(status, 200) << attack.name;
      EXPECT_NE(status, 500) << attack.name;
    }
    EXPECT_TRUE(h.alive()) << attack.name;
    const std::uint64_t peak_kib = status_kib("VmHWM:");
    EXPECT_LE((peak_kib - std::min(peak_kib, base_kib)) * 1024, kCeiling + kConstant)
        << attack.name << ": peak RSS grew by " << (peak_kib - base_kib) / 1024 << " MiB";
  }
  EXPECT_EQ(h.client()->Post("/v2/models/m0/infer", infer_body({2}), "application/json")->status,
            200);
}

}  // namespace
}  // namespace brulee::serve::testing
