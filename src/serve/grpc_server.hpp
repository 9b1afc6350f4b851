#pragma once
// The gRPC front of the server: inference.GRPCInferenceService (KServe v2 / Open Inference
// Protocol, with Triton's repository, configuration, statistics and streaming calls) over the
// same Service as the REST front: the same scheduler, in-flight ceiling, metrics and outcomes,
// mapped to gRPC status codes (docs/api.md, "gRPC"). Calls are answered through gRPC's callback
// API: a request waiting for a load or an execution slot holds no thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/log.hpp"

namespace brulee::serve {

class Service;

struct GrpcOptions {
  std::string host = "127.0.0.1";
  int port = 8001;  // 0: any free port (start() returns it)
  // Largest message received or sent (RESOURCE_EXHAUSTED above, from gRPC itself).
  std::uint64_t max_message_bytes = 64ull << 20;
  // Calls open at once on one connection (HTTP/2 streams); more wait in the client.
  std::uint32_t max_concurrent_streams = 128;
  // ModelStreamInfer: requests of one stream in progress at once; the stream is not read further
  // until one is answered.
  std::uint32_t max_stream_inflight = 16;
  // gRPC's own buffers (connections, frames, messages being read or written), all connections.
  std::uint64_t transport_memory_bytes = 256ull << 20;
  std::uint32_t max_metadata_bytes = 16u << 10;  // a call's headers
  double request_timeout_s = 60.0;           // arrival -> answer; a client deadline may shorten it
  double handshake_timeout_s = 10.0;         // a new connection's HTTP/2 preface and settings
  double idle_timeout_s = 300.0;             // a connection with no call is closed after (GOAWAY)
  double keepalive_time_s = 60.0;            // the server pings a quiet connection this often...
  double keepalive_timeout_s = 20.0;         // ...and closes it when the ping is not answered
  double min_client_ping_interval_s = 10.0;  // client pings more often than this are strikes
};

// Throws UsageError naming the option when a value is out of range or not finite.
void validate(const GrpcOptions& options);

class GrpcServer {
 public:
  // Serves `service` (shared with the REST front; it outlives the server). Throws UsageError
  // on invalid options.
  GrpcServer(Service& service, GrpcOptions options, Logger& logger);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Listens and serves on gRPC's own threads; returns the port. Throws std::runtime_error when
  // it cannot listen (including a port another process listens on: no SO_REUSEPORT).
  int start();
  // New calls are refused (UNAVAILABLE) from the moment the Service drains; this waits for the
  // calls in progress (at most `grace`), cancels the rest and stops. Idempotent.
  void shutdown(std::chrono::milliseconds grace);
  int port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brulee::serve
