#include "serve/http_server.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/units.hpp"
#include "serve/image.hpp"
#include "serve/kserve.hpp"

namespace brulee::serve {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kModel = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

struct InFlight {
  explicit InFlight(std::atomic<int>& counter) : counter_(counter) { ++counter_; }
  ~InFlight() { --counter_; }
  std::atomic<int>& counter_;
};

// parameters.request_index / next_request_index (sent by `brulee replay`): the request's place
// in a known trace, for oracle policies. Absent: no hint. Present but not a non-negative
// integer: a 400.
std::optional<OracleHint> oracle_hint(const json& parameters) {
  if (!parameters.is_object() || !parameters.contains("request_index")) return std::nullopt;
  const auto index_of = [&](const char* key) {
    const json& value = parameters.at(key);
    if (!value.is_number_unsigned()) {
      throw UsageError(std::string("parameters.") + key + " must be a non-negative integer");
    }
    return value.get<std::uint64_t>();
  };
  OracleHint hint;
  hint.index = index_of("request_index");
  if (parameters.contains("next_request_index")) {
    hint.next_index = index_of("next_request_index");
    if (hint.next_index <= hint.index) {
      throw UsageError("parameters.next_request_index must be after request_index");
    }
  }
  return hint;
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string repository_state(ModelState state) {
  switch (state) {
    case ModelState::kReady:
      return "READY";
    case ModelState::kLoading:
    case ModelState::kWaiting:
      return "LOADING";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kAbsent:
      return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of hundreds of connections overflows the
// accept queue and the kernel drops handshakes (clients see resets). Find our listening socket
// among the process's descriptors and listen() again with a deep backlog (Linux updates it).
void raise_listen_backlog(int port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* entry = ::readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == ::dirfd(dir)) continue;
    int listening = 0;
    socklen_t length = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening) {
      continue;
    }
    sockaddr_storage address{};
    socklen_t address_length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) != 0) continue;
    int bound_port = -1;
    if (address.ss_family == AF_INET) {
      bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    } else if (address.ss_family == AF_INET6) {
      bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    }
    if (bound_port == port) ::listen(fd, SOMAXCONN);
  }
  ::closedir(dir);
}

}  // namespace

HttpServer::HttpServer(Scheduler& scheduler, HttpOptions options, Logger& logger)
    : scheduler_(scheduler),
      options_(std::move(options)),
      logger_(logger),
      metrics_(scheduler.model_count()),
      server_(std::make_unique<httplib::Server>()) {
  if (options_.http_threads == 0) throw UsageError("--http-threads must be at least 1");
  const unsigned threads = options_.http_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(static_cast<std::size_t>(options_.max_body_bytes));
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_write_timeout(options_.read_timeout_s, 0);
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  // Small answers must not wait for the peer's delayed ACK (Nagle): ~40 ms per response.
  server_->set_tcp_nodelay(true);
  install_routes();
}

HttpServer::~HttpServer() {
  if (!stopped_) {
    server_->stop();
    stopped_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int HttpServer::bind() {
  if (port_ >= 0) return port_;
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
  } else if (server_->bind_to_port(options_.host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0) {
    port_ = -1;
    throw std::runtime_error("cannot listen on " + options_.host + ":" +
                             std::to_string(options_.port));
  }
  raise_listen_backlog(port_);
  return port_;
}

void HttpServer::run() {
  bind();
  server_->listen_after_bind();
}

void HttpServer::start() {
  bind();
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running() && !stopped_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void HttpServer::shutdown(std::chrono::milliseconds drain_timeout) {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  const auto deadline = Clock::now() + drain_timeout;
  const bool drained = scheduler_.drain(drain_timeout);
  // Handlers whose work is done may still be encoding their answers.
  while (in_flight_.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  logger_.log(drained ? "info" : "warn", drained ? "drained" : "drain timed out",
              {{"in_flight", std::to_string(in_flight_.load())}});
  server_->stop();
  if (thread_.joinable()) thread_.join();
  scheduler_.stop();
}

void HttpServer::reply_error(httplib::Response& response, int status, const std::string& message) {
  response.status = status;
  if (status == 503) response.set_header("Retry-After", "1");
  response.set_content(error_json(message), kJson);
}

bool HttpServer::resolve(const httplib::Request& request, httplib::Response& response,
                         ModelId& id) {
  const std::string name = request.matches[1];
  auto found = scheduler_.find(name);
  if (!found) {
    reply_error(response, 404, "unknown model \"" + name + "\"");
    return false;
  }
  id = *found;
  if (request.matches.size() > 2 && request.matches[2].matched) {
    const std::string version = request.matches[2];
    if (version != scheduler_.model(id).version) {
      reply_error(response, 404, "model " + name + " has no version \"" + version + "\"");
      return false;
    }
  }
  return true;
}

// The start shared by /infer and /classify: arrival time, the model, the deadline; refuses work
// while draining.
bool HttpServer::begin_inference(const httplib::Request& request, httplib::Response& response,
                                 Inference& call) {
  call.arrival = Clock::now();
  if (!resolve(request, response, call.id)) return false;
  if (draining_) {
    reply_error(response, 503, "server is shutting down");
    return false;
  }
  call.deadline = call.arrival + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options_.request_timeout_s));
  return true;
}

// Waits for a submitted request (the scheduler answers 504 itself once the deadline passes; the
// extra second covers an execution that started just before it). Replies with the error if the
// outcome is not a success.
bool HttpServer::finish_inference(std::future<InferOutcome> future, const Inference& call,
                                  httplib::Response& response, InferOutcome& outcome) {
  if (future.wait_until(call.deadline + std::chrono::seconds(1)) != std::future_status::ready) {
    reply_error(response, 504,
                "request timed out after " + std::to_string(options_.request_timeout_s) + " s");
    return false;
  }
  outcome = future.get();
  if (outcome.status != 200) {
    reply_error(response, outcome.status, outcome.error);
    return false;
  }
  return true;
}

// Input and output specs are known once a model has been loaded; load it if they are not.
bool HttpServer::ensure_specs(ModelId id, httplib::Response& response) {
  std::vector<runtime::TensorSpec> inputs, outputs;
  if (scheduler_.specs(id, inputs, outputs)) return true;
  auto future = scheduler_.load(id);
  const auto timeout = std::chrono::duration<double>(options_.request_timeout_s);
  if (future.wait_for(timeout) != std::future_status::ready) {
    reply_error(response, 504, "timed out loading model " + scheduler_.model(id).name);
    return false;
  }
  const LoadOutcome outcome = future.get();
  if (outcome.status != 200) {
    reply_error(response, outcome.status, outcome.error);
    return false;
  }
  if (!scheduler_.specs(id, inputs, outputs)) {
    reply_error(response, 503, "model " + scheduler_.model(id).name + " was evicted; retry");
    return false;
  }
  return true;
}

void HttpServer::install_routes() {
  httplib::Server& svr = *server_;

  svr.set_logger([this](const httplib::Request&, const httplib::Response& response) {
    metrics_.count_response(response.status);
  });
  svr.set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    std::string message;
    switch (response.status) {
      case 404:
        message = "no route for " + request.method + " " + request.path;
        break;
      case 413:
        message =
            "request body is larger than the limit of " + format_bytes(options_.max_body_bytes);
        break;
      case 400:
        message = "malformed HTTP request";
        break;
      default:
        message = "HTTP error " + std::to_string(response.status);
        break;
    }
    response.set_content(error_json(message), kJson);
  });
  svr.set_exception_handler(
      [this](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string message = "internal error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          message = std::string("internal error: ") + e.what();
        } catch (...) {
        }
        logger_.log("error", message);
        reply_error(response, 500, message);
      });

  svr.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(R"({"live":true})", kJson);
  });
  svr.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& response) {
    if (draining_) {
      reply_error(response, 503, "server is shutting down");
      return;
    }
    response.set_content(R"({"ready":true})", kJson);
  });
  svr.Get("/v2", [](const httplib::Request&, httplib::Response& response) {
    const json metadata{
        {"name", "brulee"},
        {"version", "0.1.0"},
        {"extensions",
         {"model_repository", "binary_tensor_data", "brulee_cache", "brulee_classify"}}};
    response.set_content(dump(metadata), kJson);
  });

  svr.Get(std::string(kModel) + "/ready",
          [this](const httplib::Request& request, httplib::Response& response) {
            ModelId id;
            if (!resolve(request, response, id)) return;
            // Every repository model is servable: a request loads it on demand.
            const json body{{"name", scheduler_.model(id).name}, {"ready", !draining_.load()}};
            response.status = draining_ ? 503 : 200;
            response.set_content(dump(body), kJson);
          });

  svr.Get(kModel, [this](const httplib::Request& request, httplib::Response& response) {
    InFlight guard(in_flight_);
    ModelId id;
    if (!resolve(request, response, id)) return;
    if (!ensure_specs(id, response)) return;
    std::vector<runtime::TensorSpec> inputs, outputs;
    scheduler_.specs(id, inputs, outputs);
    const ServedModel& served = scheduler_.model(id);
    json body{{"name", served.name},
              {"versions", {served.version}},
              {"platform", served.platform},
              {"inputs", json::array()},
              {"outputs", json::array()}};
    for (const auto& spec : inputs) body["inputs"].push_back(tensor_spec_json(spec));
    for (const auto& spec : outputs) body["outputs"].push_back(tensor_spec_json(spec));
    response.set_content(dump(body), kJson);
  });

  svr.Post(std::string(kModel) + "/infer", [this](const httplib::Request& request,
                                                  httplib::Response& response) {
    InFlight guard(in_flight_);
    Inference call;
    if (!begin_inference(request, response, call)) return;
    InferRequest parsed;
    std::optional<OracleHint> oracle;
    {
      // Parsing allocates the request's tensors: not while a load measures its bytes.
      ActivityGate::Shared parsing(scheduler_.activity_gate());
      std::optional<std::size_t> json_bytes;
      if (request.has_header("Inference-Header-Content-Length")) {
        const std::string text = request.get_header_value("Inference-Header-Content-Length");
        std::size_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || end != text.data() + text.size()) {
          reply_error(response, 400, "Inference-Header-Content-Length is not a number");
          return;
        }
        json_bytes = value;
      }
      try {
        parsed = parse_infer_request(request.body, json_bytes);
        oracle = oracle_hint(parsed.parameters);
      } catch (const UsageError& e) {
        reply_error(response, 400, e.what());
        return;
      }
    }
    InferOutcome outcome;
    if (!finish_inference(
            scheduler_.submit(call.id, std::move(parsed.inputs), call.deadline, oracle), call,
            response, outcome)) {
      return;
    }
    const ServedModel& served = scheduler_.model(call.id);
    try {
      EncodedResponse encoded =
          encode_infer_response(served.name, served.version, parsed, outcome.outputs,
                                {{"hit", outcome.hit},
                                 {"load_s", outcome.load_s},
                                 {"queue_s", outcome.queue_s},
                                 {"exec_s", outcome.exec_s}});
      if (encoded.json_bytes) {
        response.set_header("Inference-Header-Content-Length", std::to_string(*encoded.json_bytes));
        response.set_content(std::move(encoded.body), "application/octet-stream");
      } else {
        response.set_content(std::move(encoded.body), kJson);
      }
    } catch (const UsageError& e) {
      reply_error(response, 400, e.what());
      return;
    }
    metrics_.observe_request(call.id, seconds_since(call.arrival));
  });

  svr.Post(std::string(kModel) + "/classify", [this](const httplib::Request& request,
                                                     httplib::Response& response) {
    InFlight guard(in_flight_);
    Inference call;
    if (!begin_inference(request, response, call)) return;
    std::size_t k = options_.default_top_k;
    if (request.has_param("top_k")) {
      const std::string text = request.get_param_value("top_k");
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), k);
      if (ec != std::errc() || end != text.data() + text.size() || k == 0) {
        reply_error(response, 400, "top_k must be a positive integer");
        return;
      }
    }
    if (!ensure_specs(call.id, response)) return;
    std::vector<runtime::TensorSpec> inputs, outputs;
    scheduler_.specs(call.id, inputs, outputs);
    const ServedModel& served = scheduler_.model(call.id);
    if (inputs.size() != 1 || outputs.empty()) {
      reply_error(response, 400,
                  "model " + served.name + " is not an image classifier (one input needed)");
      return;
    }
    std::vector<runtime::Tensor> tensors;
    try {
      ActivityGate::Shared decoding(scheduler_.activity_gate());
      tensors.push_back(image_to_tensor(request.body, inputs.front()));
    } catch (const UsageError& e) {
      reply_error(response, 400, e.what());
      return;
    }
    InferOutcome outcome;
    if (!finish_inference(scheduler_.submit(call.id, std::move(tensors), call.deadline), call,
                          response, outcome)) {
      return;
    }
    json body{
        {"model_name", served.name}, {"model_version", served.version}, {"classes", json::array()}};
    try {
      for (const auto& score : top_k(outcome.outputs.front(), k)) {
        json entry{{"index", score.index}, {"probability", score.probability}};
        if (score.index < served.labels.size()) entry["label"] = served.labels[score.index];
        body["classes"].push_back(std::move(entry));
      }
    } catch (const UsageError& e) {
      reply_error(response, 400, e.what());
      return;
    }
    response.set_content(dump(body), kJson);
    metrics_.observe_request(call.id, seconds_since(call.arrival));
  });

  svr.Post("/v2/repository/index",
           [this](const httplib::Request& request, httplib::Response& response) {
             bool ready_only = false;
             if (!request.body.empty()) {
               const json body = json::parse(request.body, nullptr, false);
               if (body.is_discarded() || !body.is_object()) {
                 reply_error(response, 400, "request body is not a JSON object");
                 return;
               }
               if (body.contains("ready")) {
                 if (!body["ready"].is_boolean()) {
                   reply_error(response, 400, "\"ready\" must be a boolean");
                   return;
                 }
                 ready_only = body["ready"].get<bool>();
               }
             }
             json index = json::array();
             for (const auto& m : scheduler_.snapshot().models) {
               if (ready_only && m.state != ModelState::kReady) continue;
               json entry{{"name", m.name},
                          {"version", m.version},
                          {"state", repository_state(m.state)},
                          {"reason", ""}};
               if (m.state == ModelState::kAbsent) {
                 entry["reason"] = m.last_error.empty() ? "unloaded" : m.last_error;
               }
               index.push_back(std::move(entry));
             }
             response.set_content(dump(index), kJson);
           });

  svr.Post(R"(/v2/repository/models/([^/]+)/load)",
           [this](const httplib::Request& request, httplib::Response& response) {
             InFlight guard(in_flight_);
             ModelId id;
             if (!resolve(request, response, id)) return;
             auto future = scheduler_.load(id);
             if (future.wait_for(std::chrono::duration<double>(options_.request_timeout_s)) !=
                 std::future_status::ready) {
               reply_error(response, 504, "timed out loading model " + scheduler_.model(id).name);
               return;
             }
             const LoadOutcome outcome = future.get();
             if (outcome.status != 200) {
               reply_error(response, outcome.status, outcome.error);
               return;
             }
             response.set_content("{}", kJson);
           });

  svr.Post(R"(/v2/repository/models/([^/]+)/unload)",
           [this](const httplib::Request& request, httplib::Response& response) {
             ModelId id;
             if (!resolve(request, response, id)) return;
             const LoadOutcome outcome = scheduler_.unload(id);
             if (outcome.status != 200) {
               reply_error(response, outcome.status, outcome.error);
               return;
             }
             response.set_content("{}", kJson);
           });

  svr.Get("/v2/cache", [this](const httplib::Request&, httplib::Response& response) {
    const CacheSnapshot snap = scheduler_.snapshot();
    json body{{"policy", snap.policy},         {"capacity_bytes", snap.capacity_bytes},
              {"used_bytes", snap.used_bytes}, {"queued", snap.queued},
              {"executing", snap.executing},   {"loading", snap.loading},
              {"models", json::array()}};
    for (const auto& m : snap.models) {
      body["models"].push_back({{"name", m.name},
                                {"version", m.version},
                                {"platform", m.platform},
                                {"state", std::string(state_name(m.state))},
                                {"resident", m.state == ModelState::kReady},
                                {"resident_bytes", m.resident_bytes},
                                {"size_bytes", m.size_bytes},
                                {"pins", m.pins},
                                {"queue_depth", m.queue_depth},
                                {"executing", m.executing},
                                {"load_latency_s", m.load_latency_s},
                                {"exec_latency_s", m.exec_latency_s},
                                {"requests", m.requests},
                                {"hits", m.hits},
                                {"misses", m.misses},
                                {"loads", m.loads},
                                {"load_failures", m.load_failures},
                                {"evictions", m.evictions},
                                {"last_error", m.last_error}});
    }
    response.set_content(dump(body), kJson);
  });

  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.render(scheduler_.snapshot()),
                         "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace brulee::serve
