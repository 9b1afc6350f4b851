#include "serve/http_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/resource.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/units.hpp"
#include "serve/http_target.hpp"
#include "serve/image.hpp"
#include "serve/inflight.hpp"
#include "serve/kserve.hpp"
#include "serve/service.hpp"

namespace brulee::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

namespace {

constexpr const char* kJson = "application/json";
// Charged for every request besides its body: the connection's buffers, the parsed header.
constexpr std::uint64_t kRequestOverheadBytes = 16u << 10;
// Under --process-memory, charged for every open connection while it is open: its socket,
// coroutine, 4 KiB read buffer and parser take about 8 KiB between requests and while a request
// waits for its model (measured: 300-512 idle connections, or waiting with a 2 KiB header read,
// 7.4-8.1 KiB each). A header that does not arrive whole with the first read grows the read
// buffer: each growth is charged while the request lasts (read_header_rest), and the buffer
// shrinks back after the request.
constexpr std::uint64_t kConnectionBytes = 8u << 10;
constexpr std::size_t kFirstReadBytes = 4096;
// The admin port's connections at once (docs/server.md, "The admin port").
constexpr std::size_t kMaxAdminConnections = 16;
// The accept loop, without room for one more connection, looks again after this.
constexpr auto kAcceptRoomPoll = std::chrono::milliseconds(5);
// What parsing a JSON inference body may allocate per byte of JSON, reserved with the body before
// it is read (the exact figure, charged before parsing, replaces it). Tensor data is read
// straight into tensors (kserve.cpp): a number with its comma takes at least 2 bytes of text
// and becomes at most 8 bytes of tensor, so 4 per byte covers a body that is mostly tensor
// data. Anything else (large "parameters", many small objects) charges the rest before
// parsing, waiting for it as the body did.
constexpr std::uint64_t kJsonParseBytesPerByte = 4;
// An inference's answer larger than its inputs may be charged over the in-flight budget by at
// most this much, one answer at a time, when it finds no room (infer).
constexpr std::uint64_t kForcedAnswerBytes = 1u << 20;
// A request waiting for in-flight room checks again after this, doubling up to the maximum.
constexpr auto kRoomPollFirst = std::chrono::milliseconds(2);
constexpr auto kRoomPollMax = std::chrono::milliseconds(50);
// A request whose body waits for its model (Scheduler::hold) checks again after this at most:
// a load takes 50-500 ms on the real zoos, so a longer pause would add much to a miss.
constexpr auto kHoldPollMax = std::chrono::milliseconds(20);

// Whether the target is an inference (POST .../infer): its JSON part will be parsed into a
// document and tensors.
bool is_infer_target(beast::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  return path.size() >= 6 && path.substr(path.size() - 6) == "/infer";
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The address to listen on: an IPv4 or IPv6 literal, or "localhost". Sets ec otherwise.
asio::ip::address listen_address(const std::string& host, boost::system::error_code& ec) {
  return asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
}

http::status http_status(Status status) {
  switch (status) {
    case Status::kOk:
      return http::status::ok;
    case Status::kBadRequest:
      return http::status::bad_request;
    case Status::kNotFound:
      return http::status::not_found;
    case Status::kConflict:
      return http::status::conflict;
    case Status::kUnavailable:
      return http::status::service_unavailable;
    case Status::kTimeout:
      return http::status::gateway_timeout;
    case Status::kFailed:
      return http::status::internal_server_error;
    case Status::kCancelled:  // the client went away or its deadline passed; rarely seen
      return http::status::service_unavailable;
  }
  return http::status::internal_server_error;
}

// The scheduler's per-model counters as JSON members, listed once (ModelCounters::for_each).
void add_counters(json& object, const ModelCounters& counters) {
  counters.for_each(
      [&](const CounterInfo& info, auto value) { object[std::string(info.key)] = value; });
}

// Triton's model configuration names a tensor's type "TYPE_FP32", where KServe v2 says "FP32".
std::string config_type(runtime::DType dtype) { return "TYPE_" + std::string(kserve_dtype(dtype)); }

// Waits, without holding a thread, for a callback-style operation to deliver a T, or for the
// deadline. `start(done)` begins the operation; `done` may be called from any thread, once.
template <typename T>
struct Rendezvous {
  explicit Rendezvous(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  std::optional<T> value;
};

template <typename T, typename Start>
asio::awaitable<std::optional<T>> await_callback(Clock::time_point deadline, Start start) {
  auto executor = co_await asio::this_coro::executor;
  auto rendezvous = std::make_shared<Rendezvous<T>>(executor);
  rendezvous->timer.expires_at(deadline);
  start([rendezvous](T value) {
    asio::post(rendezvous->timer.get_executor(), [rendezvous, value = std::move(value)]() mutable {
      rendezvous->value = std::move(value);
      rendezvous->timer.cancel();
    });
  });
  boost::system::error_code ec;
  co_await rendezvous->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return std::move(rendezvous->value);
}

// A shared section of the activity gate entered from a network thread, which must not block:
// while a first load is measured (minutes at worst), the coroutine waits on a timer instead.
class GateSection {
 public:
  explicit GateSection(ActivityGate& gate) : gate_(gate) {}
  ~GateSection() { leave(); }
  void leave() {
    if (entered_) gate_.leave();
    entered_ = false;
  }
  GateSection(const GateSection&) = delete;
  GateSection& operator=(const GateSection&) = delete;
  asio::awaitable<void> enter() {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor);
    const auto from = Clock::now();
    while (!gate_.try_enter()) {
      pause.expires_after(std::chrono::milliseconds(2));
      boost::system::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      waited_ = Clock::now() - from;
    }
    entered_ = true;
  }
  // How long enter() waited for an exclusive holder (a first load) to finish.
  Clock::duration waited() const { return waited_; }

 private:
  ActivityGate& gate_;
  bool entered_ = false;
  Clock::duration waited_{};
};

struct ConnectionCount {
  explicit ConnectionCount(std::atomic<std::size_t>& count) : count_(count) { ++count_; }
  ~ConnectionCount() { --count_; }
  std::atomic<std::size_t>& count_;
};

}  // namespace

void validate(const HttpOptions& o) {
  auto positive = [](double value, double max, const char* flag) {
    if (!std::isfinite(value) || value <= 0 || value > max) {
      throw UsageError(std::string(flag) + " must be a number of seconds in (0, " +
                       std::to_string(static_cast<long>(max)) + "]");
    }
  };
  positive(o.request_timeout_s, 86400, "--request-timeout");
  positive(o.header_timeout_s, 3600, "--header-timeout");
  positive(o.idle_timeout_s, 86400, "--idle-timeout");
  positive(o.body_timeout_s, 86400, "--body-timeout");
  positive(o.write_timeout_s, 86400, "--write-timeout");
  if (!std::isfinite(o.inflight_wait_s) || o.inflight_wait_s < 0 || o.inflight_wait_s > 3600) {
    throw UsageError("--inflight-wait must be a number of seconds in [0, 3600]");
  }
  if (o.port < 0 || o.port > 65535) throw UsageError("--port must be in 0..65535");
  if (o.admin_port < -1 || o.admin_port > 65535) {
    throw UsageError("--admin-port must be in 0..65535, or -1 for none");
  }
  if (o.network_threads == 0 || o.network_threads > 256) {
    throw UsageError("--http-threads must be in 1..256");
  }
  if (o.max_connections == 0) throw UsageError("--max-connections must be at least 1");
  if (o.max_body_bytes == 0) throw UsageError("--max-body must be more than 0 bytes");
  if (o.max_header_bytes < 1024 || o.max_header_bytes > (1u << 20)) {
    throw UsageError("--max-header must be in 1KiB..1MiB");
  }
  if (o.default_top_k == 0) throw UsageError("top-k must be at least 1");
  if (o.max_image_pixels == 0) throw UsageError("--max-image-pixels must be at least 1");
  boost::system::error_code ec;
  listen_address(o.host, ec);
  if (ec) throw UsageError("--host must be an IPv4 or IPv6 address (got \"" + o.host + "\")");
}

// One request being answered.
struct Exchange {
  HttpRequest& request;
  HttpResponse response;
  Charge& charge;
  Clock::time_point arrival;
  std::string_view query;
  std::string model, version;  // captured from the path
  // Charged with the body for parsing it (kJsonParseBytesPerByte), trued up before parsing.
  std::uint64_t parse_reserved = 0;
  // Charged for the body itself: given back once an inference has parsed it into tensors.
  std::uint64_t body_charged = 0;
  // When the request could go on: its arrival, or the moment its held model became resident
  // (docs/server.md, "Process memory"); and until when it may wait for in-flight room:
  // --inflight-wait after its arrival, or, having held its model, its deadline.
  Clock::time_point room_since{};
  Clock::time_point room_until{};
  // The request held its model while its body waited (under a process limit), or while it
  // waited at the activity gate to be parsed (enter_gate).
  std::optional<HeldArrival> held{};
  Clock::duration gated{};  // waited at the activity gate before it was parsed
};

class HttpServer::Impl {
 public:
  Impl(Service& service, HttpOptions options, Logger& logger)
      : scheduler_(service.scheduler()),
        service_(service),
        options_(std::move(options)),
        logger_(logger),
        parse_seen_(scheduler_.model_count()),
        contexts_(make_contexts(options_.network_threads)),
        acceptor_(*contexts_.front()),
        admin_acceptor_(*contexts_.front()) {
    validate(options_);
    install_routes();
  }

  ~Impl() {
    if (!stopped_) shutdown(std::chrono::milliseconds(0));
  }

  // Opens, binds and listens on host:port; returns the port bound.
  int listen(tcp::acceptor& acceptor, int port) {
    boost::system::error_code ec;
    const tcp::endpoint endpoint(listen_address(options_.host, ec),
                                 static_cast<std::uint16_t>(port));  // validated
    if (!ec) acceptor.open(endpoint.protocol(), ec);
    // SO_REUSEADDR only (restart past TIME_WAIT); never SO_REUSEPORT, so a second server on
    // the same port fails here instead of silently taking half the connections.
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(port) +
                               ": " + ec.message());
    }
    return acceptor.local_endpoint().port();
  }

  int bind() {
    if (port_ >= 0) return port_;
    raise_descriptor_limit();
    port_ = listen(acceptor_, options_.port);
    if (options_.admin_port >= 0) admin_port_ = listen(admin_acceptor_, options_.admin_port);
    return port_;
  }

  void start() {
    bind();
    asio::co_spawn(*contexts_.front(), accept_loop(), asio::detached);
    if (admin_port_ >= 0) asio::co_spawn(*contexts_.front(), admin_accept_loop(), asio::detached);
    for (auto& context : contexts_) {
      threads_.emplace_back([&context] {
        auto keep_running = asio::make_work_guard(*context);
        context->run();
      });
    }
  }

  void run() {
    start();
    std::unique_lock lock(finish_mutex_);
    finish_cv_.wait(lock, [&] { return finished_; });
  }

  void shutdown(std::chrono::milliseconds drain_timeout) {
    if (stopped_.exchange(true)) return;
    // New requests, on new or open connections, are answered 503 + Connection: close from now
    // on (the listener stays open so that clients get that answer rather than a refused
    // connection); every request already read runs to its answer.
    service_.begin_draining();
    const auto deadline = Clock::now() + drain_timeout;
    const bool drained = scheduler_.drain(drain_timeout);
    // Answers whose work is done may still be being encoded and written.
    while (busy_.load() > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    logger_.log(drained ? "info" : "warn", drained ? "drained" : "drain timed out",
                {{"in_flight", std::to_string(busy_.load())}});
    // Every callback the scheduler still owes is delivered before the network stops.
    scheduler_.stop();
    asio::post(*contexts_.front(), [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      admin_acceptor_.close(ignored);
    });
    for (auto& context : contexts_) context->stop();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    threads_.clear();
    {
      std::lock_guard lock(finish_mutex_);
      finished_ = true;
    }
    finish_cv_.notify_all();
  }

  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  Metrics& metrics() { return service_.metrics(); }
  std::size_t connections() const { return connections_.load(); }
  std::uint64_t inflight_bytes() const { return service_.budget().used(); }

 private:
  using Handler = asio::awaitable<void> (Impl::*)(Exchange&);
  struct Route {
    http::verb method;
    std::vector<std::string> pattern;  // segments; "{model}" and "{version}" capture
    Handler handler;
  };

  static std::vector<std::unique_ptr<asio::io_context>> make_contexts(unsigned count) {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (unsigned i = 0; i < std::max(1u, count); ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
    }
    return contexts;
  }

  static void raise_descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
  }

  void add(http::verb method, std::string_view path, Handler handler) {
    Route route{method, {}, handler};
    std::size_t start = 0;
    while (start <= path.size()) {
      const auto slash = path.find('/', start);
      route.pattern.emplace_back(path.substr(start, slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    routes_.push_back(std::move(route));
  }

  // Every model route exists with and without /versions/{version}.
  void add_model(http::verb method, std::string_view suffix, Handler handler) {
    add(method, "v2/models/{model}" + std::string(suffix), handler);
    add(method, "v2/models/{model}/versions/{version}" + std::string(suffix), handler);
  }

  void install_routes() {
    using V = http::verb;
    add(V::get, "v2", &Impl::server_metadata);
    add(V::get, "v2/health/live", &Impl::health_live);
    add(V::get, "v2/health/ready", &Impl::health_ready);
    add(V::get, "v2/models/stats", &Impl::statistics);  // before {model}: "stats" is a route
    add_model(V::get, "", &Impl::model_metadata);
    add_model(V::get, "/ready", &Impl::model_ready);
    add_model(V::get, "/config", &Impl::model_config);
    add_model(V::get, "/stats", &Impl::statistics);
    add_model(V::post, "/infer", &Impl::infer);
    add_model(V::post, "/classify", &Impl::classify);
    add(V::post, "v2/repository/index", &Impl::repository_index);
    add(V::post, "v2/repository/models/{model}/load", &Impl::repository_load);
    add(V::post, "v2/repository/models/{model}/unload", &Impl::repository_unload);
    add(V::get, "v2/cache", &Impl::cache);
    add(V::get, "metrics", &Impl::prometheus);
  }

  // ---- answers -------------------------------------------------------------------------

  static void reply(Exchange& ex, http::status status, std::string body,
                    const char* content_type = kJson) {
    ex.response.result(status);
    ex.response.set(http::field::content_type, content_type);
    ex.response.body() = std::move(body);
  }
  static void reply_error(Exchange& ex, http::status status, std::string_view message,
                          double retry_after_s = 0.0) {
    reply(ex, status, error_json(message));
    if (status == http::status::service_unavailable) {
      const long after = std::max(1L, static_cast<long>(std::ceil(retry_after_s)));
      ex.response.set(http::field::retry_after, std::to_string(after));
    }
  }
  static void reply_problem(Exchange& ex, const Problem& problem) {
    reply_error(ex, http_status(problem.status), problem.message, problem.retry_after_s);
  }

  std::optional<ModelId> resolve(Exchange& ex) {
    Problem problem;
    auto id = service_.find(ex.model, ex.version, problem);
    if (!id) reply_problem(ex, problem);
    return id;
  }

  Clock::time_point deadline_of(const Exchange& ex) const {
    return ex.arrival + to_duration(options_.request_timeout_s);
  }

  // Input and output specs are known once a model has been loaded; load it if they are not.
  asio::awaitable<std::optional<ModelMetadata>> metadata_of(Exchange& ex, ModelId id) {
    if (auto known = service_.metadata(id)) co_return known;
    const auto outcome = co_await await_callback<LoadOutcome>(
        deadline_of(ex), [&](auto done) { scheduler_.load(id, std::move(done)); });
    if (!outcome) {
      reply_error(ex, http::status::gateway_timeout,
                  "timed out loading model " + scheduler_.model(id).name);
      co_return std::nullopt;
    }
    if (outcome->status != Status::kOk) {
      reply_problem(ex, {outcome->status, outcome->error, outcome->retry_after_s});
      co_return std::nullopt;
    }
    if (auto known = service_.metadata(id)) co_return known;
    reply_error(ex, http::status::service_unavailable,
                "model " + scheduler_.model(id).name + " was evicted; retry");
    co_return std::nullopt;
  }

  // ---- routes ----------------------------------------------------------------------------

  asio::awaitable<void> server_metadata(Exchange& ex) {
    const json metadata{{"name", "brulee"},
                        {"version", "0.1.0"},
                        {"extensions",
                         {"model_repository", "statistics", "binary_tensor_data",
                          "model_configuration", "brulee_cache", "brulee_classify"}}};
    reply(ex, http::status::ok, dump(metadata));
    co_return;
  }

  asio::awaitable<void> health_live(Exchange& ex) {
    reply(ex, http::status::ok, R"({"live":true})");
    co_return;
  }

  asio::awaitable<void> health_ready(Exchange& ex) {
    if (!service_.ready()) {
      reply_error(ex, http::status::service_unavailable, "server is shutting down");
    } else {
      reply(ex, http::status::ok, R"({"ready":true})");
    }
    co_return;
  }

  asio::awaitable<void> model_ready(Exchange& ex) {
    const auto id = resolve(ex);
    if (!id) co_return;
    const bool ready = service_.model_ready(*id);
    const json body{{"name", scheduler_.model(*id).name}, {"ready", ready}};
    reply(ex, ready ? http::status::ok : http::status::service_unavailable, dump(body));
    co_return;
  }

  asio::awaitable<void> model_metadata(Exchange& ex) {
    const auto id = resolve(ex);
    if (!id) co_return;
    const auto metadata = co_await metadata_of(ex, *id);
    if (!metadata) co_return;
    json body{{"name", metadata->name},
              {"versions", {metadata->version}},
              {"platform", metadata->platform},
              {"inputs", json::array()},
              {"outputs", json::array()}};
    for (const auto& spec : metadata->inputs) body["inputs"].push_back(tensor_spec_json(spec));
    for (const auto& spec : metadata->outputs) body["outputs"].push_back(tensor_spec_json(spec));
    reply(ex, http::status::ok, dump(body));
  }

  // The model's configuration in the shape Triton's clients parse (model_config.proto as JSON).
  asio::awaitable<void> model_config(Exchange& ex) {
    const auto id = resolve(ex);
    if (!id) co_return;
    const auto metadata = co_await metadata_of(ex, *id);
    if (!metadata) co_return;
    auto tensors = [](const std::vector<runtime::TensorSpec>& specs) {
      json list = json::array();
      for (const auto& spec : specs) {
        list.push_back(
            {{"name", spec.name}, {"data_type", config_type(spec.dtype)}, {"dims", spec.shape}});
      }
      return list;
    };
    const json body{{"name", metadata->name},
                    {"platform", metadata->platform},
                    {"backend", metadata->backend},
                    {"max_batch_size", 0},
                    {"version_policy", {{"specific", {{"versions", {metadata->version}}}}}},
                    {"input", tensors(metadata->inputs)},
                    {"output", tensors(metadata->outputs)},
                    {"instance_group", {{{"kind", "KIND_CPU"}, {"count", 1}}}}};
    reply(ex, http::status::ok, dump(body));
  }

  static json brulee_statistics(const ModelSnapshot& m) {
    json entry{{"state", std::string(state_name(m.state))},
               {"load_ns", static_cast<std::uint64_t>(m.counters.load_seconds_total * 1e9)}};
    add_counters(entry, m.counters);
    return entry;
  }

  // Triton's statistics extension, plus brulee's own per-model load figures.
  asio::awaitable<void> statistics(Exchange& ex) {
    std::optional<ModelId> only;
    if (!ex.model.empty()) {
      only = resolve(ex);
      if (!only) co_return;
    }
    auto duration = [](std::uint64_t count, std::uint64_t ns) {
      return json{{"count", count}, {"ns", ns}};
    };
    json list = json::array();
    for (const auto& s : service_.statistics(only)) {
      const ModelSnapshot& m = s.scheduler;
      list.push_back({{"name", s.name},
                      {"version", s.version},
                      {"last_inference", s.last_inference_ms},
                      {"inference_count", s.success_count},
                      {"execution_count", s.success_count},
                      {"inference_stats",
                       {{"success", duration(s.success_count, s.success_ns)},
                        {"fail", duration(s.fail_count, s.fail_ns)},
                        {"queue", duration(s.success_count, s.queue_ns)},
                        {"compute_input", duration(s.success_count, 0)},
                        {"compute_infer", duration(s.success_count, s.infer_ns)},
                        {"compute_output", duration(s.success_count, 0)},
                        {"cache_hit", duration(s.hits, s.hit_ns)},
                        {"cache_miss", duration(s.misses, s.miss_ns)}}},
                      {"batch_stats", json::array()},
                      {"brulee", brulee_statistics(m)}});
    }
    reply(ex, http::status::ok, dump(json{{"model_stats", std::move(list)}}));
  }

  asio::awaitable<void> infer(Exchange& ex) {
    const auto id = resolve(ex);
    if (!id) co_return;
    if (service_.draining()) {
      reply_error(ex, http::status::service_unavailable, "server is shutting down");
      co_return;
    }
    const std::string& body = ex.request.body();
    std::optional<std::size_t> json_bytes;
    try {
      if (const auto header = ex.request.find("Inference-Header-Content-Length");
          header != ex.request.end()) {
        json_bytes = parse_inference_header_length(
            std::string_view(header->value().data(), header->value().size()), body.size());
      }
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    // The parsed document and the tensors it becomes, charged before they are built: what the
    // body's admission reserved for them is trued up to the exact figure.
    // Waiting for more while holding the body takes the waiter's place (one request at a time).
    const std::uint64_t parse_bytes = infer_request_bytes(body, json_bytes, infer_limits_);
    raise_to(parse_seen_[*id], parse_bytes);
    if (parse_bytes <= ex.parse_reserved) {
      ex.charge.give_back(ex.parse_reserved - parse_bytes);
    } else if (!ex.charge.add(parse_bytes - ex.parse_reserved)) {
      bool charged = co_await take_waiter_place(ex.charge, ex.room_until);
      if (charged) {
        charged =
            co_await charge_waiting(ex.charge, parse_bytes - ex.parse_reserved, ex.room_until);
      }
      if (!charged) {
        reply_error(ex, http::status::service_unavailable,
                    "the server's in-flight memory ceiling is reached; retry later");
        co_return;
      }
    }
    ex.charge.free_waiter_place();
    ex.parse_reserved = 0;
    InferRequest parsed;
    std::optional<OracleHint> oracle;
    // Parsing allocates the request's tensors: not while a load measures its bytes.
    GateSection parsing(scheduler_.activity_gate());
    ModelHold gate_hold(scheduler_);
    co_await enter_gate(parsing, gate_hold, ex, *id);
    try {
      parsed = parse_infer_request(body, json_bytes, infer_limits_);
      oracle = Service::oracle_hint(parsed.parameters);
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    ex.request.body() = std::string();  // the tensors hold the data now
    ex.charge.give_back(std::exchange(ex.body_charged, 0));
    parsing.leave();
    // From the header read (or, for a request that waited for its model, the model's being
    // resident) to the submission: reading the body, then parsing it into tensors.
    const double parse_s = seconds_since(ex.room_since);
    std::uint64_t input_bytes = 0;
    for (const runtime::Tensor& input : parsed.inputs) input_bytes += input.data.capacity();
    const auto outcome = co_await submit(ex, *id, std::move(parsed.inputs), oracle);
    if (!outcome) co_return;
    // The scheduler freed the inputs once they ran: the answer takes over their charge (below).
    const std::uint64_t inputs_charged = std::min(input_bytes, ex.charge.bytes());
    const ServedModel& served = scheduler_.model(*id);
    try {
      const RequestTimeline& t = outcome->timeline;
      json parameters{{"hit", outcome->hit},
                      {"load_s", outcome->delays.load_delay_s},
                      {"queue_s", outcome->delays.queue_delay_s},
                      {"exec_s", outcome->delays.exec_s},
                      {"ready_s", t.ready_s},
                      {"start_s", t.start_s},
                      {"end_s", t.end_s},
                      {"parse_s", parse_s}};
      if (!std::isnan(t.load_start_s)) parameters["load_start_s"] = t.load_start_s;
      // The answer's bytes, charged before it is encoded. They take over the inputs' charge
      // (its excess goes back). An answer larger than its inputs charges the rest; without room
      // for it now, the rest is charged over the budget if it is at most kForcedAnswerBytes and
      // no other answer is (Charge::add_over_budget), else it waits for room. Answers that waited
      // for room deadlocked once the requests in flight held the whole room: three requests
      // that had run each waited for 27 kB of answer that only their own charges could have
      // given, until --inflight-wait refused them. Over the budget by one small answer at most,
      // every request that has run finishes.
      const std::uint64_t answer_bytes =
          infer_response_bytes(served.name, served.version, parsed, outcome->outputs, parameters);
      const std::uint64_t taken_over = std::min(answer_bytes, inputs_charged);
      ex.charge.give_back(inputs_charged - taken_over);
      const std::uint64_t more = answer_bytes - taken_over;
      bool charged = more == 0 || ex.charge.add(more) ||
                     (more <= kForcedAnswerBytes && ex.charge.add_over_budget(more));
      if (!charged)
        charged = co_await charge_waiting(ex.charge, more, room_wait_from(Clock::now()));
      if (!charged) {
        reply_error(ex, http::status::service_unavailable,
                    "the server's in-flight memory ceiling is reached; retry later");
        co_return;
      }
      EncodedResponse encoded =
          encode_infer_response(served.name, served.version, parsed, outcome->outputs, parameters);
      if (encoded.json_bytes) {
        ex.response.set("Inference-Header-Content-Length", std::to_string(*encoded.json_bytes));
        reply(ex, http::status::ok, std::move(encoded.body), "application/octet-stream");
      } else {
        reply(ex, http::status::ok, std::move(encoded.body));
      }
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    service_.metrics().observe_request(*id, seconds_since(ex.arrival));
  }

  // Enters the activity gate to parse or decode a request for `id`. While a model's first load
  // is measured the gate is shut, and the request would wait unseen by the scheduler: its model
  // could be evicted and an absent one's load would queue behind later arrivals. So it holds
  // its model meanwhile (Scheduler::hold: pinned, its load started if absent, its arrival and
  // residence taken now), as the simulator admits a request at its arrival (docs/fidelity.md,
  // "Requests waiting at the gate"). A request that already holds its model (under a process
  // limit) keeps that hold.
  asio::awaitable<void> enter_gate(GateSection& section, ModelHold& hold, Exchange& ex,
                                   ModelId id) {
    if (!ex.held && scheduler_.activity_gate().contended() && hold.take(id)) {
      ex.held = hold.arrival();
    }
    co_await section.enter();
    ex.gated = section.waited();
  }

  // Hands tensors to the scheduler and waits for the outcome; answers the error itself.
  asio::awaitable<std::optional<InferOutcome>> submit(Exchange& ex, ModelId id,
                                                      std::vector<runtime::Tensor> inputs,
                                                      std::optional<OracleHint> oracle) {
    const auto deadline = deadline_of(ex);
    // The scheduler answers a timeout itself when execution would start late; the extra second
    // covers an execution that began just before the deadline.
    RequestTicket ticket;
    auto outcome =
        co_await await_callback<InferOutcome>(deadline + std::chrono::seconds(1), [&](auto done) {
          ticket = scheduler_.submit(id, std::move(inputs), deadline, oracle, std::move(done),
                                     ex.held, ex.gated);
        });
    if (!outcome) {
      scheduler_.cancel(ticket);  // still queued: it leaves without running
      reply_error(ex, http::status::gateway_timeout,
                  "request timed out after " + std::to_string(options_.request_timeout_s) + " s");
      co_return std::nullopt;
    }
    service_.record(id, *outcome, seconds_since(ex.arrival));
    if (outcome->status != Status::kOk) {
      reply_problem(ex, {outcome->status, outcome->error, outcome->retry_after_s});
      co_return std::nullopt;
    }
    co_return outcome;
  }

  asio::awaitable<void> classify(Exchange& ex) {
    const auto id = resolve(ex);
    if (!id) co_return;
    if (service_.draining()) {
      reply_error(ex, http::status::service_unavailable, "server is shutting down");
      co_return;
    }
    std::size_t k = options_.default_top_k;
    if (const auto text = query_value(ex.query, "top_k")) {
      const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), k);
      if (ec != std::errc() || end != text->data() + text->size() || k == 0) {
        reply_error(ex, http::status::bad_request, "top_k must be a positive integer");
        co_return;
      }
    }
    // The image's header first: a body that is not an acceptable image never loads a model.
    ImageLimits limits;
    limits.max_pixels = options_.max_image_pixels;
    ImageHeader header;
    try {
      header = read_image_header(ex.request.body());
      check_image_limits(header, limits);
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    const auto metadata = co_await metadata_of(ex, *id);
    if (!metadata) co_return;
    if (metadata->inputs.size() != 1 || metadata->outputs.empty()) {
      reply_error(ex, http::status::bad_request,
                  "model " + metadata->name + " is not an image classifier (one input needed)");
      co_return;
    }
    std::vector<runtime::Tensor> tensors;
    try {
      // What decoding it will take at the model's input size, charged before decoding.
      if (!ex.charge.add(image_decode_bytes(header, metadata->inputs.front()))) {
        reply_error(ex, http::status::service_unavailable,
                    "the server's in-flight memory ceiling is reached; retry later");
        co_return;
      }
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    GateSection decoding(scheduler_.activity_gate());
    ModelHold gate_hold(scheduler_);
    co_await enter_gate(decoding, gate_hold, ex, *id);
    try {
      tensors.push_back(image_to_tensor(ex.request.body(), metadata->inputs.front(), limits));
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    ex.request.body() = std::string();
    decoding.leave();
    const auto outcome = co_await submit(ex, *id, std::move(tensors), std::nullopt);
    if (!outcome) co_return;
    const ServedModel& served = scheduler_.model(*id);
    json body{
        {"model_name", served.name}, {"model_version", served.version}, {"classes", json::array()}};
    try {
      for (const auto& score : top_k(outcome->outputs.front(), k)) {
        json entry{{"index", score.index}, {"probability", score.probability}};
        if (score.index < served.labels.size()) entry["label"] = served.labels[score.index];
        body["classes"].push_back(std::move(entry));
      }
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    reply(ex, http::status::ok, dump(body));
    service_.metrics().observe_request(*id, seconds_since(ex.arrival));
  }

  asio::awaitable<void> repository_index(Exchange& ex) {
    bool ready_only = false;
    try {
      ready_only = parse_repository_index_request(ex.request.body(), infer_limits_.json);
    } catch (const UsageError& e) {
      reply_error(ex, http::status::bad_request, e.what());
      co_return;
    }
    json index = json::array();
    for (const auto& entry : service_.repository_index(ready_only)) {
      index.push_back({{"name", entry.name},
                       {"version", entry.version},
                       {"state", entry.state},
                       {"reason", entry.reason}});
    }
    reply(ex, http::status::ok, dump(index));
  }

  asio::awaitable<void> repository_load(Exchange& ex) {
    co_await repository_change(ex, "loading", &Scheduler::load);
  }

  // A loader thread drops the model; this connection's thread serves others meanwhile.
  asio::awaitable<void> repository_unload(Exchange& ex) {
    co_await repository_change(ex, "unloading", &Scheduler::unload);
  }

  // Load or unload through the scheduler's loader thread and answer its outcome: {} when done,
  // the problem it reports, or 504 when the request's deadline passes first.
  asio::awaitable<void> repository_change(Exchange& ex, const char* verb,
                                          void (Scheduler::*change)(ModelId, LoadDone)) {
    const auto id = resolve(ex);
    if (!id) co_return;
    const auto outcome = co_await await_callback<LoadOutcome>(
        deadline_of(ex), [&](auto done) { (scheduler_.*change)(*id, std::move(done)); });
    if (!outcome) {
      reply_error(ex, http::status::gateway_timeout,
                  std::string("timed out ") + verb + " model " + scheduler_.model(*id).name);
    } else if (outcome->status != Status::kOk) {
      reply_problem(ex, {outcome->status, outcome->error, outcome->retry_after_s});
    } else {
      reply(ex, http::status::ok, "{}");
    }
  }

  asio::awaitable<void> cache(Exchange& ex) {
    const CacheSnapshot snap = scheduler_.snapshot();
    json body{{"policy", snap.policy},
              {"capacity_bytes", snap.capacity_bytes},
              {"used_bytes", snap.used_bytes},
              {"queued", snap.queued},
              {"executing", snap.executing},
              {"loading", snap.loading},
              {"inflight_bytes", service_.budget().used()},
              {"max_inflight_bytes", service_.budget().limit()},
              {"connections", connections_.load()},
              {"connection_bytes", service_.budget().connection_bytes()},
              {"inflight_waiting", service_.budget().line_length()},
              {"models", json::array()}};
    if (snap.prefetch) {  // only with --prefetch (docs/prefetch.md)
      json prefetch = json::object();
      snap.prefetch->for_each(
          [&](const CounterInfo& info, auto value) { prefetch[std::string(info.key)] = value; });
      body["prefetch"] = std::move(prefetch);
    }
    {  // the process budget (docs/api.md, "Process memory")
      const ProcessMemoryReport memory = report(scheduler_.process_budget());
      json charged = json::object();
      for (std::size_t k = 0; k < kMemoryKinds; ++k) {
        charged[std::string(memory_kind_name(static_cast<MemoryKind>(k)))] = memory.charged[k];
      }
      body["process_memory"] = {
          {"rss_bytes", memory.rss_bytes},        {"baseline_bytes", memory.baseline_bytes},
          {"limit_bytes", memory.limit_bytes},    {"charged_bytes", memory.charged_bytes},
          {"charged", std::move(charged)},        {"unattributed_bytes", memory.unattributed_bytes},
          {"reserve_bytes", memory.reserve_bytes}};
    }
    for (const auto& m : snap.models) {
      json entry{{"name", m.name},
                 {"version", m.version},
                 {"platform", m.platform},
                 {"state", std::string(state_name(m.state))},
                 {"resident", m.state == ModelState::kReady},
                 {"servable", m.servable},
                 {"failed", m.failed},
                 {"consecutive_load_failures", m.consecutive_failures},
                 {"load_backoff_s", m.backoff_remaining_s},
                 {"resident_bytes", m.resident_bytes},
                 {"size_bytes", m.size_bytes},
                 {"load_peak_bytes", m.load_peak_bytes},
                 {"workspace_bytes", m.workspace_bytes},
                 {"pins", m.pins},
                 {"queue_depth", m.queue_depth},
                 {"held", m.held},
                 {"read_turns", m.read_turns},
                 {"executing", m.executing},
                 {"load_latency_s", m.load_latency_s},
                 {"exec_latency_s", m.exec_latency_s},
                 {"last_error", m.last_error}};
      add_counters(entry, m.counters);
      body["models"].push_back(std::move(entry));
    }
    reply(ex, http::status::ok, dump(body));
    co_return;
  }

  asio::awaitable<void> prometheus(Exchange& ex) {
    std::string text = service_.metrics().render(scheduler_.snapshot());
    text +=
        "# HELP brulee_http_connections Open HTTP connections.\n"
        "# TYPE brulee_http_connections gauge\n"
        "brulee_http_connections " +
        std::to_string(connections_.load()) +
        "\n# HELP brulee_http_connections_refused_total Connections closed at accept "
        "(--max-connections reached).\n"
        "# TYPE brulee_http_connections_refused_total counter\n"
        "brulee_http_connections_refused_total " +
        std::to_string(refused_.load()) +
        "\n# HELP brulee_inflight_bytes Bytes of requests and answers in flight, charged to "
        "--max-inflight-bytes.\n# TYPE brulee_inflight_bytes gauge\nbrulee_inflight_bytes " +
        std::to_string(service_.budget().used()) +
        "\n# HELP brulee_inflight_limit_bytes The in-flight ceiling "
        "(--max-inflight-bytes).\n# TYPE brulee_inflight_limit_bytes gauge\n"
        "brulee_inflight_limit_bytes " +
        std::to_string(service_.budget().limit()) + "\n";
    text += prometheus_text(report(scheduler_.process_budget()));
    reply(ex, http::status::ok, std::move(text), "text/plain; version=0.0.4; charset=utf-8");
    co_return;
  }

  // ---- dispatch --------------------------------------------------------------------------

  asio::awaitable<void> dispatch(Exchange& ex) {
    std::string error;
    auto target = parse_target(
        std::string_view(ex.request.target().data(), ex.request.target().size()), error);
    if (!target) {
      reply_error(ex, http::status::bad_request, error);
      co_return;
    }
    ex.query = target->query;
    const std::vector<std::string>& segments = target->segments;
    bool path_known = false;
    std::string allowed;
    for (const Route& route : routes_) {
      if (route.pattern.size() != segments.size()) continue;
      std::string model, version;
      bool match = true;
      for (std::size_t i = 0; i < segments.size() && match; ++i) {
        if (route.pattern[i] == "{model}") {
          model = segments[i];
          match = !model.empty();
        } else if (route.pattern[i] == "{version}") {
          version = segments[i];
          match = !version.empty();
        } else {
          match = route.pattern[i] == segments[i];
        }
      }
      if (!match) continue;
      if (route.method != ex.request.method()) {
        path_known = true;
        if (!allowed.empty()) allowed += ", ";
        allowed += std::string(http::to_string(route.method));
        continue;
      }
      ex.model = std::move(model);
      ex.version = std::move(version);
      co_await (this->*route.handler)(ex);
      co_return;
    }
    if (path_known) {
      ex.response.set(http::field::allow, allowed);
      reply_error(ex, http::status::method_not_allowed,
                  std::string(ex.request.method_string()) + " is not allowed on " +
                      std::string(ex.request.target()) + " (allowed: " + allowed + ")");
    } else {
      reply_error(ex, http::status::not_found,
                  "no route for " + std::string(ex.request.method_string()) + " " +
                      std::string(ex.request.target()));
    }
  }

  // The served model an inference's target names (/v2/models/M[/versions/V]/infer), if any.
  std::optional<ModelId> infer_model(beast::string_view target) const {
    std::string error;
    const auto parsed = parse_target(std::string_view(target.data(), target.size()), error);
    if (!parsed) return std::nullopt;
    const std::vector<std::string>& s = parsed->segments;
    if (s.size() < 4 || s[0] != "v2" || s[1] != "models" || s.back() != "infer") {
      return std::nullopt;
    }
    Problem problem;
    if (s.size() == 4) return service_.find(s[2], "", problem);
    if (s.size() == 6 && s[3] == "versions") return service_.find(s[2], s[4], problem);
    return std::nullopt;
  }

  // Tries `attempt` until it succeeds, polling (2 ms doubling to `most`), until `until`. False
  // if it did not, or the server drains.
  template <typename Attempt>
  asio::awaitable<bool> poll_until(Attempt attempt, Clock::time_point until, Clock::duration most) {
    if (attempt()) co_return true;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    boost::system::error_code ec;
    auto pause = std::chrono::duration_cast<Clock::duration>(kRoomPollFirst);
    for (auto now = Clock::now(); now < until && !service_.draining(); now = Clock::now()) {
      timer.expires_after(std::min(pause, until - now));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (attempt()) co_return true;
      pause = std::min(2 * pause, most);
    }
    co_return false;
  }

  // Waits until a held model's request may go on (ModelHold::take_read_turn), until `until`.
  asio::awaitable<bool> wait_settled(ModelHold& hold, Clock::time_point until) {
    co_return co_await poll_until([&hold] { return hold.take_read_turn(); }, until,
                                  std::chrono::duration_cast<Clock::duration>(kHoldPollMax));
  }

  // Charges `bytes` to the in-flight budget; without room, waits for requests in flight to give
  // some back (polling, 2 ms doubling to 50 ms; 2 ms once first in line) until `until`. A new
  // request (`in_line`) waits in the budget's line, behind every request that began to wait before
  // it, and does not take room while any of them waits; a request already admitted (its parse or
  // its answer) takes room as soon as there is some, so that it can finish and give its memory
  // back. False at once when the charge could not fit even with nothing else in flight.
  asio::awaitable<bool> charge_waiting(Charge& charge, std::uint64_t bytes, Clock::time_point until,
                                       bool in_line = false) {
    InflightBudget& budget = service_.budget();
    if ((!in_line || budget.line_empty()) && charge.add(bytes)) co_return true;
    if (!budget.could_fit(bytes)) co_return false;
    struct Place {
      InflightBudget& budget;
      std::uint64_t ticket = 0;
      ~Place() {
        if (ticket != 0) budget.leave_line(ticket);
      }
    } place{budget, in_line ? budget.join_line() : 0};
    const auto my_turn = [&] { return place.ticket == 0 || budget.first_in_line(place.ticket); };
    asio::steady_timer timer(co_await asio::this_coro::executor);
    boost::system::error_code ec;
    const auto first = std::chrono::duration_cast<Clock::duration>(kRoomPollFirst);
    auto pause = first;
    for (auto now = Clock::now(); now < until && !service_.draining(); now = Clock::now()) {
      timer.expires_after(std::min(my_turn() ? first : pause, until - now));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (my_turn() && charge.add(bytes)) co_return true;
      pause = std::min<Clock::duration>(2 * pause, kRoomPollMax);
    }
    co_return false;
  }

  // Takes the waiter's place for the request (InflightBudget::try_take_waiter_place), waiting
  // while another request holds it, until `until`.
  asio::awaitable<bool> take_waiter_place(Charge& charge, Clock::time_point until) {
    co_return co_await poll_until([&charge] { return charge.take_waiter_place(); }, until,
                                  std::chrono::duration_cast<Clock::duration>(kRoomPollMax));
  }

  // Reads the rest of a header that did not come whole with the first read. The read buffer
  // doubles as it fills, up to its limit; with `charged` (under a process limit) each growth is
  // charged to `charge` first, waiting for room until `until`. False: no room in time. Read and
  // parse errors come back in `ec` (http::error::header_limit once the header is too long).
  asio::awaitable<bool> read_header_rest(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                         http::request_parser<http::string_body>& parser,
                                         Charge& charge, bool charged, Clock::time_point until,
                                         boost::system::error_code& ec) {
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    while (!parser.is_header_done()) {
      if (buffer.capacity() - buffer.size() < 512) {
        const std::size_t grown =
            std::min(buffer.max_size(), 2 * std::max(buffer.capacity(), kFirstReadBytes));
        if (grown <= buffer.size() + 512) {  // the parser's own limit is below the buffer's
          ec = http::error::header_limit;
          co_return true;
        }
        if (charged && !co_await charge_waiting(charge, grown - buffer.capacity(), until)) {
          co_return false;
        }
        buffer.reserve(grown);
      }
      const std::size_t got =
          co_await stream.async_read_some(buffer.prepare(buffer.capacity() - buffer.size()), token);
      if (ec) co_return true;
      buffer.commit(got);
      put_buffered(parser, buffer, ec);
      if (ec) co_return true;
    }
    co_return true;
  }

  Clock::time_point room_wait_from(Clock::time_point since) const {
    return since + to_duration(options_.inflight_wait_s);
  }

  // Answers a request that could not be read, then the connection closes.
  asio::awaitable<void> refuse(beast::tcp_stream& stream, unsigned version, http::status status,
                               std::string_view message, double retry_after_s = 0.0) {
    HttpRequest dummy;
    Charge none(service_.budget());
    Exchange ex{dummy, {}, none, Clock::now(), {}, {}, {}, 0};
    ex.response.version(version);
    reply_error(ex, status, message, retry_after_s);
    ex.response.keep_alive(false);
    ex.response.prepare_payload();
    service_.metrics().count_response(static_cast<int>(status));
    stream.expires_after(to_duration(options_.write_timeout_s));
    boost::system::error_code ec;
    co_await http::async_write(stream, ex.response, asio::redirect_error(asio::use_awaitable, ec));
  }

  // Feeds the parser what the buffer holds; returns the bytes it took. need_more is not an error.
  template <typename Parser>
  static std::size_t put_buffered(Parser& parser, beast::flat_buffer& buffer,
                                  boost::system::error_code& ec) {
    if (buffer.size() == 0) return 0;
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more) ec = {};
    return used;
  }

  // What the admin port serves: GET (or HEAD) of health, readiness, server metadata, /v2/cache
  // and /metrics.
  static bool admin_target(const HttpRequest& request) {
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      return false;
    }
    std::string error;
    const auto target =
        parse_target(std::string_view(request.target().data(), request.target().size()), error);
    if (!target) return false;
    const std::vector<std::string>& s = target->segments;
    if (s.size() == 1) return s[0] == "metrics" || s[0] == "v2";
    if (s.empty() || s[0] != "v2") return false;
    if (s.size() == 2) return s[1] == "cache";
    if (s.size() == 3) return s[1] == "health" && (s[2] == "live" || s[2] == "ready");
    return s[1] == "models" && s.back() == "ready" &&
           (s.size() == 4 || (s.size() == 6 && s[3] == "versions"));
  }

  // What a request's admission decided (admit).
  struct Admission {
    std::uint64_t parse_reserved = 0;  // charged with the body for parsing it
    Clock::time_point room_since;      // see Exchange
    Clock::time_point room_until;
  };

  // Admits a request whose header is read, before its body is: under a process limit an
  // inference first holds its model until it is resident (docs/server.md, "Process memory"),
  // then the body and, for a JSON inference, what parsing it will take are charged. Without
  // room the request waits in line (its body stays in the socket, unread) until requests in
  // flight give some back, up to --inflight-wait (a held inference: its deadline); a request
  // that could never fit is refused at once. Nullopt once a refusal has been answered.
  asio::awaitable<std::optional<Admission>> admit(beast::tcp_stream& stream,
                                                  const HttpRequest& request,
                                                  std::optional<std::uint64_t> declared,
                                                  Clock::time_point arrival, Charge& charge,
                                                  ModelHold& hold) {
    const unsigned version = request.version();
    const bool inference =
        request.method() == http::verb::post && is_infer_target(request.target());
    Admission admission{0, arrival, room_wait_from(arrival)};
    // Holding the model (pinned, its load started, as a queued request would) keeps requests
    // waiting for loads from holding buffers, and the scheduler sees every one of them.
    if (inference && scheduler_.process_budget().limited()) {
      if (const auto id = infer_model(request.target()); id && hold.take(*id)) {
        if (!co_await wait_settled(hold, arrival + to_duration(options_.request_timeout_s))) {
          // A named message: g++ 12 destroys a conditional's temporary twice across co_await.
          std::string message = "server is shutting down";
          if (!service_.draining()) {
            message = "model " + scheduler_.model(*id).name +
                      (scheduler_.hold_settled(*id)
                           ? " was busy with its earlier requests until the request's deadline"
                           : " was not loaded before the request's deadline") +
                      " (the process memory limit); retry later";
          }
          co_await refuse(stream, version, http::status::service_unavailable, message, 1.0);
          co_return std::nullopt;
        }
        // Its wait for room is queueing for its model now: bounded by its deadline.
        admission.room_since = Clock::now();
        admission.room_until = arrival + to_duration(options_.request_timeout_s);
      }
    }
    std::uint64_t& parse_reserved = admission.parse_reserved;
    if (declared && inference) {
      std::uint64_t json_part = *declared;
      if (const auto header = request.find("Inference-Header-Content-Length");
          header != request.end()) {
        try {
          json_part = parse_inference_header_length(
              std::string_view(header->value().data(), header->value().size()), *declared);
        } catch (const UsageError&) {
          json_part = 0;  // answered 400 by the handler, which parses it again
        }
      }
      parse_reserved = kJsonParseBytesPerByte * json_part;
      // Never more than the model's largest parse so far, with an eighth and 64 KiB to spare: a
      // model's requests have the same shapes, and the bound (a number in 2 bytes of text) is
      // 3 times what 1x3x224x224 FP32 zeros take, so that it alone kept the burst's requests
      // in line. A request that needs more charges it before parsing (the waiter's place).
      if (const auto id = infer_model(request.target())) {
        const std::uint64_t seen = parse_seen_[*id].load(std::memory_order_relaxed);
        if (seen != 0) parse_reserved = std::min(parse_reserved, seen + seen / 8 + (64u << 10));
      }
    }
    const std::uint64_t bytes = kRequestOverheadBytes + (declared ? *declared : 0);
    // A reservation that could never fit, or does not fit now while the body alone does, is
    // left to the exact charge before parsing: the reservation is an upper bound, and under a
    // process limit whose models hold most of it, waiting for the bound would wait for room
    // the exact figure does not need (docs/server.md, "Network layer"). Such a request may
    // have to wait for its exact charge while holding its body, so it needs the waiter's place
    // (InflightBudget::try_take_waiter_place): one at a time. Requests waiting for room are not
    // overtaken: while any waits, a new request joins the line.
    if (parse_reserved != 0 && !service_.budget().could_fit(bytes + parse_reserved)) {
      if (!co_await take_waiter_place(charge, admission.room_until)) {
        co_await refuse(stream, version, http::status::service_unavailable,
                        "the server's in-flight memory ceiling is reached; retry later", 1.0);
        co_return std::nullopt;
      }
      parse_reserved = 0;
    }
    if (parse_reserved != 0 && service_.budget().line_empty() &&
        !charge.add(bytes + parse_reserved) && charge.take_waiter_place()) {
      if (charge.add(bytes)) {
        parse_reserved = 0;
      } else {
        charge.free_waiter_place();
      }
    }
    if (charge.bytes() == 0 &&
        !co_await charge_waiting(charge, bytes + parse_reserved, admission.room_until, true)) {
      co_await refuse(stream, version, http::status::service_unavailable,
                      "the server's in-flight memory ceiling is reached; retry later", 1.0);
      co_return std::nullopt;
    }
    co_return admission;
  }

  asio::awaitable<void> session(tcp::socket socket, std::uint64_t connection_charged,
                                bool admin = false) {
    ConnectionCount count(admin ? admin_connections_ : connections_);
    const ConnectionCharge connection_charge(service_.budget(), connection_charged);
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(options_.max_header_bytes + (16u << 10));
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    for (;;) {
      // Idle until the first byte of the next request.
      if (buffer.size() == 0) {
        stream.expires_after(to_duration(options_.idle_timeout_s));
        const std::size_t got =
            co_await stream.async_read_some(buffer.prepare(kFirstReadBytes), token);
        if (ec) break;  // closed, reset or idle too long
        buffer.commit(got);
      }
      Charge charge(service_.budget());
      http::request_parser<http::string_body> parser;
      parser.header_limit(options_.max_header_bytes);
      parser.body_limit(options_.max_body_bytes);
      // The common case: the whole header is in the buffer already; parse it here instead of
      // through another asynchronous read (each costs a trip through the event loop).
      ec = {};
      put_buffered(parser, buffer, ec);
      // A header longer than what came with the first read: under a process limit each growth
      // of the read buffer is charged before it happens (header_charge, given back with the
      // request), so a header costs what its client really sent.
      Charge header_charge(service_.budget());
      if (!ec && !parser.is_header_done()) {
        const auto header_until = Clock::now() + to_duration(options_.header_timeout_s);
        stream.expires_at(header_until);
        if (!co_await read_header_rest(stream, buffer, parser, header_charge,
                                       connection_charged != 0, header_until, ec)) {
          co_await refuse(stream, 11, http::status::service_unavailable,
                          "the server's in-flight memory ceiling is reached; retry later", 1.0);
          break;
        }
      }
      const auto arrival = Clock::now();
      if (ec) {
        if (ec == http::error::body_limit) {  // a declared Content-Length above the limit
          co_await refuse(
              stream, 11, http::status::payload_too_large,
              "request body is larger than the limit of " + format_bytes(options_.max_body_bytes));
        } else if (ec == http::error::header_limit) {
          co_await refuse(stream, 11, http::status::request_header_fields_too_large,
                          "the request line and headers are larger than " +
                              format_bytes(options_.max_header_bytes));
        } else if (ec != http::error::end_of_stream && ec != asio::error::eof &&
                   ec != asio::error::connection_reset && ec != http::error::partial_message &&
                   ec != beast::error::timeout) {  // a timed-out stream is already closed
          co_await refuse(stream, 11, http::status::bad_request,
                          "malformed HTTP request: " + ec.message());
        }
        break;
      }
      HttpRequest& request = parser.get();
      const unsigned version = request.version();
      if (const auto encoding = request.find(http::field::content_encoding);
          encoding != request.end() && !beast::iequals(encoding->value(), "identity")) {
        co_await refuse(stream, version, http::status::unsupported_media_type,
                        "Content-Encoding " + std::string(encoding->value()) +
                            " is not supported; send the body uncompressed");
        break;
      }
      const auto declared = parser.content_length();
      if (declared && *declared > options_.max_body_bytes) {
        co_await refuse(
            stream, version, http::status::payload_too_large,
            "request body is larger than the limit of " + format_bytes(options_.max_body_bytes));
        break;
      }
      ModelHold hold(scheduler_);
      std::optional<Admission> admitted;
      if (admin) {
        // Charged nothing, waits for nothing: a bodiless read of the server's state only.
        if ((declared && *declared > 0) || parser.chunked()) {
          co_await refuse(stream, version, http::status::payload_too_large,
                          "the admin port takes no request bodies");
          break;
        }
        if (!admin_target(request)) {
          co_await refuse(stream, version, http::status::not_found,
                          "the admin port serves GET /v2/health/live, /v2/health/ready, "
                          "/v2/models/M[/versions/V]/ready, /v2, /v2/cache and /metrics only");
          break;
        }
        admitted = Admission{0, arrival, room_wait_from(arrival)};
      } else {
        std::optional<std::uint64_t> body_bytes;
        if (declared) body_bytes = *declared;
        admitted = co_await admit(stream, request, body_bytes, arrival, charge, hold);
      }
      if (!admitted) break;  // refused; the body was not read, so the connection closes
      const auto [parse_reserved, room_since, room_until] = *admitted;
      bool over_ceiling = false;
      std::uint64_t chunk_charged = 0;
      // A chunked body is charged as it arrives.
      // What is charged is the body's capacity, grown here explicitly (doubling), so that the
      // charge is the allocation and not the bytes: a string grown by appends alone may hold
      // twice what it was charged.
      auto on_chunk = [&](std::uint64_t, beast::string_view data,
                          boost::system::error_code& chunk_ec) -> std::size_t {
        std::string& body = parser.get().body();
        const std::size_t needed = body.size() + data.size();
        if (needed > body.capacity()) {
          const std::size_t grown = std::max(needed, 2 * body.capacity());
          if (!charge.add(grown - body.capacity())) {
            over_ceiling = true;
            chunk_ec = http::error::body_limit;
            return 0;
          }
          chunk_charged += grown - body.capacity();
          body.reserve(grown);
        }
        body.append(data.data(), data.size());
        return data.size();
      };
      if (parser.chunked()) parser.on_chunk_body(on_chunk);
      // The body, as far as it is buffered, without another asynchronous read.
      while (!ec && !parser.is_done() && buffer.size() > 0) {
        if (put_buffered(parser, buffer, ec) == 0) break;
      }
      if (!ec && !parser.is_done()) {
        if (const auto expect = request.find(http::field::expect);
            expect != request.end() && beast::iequals(expect->value(), "100-continue")) {
          http::response<http::empty_body> go_on{http::status::continue_, version};
          stream.expires_after(to_duration(options_.write_timeout_s));
          co_await http::async_write(stream, go_on, token);
          if (ec) break;
        }
        stream.expires_after(to_duration(options_.body_timeout_s));
        co_await http::async_read(stream, buffer, parser, token);
      }
      if (ec) {
        if (over_ceiling) {
          co_await refuse(stream, version, http::status::service_unavailable,
                          "the server's in-flight memory ceiling is reached; retry later", 1.0);
        } else if (ec == http::error::body_limit) {
          co_await refuse(
              stream, version, http::status::payload_too_large,
              "request body is larger than the limit of " + format_bytes(options_.max_body_bytes));
        } else if (ec != http::error::partial_message && ec != asio::error::eof &&
                   ec != asio::error::connection_reset && ec != beast::error::timeout) {
          co_await refuse(stream, version, http::status::bad_request,
                          "malformed HTTP request body: " + ec.message());
        }
        break;
      }
      const bool keep_alive = request.keep_alive();
      Exchange ex{request,
                  {},
                  charge,
                  arrival,
                  {},
                  {},
                  {},
                  parse_reserved,
                  declared ? *declared : chunk_charged,
                  room_since,
                  room_until,
                  hold.arrival()};
      ex.response.version(version);
      ++busy_;
      try {
        co_await dispatch(ex);
      } catch (const std::exception& e) {
        logger_.log("error", "internal error", {{"reason", e.what()}});
        ex.response = {};
        ex.response.version(version);
        reply_error(ex, http::status::internal_server_error,
                    std::string("internal error: ") + e.what());
      }
      --busy_;
      const bool stay = keep_alive && !service_.draining();
      ex.response.keep_alive(stay);
      ex.response.prepare_payload();
      service_.metrics().count_response(static_cast<int>(ex.response.result_int()));
      stream.expires_after(to_duration(options_.write_timeout_s));
      co_await http::async_write(stream, ex.response, token);
      if (ec || !stay) break;
      // A long header or a body read grew the read buffer: back to what the connection's charge
      // covers (whatever of the next request is buffered stays).
      if (buffer.capacity() > kFirstReadBytes) buffer.shrink_to_fit();
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> accept_loop() {
    boost::system::error_code ec;
    asio::steady_timer pause(*contexts_.front());
    std::size_t next = 0;
    for (;;) {
      // Connections are spread over the network threads; each stays on its thread for life.
      tcp::socket socket(*contexts_[next++ % contexts_.size()]);
      co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      if (ec) {
        // Out of descriptors or memory: back off briefly rather than spin.
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (connections_.load() >= options_.max_connections) {
        ++refused_;
        socket.close(ec);
        continue;
      }
      // Under a process limit a connection goes on only with room to charge it. Until then the
      // loop accepts nothing more: the connections behind it wait in the kernel's listen queue,
      // which holds none of this process's memory.
      std::uint64_t charged = 0;
      if (service_.budget().process_limited()) {
        while (acceptor_.is_open() && !service_.budget().try_charge_connection(kConnectionBytes)) {
          pause.expires_after(kAcceptRoomPoll);
          co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        if (!acceptor_.is_open()) break;
        charged = kConnectionBytes;
      }
      const auto executor = socket.get_executor();
      asio::co_spawn(executor, session(std::move(socket), charged), asio::detached);
    }
  }

  // The admin port's connections: never charged, at most kMaxAdminConnections at once (more
  // are closed at accept), each serving only what admin_target allows.
  asio::awaitable<void> admin_accept_loop() {
    boost::system::error_code ec;
    asio::steady_timer pause(*contexts_.front());
    for (;;) {
      tcp::socket socket(*contexts_.front());
      co_await admin_acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !admin_acceptor_.is_open()) break;
      if (ec) {
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (admin_connections_.load() >= kMaxAdminConnections) {
        socket.close(ec);
        continue;
      }
      asio::co_spawn(*contexts_.front(), session(std::move(socket), 0, true), asio::detached);
    }
  }

  Scheduler& scheduler_;
  Service& service_;
  HttpOptions options_;
  Logger& logger_;
  InferLimits infer_limits_;
  // Per model: the largest exact parse figure of its JSON inferences (infer_request_bytes), the
  // most the next request's admission reserves for parsing (admit).
  std::vector<std::atomic<std::uint64_t>> parse_seen_;
  // One io_context per network thread (concurrency hint 1): a connection's reads, handlers and
  // writes all run on its own thread, with no hand-off between threads on the way.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  tcp::acceptor acceptor_;
  tcp::acceptor admin_acceptor_;
  int admin_port_ = -1;
  std::atomic<std::size_t> admin_connections_{0};
  std::vector<Route> routes_;
  std::vector<std::thread> threads_;
  int port_ = -1;
  std::atomic<bool> stopped_{false};
  std::atomic<int> busy_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::mutex finish_mutex_;
  std::condition_variable finish_cv_;
  bool finished_ = false;
};

HttpServer::HttpServer(Service& service, HttpOptions options, Logger& logger)
    : impl_(std::make_unique<Impl>(service, std::move(options), logger)) {}
HttpServer::~HttpServer() = default;
int HttpServer::bind() { return impl_->bind(); }
void HttpServer::run() { impl_->run(); }
void HttpServer::start() { impl_->start(); }
void HttpServer::shutdown(std::chrono::milliseconds drain_timeout) {
  impl_->shutdown(drain_timeout);
}
int HttpServer::port() const { return impl_->port(); }
int HttpServer::admin_port() const { return impl_->admin_port(); }
Metrics& HttpServer::metrics() { return impl_->metrics(); }
std::size_t HttpServer::connections() const { return impl_->connections(); }
std::uint64_t HttpServer::inflight_bytes() const { return impl_->inflight_bytes(); }

}  // namespace brulee::serve
