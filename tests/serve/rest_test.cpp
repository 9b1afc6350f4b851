// The REST surface against the KServe v2 spec and Triton's clients' calls, and the network layer
// against unusual and hostile clients: bodyless POSTs, chunked bodies, keep-alive, trailing
// slashes, routes versus model names, header and body limits, slow and idle connections, the
// in-flight memory ceiling. Real sockets on 127.0.0.1, the fake runtime of fake_model.hpp.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>

#include <future>
#include <thread>

#include "harness.hpp"
#include "serve/service.hpp"

namespace brulee::serve::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;
// What an open connection is charged under a process limit (http_server.cpp, kConnectionBytes).
constexpr std::uint64_t kConnection = 8u << 10;

// A client connection held open by the test (idle, slow or ordinary).
class Connection {
 public:
  explicit Connection(int port) : fd_(connect_loopback(port)) {
    timeval timeout{10, 0};
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads one whole answer (header + Content-Length body). Empty on close or timeout.
  std::string read_answer() {
    for (;;) {
      const auto header_end = pending_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::size_t length = 0;
        const auto pos = pending_.find("Content-Length: ");
        if (pos != std::string::npos && pos < header_end)
          length = std::stoul(pending_.substr(pos + 16));
        if (pending_.size() >= header_end + 4 + length) {
          std::string answer = pending_.substr(0, header_end + 4 + length);
          pending_.erase(0, header_end + 4 + length);
          return answer;
        }
      }
      char buffer[8192];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) return {};
      pending_.append(buffer, static_cast<std::size_t>(got));
    }
  }
  // Whether the server closed the connection (reads EOF within the timeout).
  bool closed_by_server(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char byte;
    return ::recv(fd_, &byte, 1, MSG_PEEK) == 0;
  }

 private:
  int fd_ = -1;
  std::string pending_;
};

std::string body_of(const std::string& answer) {
  const auto end = answer.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : answer.substr(end + 4);
}

std::string post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(ServeRest, BodylessPostIsAnEmptyBody) {
  // tritonclient's get_model_repository_index(): POST, no Content-Length, no Transfer-Encoding.
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  Connection c(h.port);
  ASSERT_TRUE(c.send("POST /v2/repository/index HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = c.read_answer();
  ASSERT_EQ(status_of(answer), 200) << answer;
  const json index = json::parse(body_of(answer));
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0]["name"], "m0");
  // The same connection carries on (keep-alive).
  ASSERT_TRUE(c.send("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(status_of(c.read_answer()), 200);
}

TEST(ServeRest, ChunkedBodyIsRead) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  const std::string body = infer_body({1.5f, 2.0f});
  std::string raw =
      "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::size_t half = body.size() / 2;
  for (const std::string& part : {body.substr(0, half), body.substr(half)}) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    raw += size + part + "\r\n";
  }
  raw += "0\r\n\r\n";
  Connection c(h.port);
  ASSERT_TRUE(c.send(raw));
  const std::string answer = c.read_answer();
  ASSERT_EQ(status_of(answer), 200) << answer;
  EXPECT_EQ(json::parse(body_of(answer))["outputs"][0]["data"], json({3.0, 4.0}));
}

TEST(ServeRest, KeepAliveHasNoRequestCapAndPipelinesInOrder) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  Connection c(h.port);
  std::string pipelined;
  for (int i = 0; i < 50; ++i) {
    pipelined += post("/v2/models/m0/infer", infer_body({static_cast<float>(i)}));
  }
  ASSERT_TRUE(c.send(pipelined));
  for (int i = 0; i < 50; ++i) {
    const std::string answer = c.read_answer();
    ASSERT_EQ(status_of(answer), 200) << i << ": " << answer;
    EXPECT_EQ(answer.find("Connection: close"), std::string::npos);
    EXPECT_EQ(json::parse(body_of(answer))["outputs"][0]["data"][0].get<double>(), 2.0 * i);
  }
}

TEST(ServeRest, TrailingSlashAndStatsRoute) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  auto c = h.client();
  auto with_slash = c->Get("/v2/");
  ASSERT_TRUE(with_slash);
  EXPECT_EQ(with_slash->status, 200);
  EXPECT_EQ(json::parse(with_slash->body)["name"], "brulee");
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m0/infer", "{bad", "application/json")->status, 400);
  // "stats" is the statistics extension's route, not a model called "stats".
  auto all = c->Get("/v2/models/stats");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  const json stats = json::parse(all->body);
  ASSERT_EQ(stats["model_stats"].size(), 2u);
  const json& m0 = stats["model_stats"][0];
  EXPECT_EQ(m0["name"], "m0");
  EXPECT_EQ(m0["version"], "1");
  EXPECT_EQ(m0["inference_count"], 2);
  EXPECT_EQ(m0["inference_stats"]["success"]["count"], 2);
  EXPECT_GT(m0["inference_stats"]["success"]["ns"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(m0["inference_stats"]["cache_miss"]["count"], 1);
  EXPECT_EQ(m0["inference_stats"]["cache_hit"]["count"], 1);
  EXPECT_EQ(m0["brulee"]["loads"], 1);
  EXPECT_GT(m0["last_inference"].get<std::uint64_t>(), 0u);
  auto one = c->Get("/v2/models/m1/versions/1/stats");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body)["model_stats"].size(), 1u);
  EXPECT_EQ(c->Get("/v2/models/nope/stats")->status, 404);
}

TEST(ServeRest, ModelConfigInTritonsShape) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  auto res = h.client()->Get("/v2/models/m0/config");  // loads the model to learn its tensors
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json config = json::parse(res->body);
  EXPECT_EQ(config["name"], "m0");
  EXPECT_EQ(config["platform"], "fake");
  EXPECT_EQ(config["max_batch_size"], 0);
  ASSERT_EQ(config["input"].size(), 1u);
  EXPECT_EQ(config["input"][0], json({{"name", "x"}, {"data_type", "TYPE_FP32"}, {"dims", {-1}}}));
  EXPECT_EQ(config["output"][0]["name"], "y");
  EXPECT_EQ(h.client()->Get("/v2/models/m0/versions/2/config")->status, 404);
}

TEST(ServeRest, PlatformNamesFollowTritonsConventions) {
  EXPECT_EQ(platform_name("onnx"), "onnxruntime_onnx");
  EXPECT_EQ(platform_name("torchscript"), "pytorch_libtorch");
  EXPECT_EQ(backend_library("onnx"), "opencv_dnn");
}

TEST(ServeRest, WrongMethodIs405WithAllow) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  auto res = h.client()->Get("/v2/models/m0/infer");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
  EXPECT_TRUE(json::parse(res->body)["error"].is_string());
}

TEST(ServeRest, AnyContentTypeIsAccepted) {
  // curl --data-binary sends application/x-www-form-urlencoded; a body over 8 KiB must still be
  // read as the route's JSON.
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  std::vector<float> values(3000, 0.5f);
  auto res = h.client()->Post("/v2/models/m0/infer", infer_body(values),
                              "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST(ServeRest, ExpectContinueIsAnswered) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  const std::string body = infer_body({1});
  Connection c(h.port);
  ASSERT_TRUE(
      c.send("POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  const std::string interim = c.read_answer();
  EXPECT_EQ(status_of(interim), 100) << interim;
  ASSERT_TRUE(c.send(body));
  EXPECT_EQ(status_of(c.read_answer()), 200);
}

TEST(ServeLimits, CompressedBodiesAreRefused) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  const int status = status_of(raw_exchange(
      h.port, post("/v2/models/m0/infer", std::string(64, 'x'), "Content-Encoding: gzip\r\n")));
  EXPECT_EQ(status, 415);
  EXPECT_TRUE(h.alive());
}

TEST(ServeLimits, HeaderLimitsHoldWhileReading) {
  HttpOptions http;
  http.max_header_bytes = 8192;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  // A 1 MB request line, a 1 MB header, 20,000 headers: each refused once the limit is passed.
  const std::string long_line = "GET /v2/" + std::string(1 << 20, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(h.port, long_line)), 431);
  const std::string long_header =
      "GET /v2 HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'b') + "\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(h.port, long_header)), 431);
  std::string many = "GET /v2 HTTP/1.1\r\n";
  for (int i = 0; i < 20000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  EXPECT_EQ(status_of(raw_exchange(h.port, many)), 431);
  EXPECT_TRUE(h.alive());
}

TEST(ServeLimits, ChunkedBodiesAreBoundedWhileReading) {
  HttpOptions http;
  http.max_body_bytes = 64 << 10;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  std::string raw =
      "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(32 << 10, 'x');
  for (int i = 0; i < 64; ++i) raw += "8000\r\n" + chunk + "\r\n";  // 2 MiB in all
  raw += "0\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(h.port, raw)), 413);
  EXPECT_TRUE(h.alive());
}

TEST(ServeLimits, InflightCeilingAnswers503) {
  HttpOptions http;
  http.max_body_bytes = 8 * kMiB;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http, 1 * kMiB);
  // A declared body above the ceiling is refused before it is read.
  const std::string big = raw_exchange(
      h.port, "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_EQ(status_of(big), 503) << big;
  EXPECT_NE(big.find("Retry-After"), std::string::npos);
  // A chunked body is charged as it arrives.
  std::string raw =
      "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(64 << 10, 'x');
  for (int i = 0; i < 32; ++i) raw += "10000\r\n" + chunk + "\r\n";
  raw += "0\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(h.port, raw)), 503);
  // The ceiling is all given back once the refused requests' connections are closed, and small
  // requests pass.
  for (int tries = 0; tries < 400 && h.http->inflight_bytes() > 0; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.http->inflight_bytes(), 0u);
  EXPECT_EQ(h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status,
            200);
  auto metrics = h.client()->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("brulee_inflight_limit_bytes 1048576"), std::string::npos);
}

TEST(ServeLimits, ARequestWithoutInflightRoomWaitsForItUnread) {
  // An inference whose body alone (160 kB) does not fit beside a request holding most of the
  // ceiling (a body announced and not sent yet); alone, it and its parse reservation (4 bytes
  // per byte of JSON) do.
  const std::string body = infer_body(std::vector<float>(40000, 1.0f));
  for (const double wait_s : {10.0, 0.0}) {
    SCOPED_TRACE("--inflight-wait " + std::to_string(wait_s));
    HttpOptions http;
    http.inflight_wait_s = wait_s;
    Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http, 4 * kMiB);
    ASSERT_EQ(h.client()->Post("/v2/models/m0/infer", body, "application/json")->status, 200);
    auto holder = std::make_unique<Connection>(h.port);
    ASSERT_TRUE(holder->send(
        "POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Length: 4100000\r\n\r\n"));
    for (int tries = 0; tries < 400 && h.http->inflight_bytes() < 4100000; ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const std::uint64_t held = h.http->inflight_bytes();
    ASSERT_GE(held, 4100000u);
    auto second = std::async(std::launch::async, [&] {
      auto result = h.client()->Post("/v2/models/m0/infer", body, "application/json");
      return result ? result->status : -1;
    });
    if (wait_s == 0.0) {
      EXPECT_EQ(second.get(), 503);  // at once, while the holder still holds its charge
      continue;
    }
    // The second waits without charging anything (its body stays unread in the socket), and
    // goes ahead once the holder's connection is gone and its charge given back.
    EXPECT_EQ(second.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
    EXPECT_EQ(h.http->inflight_bytes(), held);
    holder.reset();
    EXPECT_EQ(second.get(), 200);
  }
}

// Room given back goes to waiting requests in the order they began to wait: a small request
// that would fit does not overtake a larger one waiting before it.
TEST(ServeLimits, WaitingRequestsAreNotOvertaken) {
  const std::string large = infer_body(std::vector<float>(40000, 1.0f));  // 160 kB + parse
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), {}, 4 * kMiB);
  ASSERT_EQ(h.client()->Post("/v2/models/m0/infer", large, "application/json")->status, 200);
  auto holder = std::make_unique<Connection>(h.port);
  ASSERT_TRUE(holder->send(
      "POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Length: 4100000\r\n\r\n"));
  for (int tries = 0; tries < 400 && h.http->inflight_bytes() < 4100000; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(h.http->inflight_bytes(), 4100000u);
  auto post = [&](const std::string& body) {
    return std::async(std::launch::async, [&h, body] {
      auto result = h.client()->Post("/v2/models/m0/infer", body, "application/json");
      return result ? result->status : -1;
    });
  };
  auto first = post(large);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the large one waits first
  auto second = post(infer_body({1}));  // 17 kB with its overhead: there is room for it
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  holder.reset();
  EXPECT_EQ(first.get(), 200);
  EXPECT_EQ(second.get(), 200);
}

TEST(ServeLimits, UnderAProcessLimitConnectionsWaitInTheListenQueueForRoom) {
  // The buffers' room (a quarter of 1 MiB) is 256 KiB; connections may hold half of it, 16 at
  // 8 KiB. The 17th is not taken on (it and those behind it wait in the listen queue, holding
  // none of the server's memory) until one closes, and the other half stays for requests: the
  // open connections' requests are still read and answered.
  SchedulerOptions options = options_with(4 * kMiB);
  options.process_memory_bytes = kMiB;  // baseline 0: only charges count
  Harness h(fake_models(1, 64 << 10), options);
  std::vector<std::unique_ptr<Connection>> open;
  for (int i = 0; i < 16; ++i) open.push_back(std::make_unique<Connection>(h.port));
  for (int tries = 0; tries < 400 && h.http->connections() < 16; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(h.http->connections(), 16u);
  EXPECT_EQ(h.http->inflight_bytes(), 16u * kConnection);
  auto late = std::async(std::launch::async, [&] {
    auto result = h.client()->Get("/v2/health/live");
    if (result && result->status != 200) ADD_FAILURE() << result->body;
    return result ? result->status : -1;
  });
  EXPECT_EQ(late.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(h.http->connections(), 16u);
  // Every open connection's inference is read and answered meanwhile.
  const std::string body = infer_body(std::vector<float>(1000, 1.0f));
  for (auto& connection : open) {
    ASSERT_TRUE(
        connection->send("POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body));
  }
  for (auto& connection : open) {
    const std::string answer = connection->read_answer();
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  }
  EXPECT_EQ(late.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  open.pop_back();
  EXPECT_EQ(late.get(), 200);
  open.clear();  // their charges go with them; a client's kept-alive connection keeps its own
  for (int tries = 0; tries < 400 && h.http->connections() > 1; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.http->inflight_bytes(), h.http->connections() * kConnection);
}

// Under a process limit a header longer than what came with the connection's first read grows
// the read buffer (4 KiB) by doubling, each growth charged before it happens and given back with
// its request: a slow header costs what its client has sent, not the header limit.
TEST(ServeLimits, UnderAProcessLimitALongHeaderIsChargedAsItGrows) {
  SchedulerOptions options = options_with(4 * kMiB);
  options.process_memory_bytes = kMiB;  // baseline 0: only charges count
  Harness h(fake_models(1, 64 << 10), options);
  Connection connection(h.port);
  const std::string start = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n";
  ASSERT_TRUE(connection.send(start));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(h.http->inflight_bytes(), kConnection);  // a slow header within the first 4 KiB
  ASSERT_TRUE(connection.send("X-Long: " + std::string(9000, 'a') + "\r\n"));
  constexpr std::uint64_t kGrown = kConnection + (4u << 10) + (8u << 10);  // 4 -> 8 -> 16 KiB
  for (int tries = 0; tries < 400 && h.http->inflight_bytes() < kGrown; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.http->inflight_bytes(), kGrown);
  ASSERT_TRUE(connection.send("\r\n"));
  const std::string answer = connection.read_answer();
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  for (int tries = 0; tries < 400 && h.http->inflight_bytes() > kConnection; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.http->inflight_bytes(), kConnection);  // the connection, still open
  // The next request on it, whole in one read, is charged nothing for its header.
  ASSERT_TRUE(connection.send("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(connection.read_answer().rfind("HTTP/1.1 200", 0), 0u);
}

// Under a process limit an inference's body is read only once its model is resident: while the
// load runs the request holds the model (pinned, not yet counted as a request), not its body;
// a request whose model is not resident by its deadline gets 503 and lets the model go.
TEST(ServeLimits, UnderAProcessLimitABodyWaitsUnreadForItsModelsLoad) {
  SchedulerOptions options = options_with(4 * kMiB);
  options.process_memory_bytes = 64 * kMiB;  // baseline 0: only charges count
  HttpOptions http;
  http.request_timeout_s = 1.5;
  Harness h(fake_models(2, 64 << 10), options, http);
  const std::string body = infer_body(std::vector<float>(40000, 1.0f));  // 160 kB of FP32
  h.loader.load_gate.close();
  auto answer = std::async(std::launch::async, [&] {
    auto result = h.client()->Post("/v2/models/m0/infer", body, "application/json");
    return result ? result->status : -1;
  });
  for (int tries = 0; tries < 400 && h.loader.loads("m0") == 0; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(h.loader.loads("m0"), 1);  // the header alone started the load
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Only the open connections are charged (8 KiB each): the body waits in the socket.
  EXPECT_EQ(h.http->inflight_bytes(), h.http->connections() * kConnection);
  json m0 = h.model_entry("m0");
  EXPECT_EQ(m0["state"], "loading");
  EXPECT_EQ(m0["pins"], 2);  // the hold's and the load's own
  EXPECT_EQ(m0["requests"], 0);
  h.loader.load_gate.open();
  EXPECT_EQ(answer.get(), 200);
  m0 = h.model_entry("m0");
  EXPECT_EQ(m0["pins"], 0);
  EXPECT_EQ(m0["requests"], 1);
  EXPECT_EQ(m0["misses"], 1);

  // A load that does not end before the request's deadline: 503, and the hold goes with it.
  Gate stuck(false);
  h.loader.set_model_gate("m1", &stuck);
  auto late = h.client()->Post("/v2/models/m1/infer", body, "application/json");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503);
  EXPECT_NE(late->body.find("was not loaded before the request's deadline"), std::string::npos)
      << late->body;
  EXPECT_EQ(h.model_entry("m1")["pins"], 1);  // the load's own; the hold is gone
  stuck.open();
  for (int tries = 0; tries < 400 && h.model_entry("m1")["state"] != "ready"; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.model_entry("m1")["pins"], 0);
  h.loader.set_model_gate("m1", nullptr);
}

// The admin port answers health checks and metrics at once while the main port's connections
// wait for process memory; it serves nothing else and takes no bodies.
TEST(ServeLimits, TheAdminPortAnswersWhileClientsWaitForMemory) {
  SchedulerOptions options = options_with(4 * kMiB);
  options.process_memory_bytes = 256 << 10;  // buffers' share 64 KiB
  HttpOptions http;
  http.admin_port = 0;
  Harness h(fake_models(1, 64 << 10), options, http);
  ASSERT_GT(h.http->admin_port(), 0);
  // A connection (8 KiB) whose request announces a body it does not send (16 KiB + 38 kB):
  // no room is left for another connection.
  auto holder = std::make_unique<Connection>(h.port);
  ASSERT_TRUE(holder->send(
      "POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Length: 38000\r\n\r\n"));
  constexpr std::uint64_t kHeld = kConnection + (16u << 10) + 38000;
  for (int tries = 0; tries < 400 && h.http->inflight_bytes() < kHeld; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::uint64_t held = h.http->inflight_bytes();
  ASSERT_EQ(held, kHeld);
  auto blocked = std::async(std::launch::async, [&] {
    auto result = h.client()->Get("/v2/health/live");
    return result ? result->status : -1;
  });
  EXPECT_EQ(blocked.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  httplib::Client admin("127.0.0.1", h.http->admin_port());
  admin.set_read_timeout(5, 0);
  for (const char* path : {"/v2/health/live", "/v2/health/ready", "/v2", "/v2/cache", "/metrics",
                           "/v2/models/m0/ready", "/v2/models/m0/versions/1/ready"}) {
    auto result = admin.Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 200) << path << ": " << result->body;
  }
  EXPECT_NE(admin.Get("/metrics")->body.find("brulee_inflight_bytes"), std::string::npos);
  auto infer = admin.Post("/v2/models/m0/infer", infer_body({1}), "application/json");
  ASSERT_TRUE(infer);
  EXPECT_EQ(infer->status, 413);
  auto metadata = httplib::Client("127.0.0.1", h.http->admin_port()).Get("/v2/models/m0");
  ASSERT_TRUE(metadata);
  EXPECT_EQ(metadata->status, 404);
  EXPECT_EQ(h.http->inflight_bytes(), held);  // the admin port charged nothing
  holder.reset();
  EXPECT_EQ(blocked.get(), 200);
}

TEST(ServeLimits, SlowAndIdleConnectionsDoNotLockOthersOut) {
  HttpOptions http;
  http.header_timeout_s = 30;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  // 1,000 connections that send nothing and 70 that send a header one byte at a time (fewer
  // idle ones where the descriptor limit is low: both ends live in this process).
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const int idle_count = static_cast<int>(
      std::min<rlim_t>(1000, limit.rlim_cur > 400 ? (limit.rlim_cur - 400) / 2 : 0));
  std::vector<std::unique_ptr<Connection>> idle, slow;
  for (int i = 0; i < idle_count; ++i) idle.push_back(std::make_unique<Connection>(h.port));
  for (int i = 0; i < 70; ++i) {
    slow.push_back(std::make_unique<Connection>(h.port));
    slow.back()->send("G");
  }
  for (int round = 0; round < 3; ++round) {
    for (auto& c : slow) c->send("E");
    EXPECT_TRUE(h.alive());  // health checks are still served
    EXPECT_EQ(h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status,
              200);
  }
  for (auto& c : idle) EXPECT_TRUE(c->ok());
  const auto expected = static_cast<std::size_t>(idle_count) + slow.size();
  for (int tries = 0; tries < 400 && h.http->connections() < expected; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(h.http->connections(), expected);  // all held, none dropped
}

TEST(ServeLimits, StalledHeaderIsDroppedAfterItsDeadline) {
  HttpOptions http;
  http.header_timeout_s = 0.3;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  Connection c(h.port);
  ASSERT_TRUE(c.send("GET /v2/health/li"));
  EXPECT_TRUE(c.closed_by_server(5000));  // closed without an answer
  EXPECT_TRUE(h.alive());
}

TEST(ServeLimits, IdleConnectionIsClosedAfterTheIdleTimeout) {
  HttpOptions http;
  http.idle_timeout_s = 0.3;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  Connection c(h.port);
  EXPECT_TRUE(c.closed_by_server(5000));
}

TEST(ServeLimits, ConnectionsAboveTheCapAreClosed) {
  HttpOptions http;
  http.max_connections = 8;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  std::vector<std::unique_ptr<Connection>> held;
  for (int i = 0; i < 8; ++i) held.push_back(std::make_unique<Connection>(h.port));
  for (int tries = 0; tries < 200 && h.http->connections() < 8; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Connection extra(h.port);
  EXPECT_TRUE(extra.closed_by_server(5000));
  held.clear();
  for (int tries = 0; tries < 200 && h.http->connections() > 0; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(h.alive());
}

TEST(ServeLimits, ASecondServerOnTheSamePortFailsToStart) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  FakeLoader loader;
  Logger logger{LogFormat::kText, false};
  Scheduler scheduler(fake_models(1, kMiB), loader, options_with(4 * kMiB));
  Service service(scheduler);
  HttpOptions http;
  http.port = h.port;
  HttpServer second(service, http, logger);
  EXPECT_THROW(second.bind(), std::runtime_error);
  EXPECT_TRUE(h.alive());
}

TEST(ServeLimits, OptionsAreValidated) {
  FakeLoader loader;
  Logger logger{LogFormat::kText, false};
  Scheduler scheduler(fake_models(1, kMiB), loader, options_with(4 * kMiB));
  Service service(scheduler);
  for (double bad : {std::nan(""), HUGE_VAL, 1e10, 0.0, -1.0}) {
    HttpOptions http;
    http.request_timeout_s = bad;
    EXPECT_THROW(HttpServer(service, http, logger), UsageError) << bad;
  }
  HttpOptions bad_host;
  bad_host.host = "999.1.1.1";
  EXPECT_THROW(HttpServer(service, bad_host, logger), UsageError);
  for (int bad : {-2, 65536}) {
    HttpOptions http;
    http.admin_port = bad;
    EXPECT_THROW(HttpServer(service, http, logger), UsageError) << bad;
  }
  EXPECT_THROW(Service(scheduler, 1024), UsageError);
}

TEST(ServeRest, InlineHitsAnswerLikeHandedOffOnes) {
  SchedulerOptions options = options_with(4 * kMiB);
  options.inline_exec_max_s = 1.0;  // the fake model qualifies once it has run once
  options.inline_max_concurrent = 1;
  Harness h(fake_models(1, kMiB), options);
  auto c = h.client();
  for (int i = 0; i < 20; ++i) {
    auto res =
        c->Post("/v2/models/m0/infer", infer_body({static_cast<float>(i)}), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body)["outputs"][0]["data"][0].get<double>(), 2.0 * i);
  }
  const json m0 = h.model_entry("m0");
  EXPECT_EQ(m0["hits"], 19);
  EXPECT_EQ(m0["pins"], 0);
  EXPECT_EQ(h.cache()["executing"], 0);
}

TEST(ServeRest, AModelWhoseLoadsKeepFailingBacksOffThenIsNotReady) {
  SchedulerOptions options = options_with(4 * kMiB);
  options.load_backoff_initial_s = 0.05;
  options.load_backoff_max_s = 0.05;
  Harness h(fake_models(2, kMiB), options);
  h.loader.set_failing("m1");
  auto c = h.client();
  EXPECT_EQ(c->Get("/v2/models/m1/ready")->status, 200);  // servable until proven otherwise
  auto first = c->Post("/v2/models/m1/infer", infer_body({1}), "application/json");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 500) << first->body;
  // At once again: the model backs off; 503 with Retry-After, no new load.
  auto backing_off = c->Post("/v2/models/m1/infer", infer_body({1}), "application/json");
  ASSERT_TRUE(backing_off);
  EXPECT_EQ(backing_off->status, 503) << backing_off->body;
  EXPECT_FALSE(backing_off->get_header_value("Retry-After").empty());
  EXPECT_EQ(h.loader.loads("m1"), 1);
  // Fail until marked failed (3 failures in a row by default).
  for (int tries = 0; tries < 200 && !h.model_entry("m1")["failed"].get<bool>(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    c->Post("/v2/models/m1/infer", infer_body({1}), "application/json");
  }
  ASSERT_TRUE(h.model_entry("m1")["failed"].get<bool>());
  auto ready = c->Get("/v2/models/m1/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(json::parse(ready->body)["ready"], false);
  EXPECT_NE(h.model_entry("m1")["last_error"].get<std::string>().find("corrupt"), std::string::npos)
      << h.model_entry("m1").dump();
  const json index = json::parse(c->Post("/v2/repository/index", "", "application/json")->body);
  EXPECT_EQ(index[1]["state"], "UNAVAILABLE");
  EXPECT_FALSE(index[1]["reason"].get<std::string>().empty());
  // The other model is untouched; an operator's explicit load (fixed model) clears the mark.
  EXPECT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  h.loader.set_failing("m1", false);
  EXPECT_EQ(c->Post("/v2/repository/models/m1/load", "", "application/json")->status, 200);
  EXPECT_EQ(c->Get("/v2/models/m1/ready")->status, 200);
  EXPECT_EQ(c->Post("/v2/models/m1/infer", infer_body({1}), "application/json")->status, 200);
}

}  // namespace
}  // namespace brulee::serve::testing
