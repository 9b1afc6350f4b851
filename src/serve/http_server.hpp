#pragma once
// The HTTP front of the server: KServe v2 routes, the repository extension, brulee's /v2/cache,
// /metrics and image classification (docs/api.md), over cpp-httplib with a bounded thread pool.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "serve/log.hpp"
#include "serve/metrics.hpp"
#include "serve/scheduler.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace brulee::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;             // 0: any free port (read it back with port())
  unsigned http_threads = 64;  // HTTP worker threads (bounded; see docs/server.md)
  std::uint64_t max_body_bytes = 64ull << 20;
  double request_timeout_s = 60.0;  // arrival -> answer, including any load
  int read_timeout_s = 5;           // a client silent this long is disconnected
  int keep_alive_timeout_s = 5;
  std::size_t default_top_k = 5;
};

class HttpServer {
 public:
  HttpServer(Scheduler& scheduler, HttpOptions options, Logger& logger);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket and returns the port. Throws std::runtime_error on failure.
  int bind();
  // Serves until shutdown(); binds first if bind() was not called.
  void run();
  // run() on a background thread.
  void start();
  // Graceful: refuse new inference work (503), wait for queued and executing requests to
  // finish (up to drain_timeout), then stop listening and join the HTTP threads.
  void shutdown(std::chrono::milliseconds drain_timeout);

  int port() const { return port_; }
  Metrics& metrics() { return metrics_; }

 private:
  struct Inference {
    ModelId id = kNoModel;
    Clock::time_point arrival;
    Clock::time_point deadline;
  };

  void install_routes();
  bool begin_inference(const httplib::Request& request, httplib::Response& response,
                       Inference& call);
  bool finish_inference(std::future<InferOutcome> future, const Inference& call,
                        httplib::Response& response, InferOutcome& outcome);
  bool resolve(const httplib::Request& request, httplib::Response& response, ModelId& id);
  bool ensure_specs(ModelId id, httplib::Response& response);
  void reply_error(httplib::Response& response, int status, const std::string& message);

  Scheduler& scheduler_;
  HttpOptions options_;
  Logger& logger_;
  Metrics metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace brulee::serve
