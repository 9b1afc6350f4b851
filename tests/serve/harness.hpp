#pragma once
// Starts a real server (scheduler + HTTP on 127.0.0.1, a free port) around the fake runtime.
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_model.hpp"
#include "serve/http_server.hpp"
#include "serve/service.hpp"

namespace brulee::serve::testing {

using nlohmann::json;

struct Harness {
  FakeLoader loader;
  Logger logger{LogFormat::kText, false};
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<Service> service;
  std::unique_ptr<HttpServer> http;
  int port = 0;

  Harness(std::vector<ServedModel> models, SchedulerOptions scheduler_options,
          HttpOptions http_options = {}, std::uint64_t max_inflight_bytes = kDefaultInflightBytes) {
    http_options.host = "127.0.0.1";
    http_options.port = 0;
    scheduler = std::make_unique<Scheduler>(std::move(models), loader, scheduler_options);
    service = std::make_unique<Service>(*scheduler, max_inflight_bytes);
    http = std::make_unique<HttpServer>(*service, http_options, logger);
    port = http->bind();
    http->start();
  }
  ~Harness() {
    loader.load_gate.open();
    loader.exec_gate.open();
    loader.unload_gate.open();
    http->shutdown(std::chrono::seconds(5));
  }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_read_timeout(30, 0);
    c->set_connection_timeout(5, 0);
    return c;
  }
  json cache() const {
    auto res = client()->Get("/v2/cache");
    if (!res || res->status != 200) return json();
    return json::parse(res->body);
  }
  json model_entry(const std::string& name) const {
    const json snapshot = cache();
    if (!snapshot.is_object()) return json();
    for (const auto& m : snapshot["models"]) {
      if (m["name"] == name) return m;
    }
    return json();
  }
  bool alive() const {
    auto res = client()->Get("/v2/health/live");
    return res && res->status == 200;
  }
};

inline std::string infer_body(const std::vector<float>& values) {
  json body{
      {"inputs",
       {{{"name", "x"}, {"shape", {values.size()}}, {"datatype", "FP32"}, {"data", values}}}}};
  return body.dump();
}

inline SchedulerOptions options_with(std::uint64_t memory_bytes, std::string policy = "lru") {
  SchedulerOptions options;
  options.memory_bytes = memory_bytes;
  options.policy = std::move(policy);
  options.exec_threads = 2;
  options.loader_threads = 1;
  return options;
}

// Sends `raw` over a plain socket, `chunk` bytes at a time with a pause between chunks, and
// returns everything the server answers until it closes or `limit` seconds pass.
// A socket connected to 127.0.0.1:port, or -1.
inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what the server answers on `fd` (up to 10 s of silence): the header only, or with
// `whole_body` until the declared body has arrived or the server closes.
inline std::string read_answer(int fd, bool whole_body) {
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string answer;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(got));
    const auto header_end = answer.find("\r\n\r\n");
    if (header_end == std::string::npos) continue;
    if (!whole_body) break;
    const auto pos = answer.find("Content-Length: ");
    if (pos != std::string::npos && pos < header_end) {
      const auto length = std::stoul(answer.substr(pos + 16));
      if (answer.size() >= header_end + 4 + length) break;
    }
  }
  return answer;
}

inline std::string raw_exchange(int port, const std::string& raw, std::size_t chunk = 0,
                                std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  if (chunk == 0) chunk = raw.size();
  for (std::size_t i = 0; i < raw.size(); i += chunk) {
    const std::size_t n = std::min(chunk, raw.size() - i);
    if (::send(fd, raw.data() + i, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) break;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  std::string answer = read_answer(fd, true);
  ::close(fd);
  return answer;
}

inline int status_of(const std::string& raw_answer) {
  if (raw_answer.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::stoi(raw_answer.substr(9, 3));
}

}  // namespace brulee::serve::testing
