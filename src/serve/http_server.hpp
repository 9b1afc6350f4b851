#pragma once
// The REST front of the server: KServe v2 routes, the model repository and statistics
// extensions, brulee's /v2/cache, /metrics and image classification (docs/api.md), over an
// asynchronous HTTP/1.1 layer (Boost.Beast on Asio with C++20 coroutines): a fixed pool of
// network threads holds any number of connections, and a request waiting for a model load holds
// no thread (docs/server.md, "Network layer").
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/log.hpp"
#include "serve/metrics.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve {

class Service;

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (read it back with port())
  // A second listener for health checks and metrics only (docs/server.md, "The admin port"):
  // uncharged, at most kMaxAdminConnections at once, GET without a body on a few paths.
  // -1: none; 0: any free port (read it back with admin_port()).
  int admin_port = -1;
  unsigned network_threads = 2;  // threads running the network layer, whatever the connections
  std::size_t max_connections = 10000;  // open connections; more are closed at accept
  std::uint64_t max_body_bytes = 64ull << 20;
  std::uint32_t max_header_bytes = 16u << 10;  // request line + all headers
  double request_timeout_s = 60.0;             // arrival -> answer, including any load
  double header_timeout_s = 10.0;              // first byte of a request -> its whole header
  double idle_timeout_s = 60.0;   // a connection with no request in progress is closed after
  double body_timeout_s = 60.0;   // header -> whole body
  double write_timeout_s = 30.0;  // an answer the client does not read is dropped after
  // A request whose body (and, for JSON inference, its parse) does not fit the in-flight ceiling
  // waits this long after its header for requests in flight to give room back, then gets 503.
  double inflight_wait_s = 10.0;
  std::size_t default_top_k = 5;
  std::uint64_t max_image_pixels = 4096ull * 4096ull;
};

// Throws UsageError naming the option when a value is out of range or not finite.
void validate(const HttpOptions& options);

class HttpServer {
 public:
  // Serves `service` (shared with any other front-end; it outlives the server). Throws
  // UsageError on invalid options.
  HttpServer(Service& service, HttpOptions options, Logger& logger);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket and returns the port. Throws std::runtime_error on failure
  // (including a port another process already listens on: no SO_REUSEPORT).
  int bind();
  // Serves until shutdown(); binds first if bind() was not called.
  void run();
  // run() on background threads; returns once listening.
  void start();
  // Graceful: stop accepting connections, answer new requests 503 (Connection: close), let
  // every request already read finish (up to drain_timeout), then stop the network threads and
  // the scheduler.
  void shutdown(std::chrono::milliseconds drain_timeout);

  int port() const;
  int admin_port() const;  // -1 without one
  Metrics& metrics();
  // Open connections and bytes currently charged to the in-flight ceiling.
  std::size_t connections() const;
  std::uint64_t inflight_bytes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brulee::serve
