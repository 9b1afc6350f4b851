#include "replay/replay.hpp"

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "core/error.hpp"
#include "core/next_use.hpp"
#include "core/rng.hpp"
#include "core/seconds.hpp"
#include "core/timeline_csv.hpp"
#include "serve/proto/inference.grpc.pb.h"
#include "workload/trace.hpp"

namespace brulee::replay {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  int port = 80;
};

// http://HOST:PORT for REST; grpc://HOST:PORT or HOST:PORT for gRPC.
Endpoint parse_url(const std::string& url, bool grpc) {
  const std::string expected = grpc ? "grpc://HOST:PORT or HOST:PORT" : "http://HOST:PORT";
  std::string rest = url;
  const std::string prefix = grpc ? "grpc://" : "http://";
  if (rest.rfind(prefix, 0) == 0) {
    rest = rest.substr(prefix.size());
  } else if (!grpc || rest.find("://") != std::string::npos) {
    throw UsageError("invalid --url '" + url + "': expected " + expected);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  Endpoint endpoint;
  endpoint.host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    const long value = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value <= 0 || value > 65535) {
      throw UsageError("invalid --url '" + url + "': bad port '" + port + "'");
    }
    endpoint.port = static_cast<int>(value);
  } else if (grpc) {
    throw UsageError("invalid --url '" + url + "': expected " + expected);
  }
  if (endpoint.host.empty() || endpoint.host.find('/') != std::string::npos) {
    throw UsageError("invalid --url '" + url + "': expected " + expected);
  }
  return endpoint;
}

// One input the server describes, filled with seeded random values of its dtype and shape
// (dynamic dimensions become 1). Floats are drawn as FP32 whatever the width.
struct InputValues {
  std::string name;
  std::string datatype;
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

std::vector<InputValues> make_inputs(const json& metadata, Rng& rng) {
  std::vector<InputValues> inputs;
  for (const auto& input : metadata.at("inputs")) {
    InputValues values;
    values.name = input.at("name").get<std::string>();
    values.datatype = input.at("datatype").get<std::string>();
    std::uint64_t count = 1;
    for (const auto& dim : input.at("shape")) {
      const std::int64_t size = std::max<std::int64_t>(1, dim.get<std::int64_t>());
      values.shape.push_back(size);
      count *= static_cast<std::uint64_t>(size);
    }
    const std::string& dtype = values.datatype;
    for (std::uint64_t i = 0; i < count; ++i) {
      if (dtype == "FP32" || dtype == "FP64" || dtype == "FP16") {
        values.values.push_back(static_cast<float>(rng.uniform()));
      } else if (dtype == "BOOL") {
        values.values.push_back(rng.below(2) == 1 ? 1.0 : 0.0);
      } else {
        values.values.push_back(static_cast<double>(rng.below(10)));
      }
    }
    inputs.push_back(std::move(values));
  }
  return inputs;
}

// The REST body: '{"inputs":[...]}' with the values as JSON data (each request prepends its own
// parameters to what follows the first '{').
std::string http_body(const std::vector<InputValues>& inputs) {
  json list = json::array();
  for (const auto& input : inputs) {
    json data = json::array();
    for (const double v : input.values) {
      if (input.datatype == "FP32" || input.datatype == "FP64" || input.datatype == "FP16") {
        data.push_back(v);
      } else if (input.datatype == "BOOL") {
        data.push_back(v != 0.0);
      } else {
        data.push_back(static_cast<std::int64_t>(v));
      }
    }
    list.push_back({{"name", input.name},
                    {"shape", input.shape},
                    {"datatype", input.datatype},
                    {"data", std::move(data)}});
  }
  return json{{"inputs", std::move(list)}}.dump();
}

template <typename T>
void append_raw(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// An input's values as raw little-endian, row-major bytes: gRPC's raw_input_contents and the
// REST binary data extension's payload.
std::string raw_bytes(const std::string& model, const InputValues& input) {
  std::string raw;
  const std::string& t = input.datatype;
  for (const double v : input.values) {
    if (t == "FP32") {
      append_raw(raw, static_cast<float>(v));
    } else if (t == "FP64") {
      append_raw(raw, v);
    } else if (t == "INT64") {
      append_raw(raw, static_cast<std::int64_t>(v));
    } else if (t == "INT32") {
      append_raw(raw, static_cast<std::int32_t>(v));
    } else if (t == "INT8") {
      append_raw(raw, static_cast<std::int8_t>(v));
    } else if (t == "UINT8" || t == "BOOL") {
      append_raw(raw, static_cast<std::uint8_t>(v));
    } else {
      throw UsageError("model '" + model + "' has input " + input.name + " of datatype " + t +
                       ", which the replay does not send as raw bytes");
    }
  }
  return raw;
}

// A model's REST request body less the request's own parameters. With the binary data
// extension the JSON part gives each input's binary_data_size and the inputs' bytes follow it
// (the request then says the JSON part's length in Inference-Header-Content-Length).
struct HttpPayload {
  std::string json_tail;  // '"inputs":[...]}' (follows '{"parameters":{...},')
  std::string raw;        // every input's bytes, in order; empty = the values are JSON lists
};

HttpPayload http_binary_body(const std::string& model, const std::vector<InputValues>& inputs) {
  HttpPayload body;
  json list = json::array();
  for (const auto& input : inputs) {
    std::string raw = raw_bytes(model, input);
    list.push_back({{"name", input.name},
                    {"shape", input.shape},
                    {"datatype", input.datatype},
                    {"parameters", {{"binary_data_size", raw.size()}}}});
    body.raw += raw;
  }
  const std::string whole = json{{"inputs", std::move(list)}}.dump();
  body.json_tail = whole.substr(1);
  return body;
}

// The gRPC request: the same values as raw_input_contents (little-endian, row-major).
inference::ModelInferRequest grpc_request(const std::string& model,
                                          const std::vector<InputValues>& inputs) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  for (const auto& input : inputs) {
    auto* tensor = request.add_inputs();
    tensor->set_name(input.name);
    tensor->set_datatype(input.datatype);
    for (const auto dim : input.shape) tensor->add_shape(dim);
    *request.add_raw_input_contents() = raw_bytes(model, input);
  }
  return request;
}

double number_or(const json& object, const char* key, double fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : fallback;
}

// The timeline in a `parameters` object (see timeline_from_parameters).
bool read_timeline(const json& params, RequestTimeline& timeline) {
  const auto hit = params.find("hit");
  if (hit == params.end() || !hit->is_boolean()) return false;
  RequestTimeline t;
  t.arrival_s = 0.0;
  t.hit = hit->get<bool>();
  const double start_s = number_or(params, "start_s", -1.0);
  const double end_s = number_or(params, "end_s", -1.0);
  if (start_s >= 0.0 && end_s >= 0.0) {
    t.ready_s = number_or(params, "ready_s", 0.0);
    t.start_s = start_s;
    t.end_s = end_s;
    if (params.contains("load_start_s") && params["load_start_s"].is_number()) {
      t.load_start_s = params["load_start_s"].get<double>();
    }
  } else {
    const double load_s = number_or(params, "load_s", -1.0);
    const double queue_s = number_or(params, "queue_s", -1.0);
    const double exec_s = number_or(params, "exec_s", -1.0);
    if (load_s < 0.0 || queue_s < 0.0 || exec_s < 0.0) return false;
    // load_s was arrival -> ready, all of it counted as load.
    if (!t.hit && load_s > 0.0) t.load_start_s = 0.0;
    t.ready_s = load_s;
    t.start_s = load_s + queue_s;
    t.end_s = t.start_s + exec_s;
  }
  timeline = t;
  return true;
}

void place_timeline(const json& params, RequestResult& result);

// Reads what the server reported of the request (brulee puts it in the response's
// "parameters", docs/api.md); other servers leave it unknown.
void read_response(const std::string& body, RequestResult& result) {
  const json root = json::parse(body, nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    if (result.status != 200) result.error = body.substr(0, 200);
    return;
  }
  if (result.status != 200) {
    result.error = root.value("error", body.substr(0, 200));
    return;
  }
  const auto params = root.find("parameters");
  if (params == root.end() || !params->is_object()) return;
  place_timeline(*params, result);
}

// The server's timeline (from an answer's parameters) on the replay's clock.
void place_timeline(const json& params, RequestResult& result) {
  RequestTimeline t;
  if (!read_timeline(params, t)) return;
  // On the replay's clock. Reading and parsing the request body happens before the server's
  // arrival and can take longer than the inference (docs/fidelity.md), while the answer (class
  // scores) is small: so the arrival is placed as late as the client's observation allows,
  // the server's latency before the answer came back, and never before the send.
  const double shift_s = result.sent_s + std::max(0.0, result.latency_s - (t.end_s - t.arrival_s));
  t.arrival_s += shift_s;
  if (!std::isnan(t.load_start_s)) t.load_start_s += shift_s;
  t.ready_s += shift_s;
  t.start_s += shift_s;
  t.end_s += shift_s;
  result.timed = true;
  result.parse_s = number_or(params, "parse_s", std::nan(""));
  result.timeline = t;
  result.delays = derive_delays(t);
}

// The answer's gRPC parameters as the JSON object read_timeline reads.
json parameters_json(const google::protobuf::Map<std::string, inference::InferParameter>& map) {
  json params = json::object();
  for (const auto& [key, value] : map) {
    switch (value.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        params[key] = value.bool_param();
        break;
      case inference::InferParameter::kDoubleParam:
        params[key] = value.double_param();
        break;
      case inference::InferParameter::kInt64Param:
        params[key] = value.int64_param();
        break;
      case inference::InferParameter::kUint64Param:
        params[key] = value.uint64_param();
        break;
      case inference::InferParameter::kStringParam:
        params[key] = value.string_param();
        break;
      default:
        break;
    }
  }
  return params;
}

// The HTTP status a gRPC code stands for in the per-request file (docs/replay.md).
int http_equivalent(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::INTERNAL:
      return 500;
    default:
      return 0;
  }
}

// One client connection of the replay: sends request i of the trace and fills its result.
class Connection {
 public:
  virtual ~Connection() = default;
  // The model's metadata as the REST route answers it ({"inputs": [...]}); throws UsageError.
  virtual json metadata(const std::string& model) = 0;
  // Sends the request with its place in the trace: index, its model's next index, its time.
  virtual void infer(std::uint64_t index, std::uint64_t next_index, double time_s,
                     RequestResult& result) = 0;
};

class HttpConnection final : public Connection {
 public:
  HttpConnection(const Endpoint& endpoint, const std::string& url, double timeout_s,
                 const std::unordered_map<std::string, HttpPayload>* bodies)
      : client_(endpoint.host, endpoint.port), url_(url), bodies_(bodies) {
    client_.set_keep_alive(true);
    client_.set_connection_timeout(5);
    const auto timeout = static_cast<time_t>(std::max(1.0, timeout_s));
    client_.set_read_timeout(timeout);
    client_.set_write_timeout(timeout);
  }
  json metadata(const std::string& name) override {
    auto response = client_.Get(("/v2/models/" + name).c_str());
    if (!response) {
      throw UsageError("cannot reach " + url_ + ": " + httplib::to_string(response.error()));
    }
    if (response->status != 200) {
      throw UsageError("the trace names model '" + name + "' but " + url_ + " answered " +
                       std::to_string(response->status) + " for its metadata");
    }
    return json::parse(response->body, nullptr, false);
  }
  void infer(std::uint64_t index, std::uint64_t next_index, double time_s,
             RequestResult& result) override {
    const HttpPayload& body = bodies_->at(result.model);  // '"inputs":[...]}' and raw bytes
    std::string request = "{\"parameters\":{\"request_index\":" + std::to_string(index);
    char time_text[64];
    std::snprintf(time_text, sizeof time_text, ",\"request_time_s\":%.17g", time_s);
    request += time_text;
    if (next_index != kNeverAgain) {
      request += ",\"next_request_index\":" + std::to_string(next_index);
    }
    request += "},";
    request += body.json_tail;
    httplib::Headers headers;
    const char* content_type = "application/json";
    if (!body.raw.empty()) {
      headers.emplace("Inference-Header-Content-Length", std::to_string(request.size()));
      request += body.raw;
      content_type = "application/octet-stream";
    }
    const auto before = SteadyClock::now();
    auto response = client_.Post(("/v2/models/" + result.model + "/infer").c_str(), headers,
                                 request, content_type);
    result.latency_s = seconds_since(before);
    if (!response) {
      result.status = 0;
      result.error = httplib::to_string(response.error());
    } else {
      result.status = response->status;
      read_response(response->body, result);
    }
  }

 private:
  httplib::Client client_;
  std::string url_;
  const std::unordered_map<std::string, HttpPayload>* bodies_;
};

class GrpcConnection final : public Connection {
 public:
  GrpcConnection(const Endpoint& endpoint, const std::string& url, double timeout_s,
                 const std::unordered_map<std::string, inference::ModelInferRequest>* requests)
      : url_(url), timeout_s_(std::max(1.0, timeout_s)), requests_(requests) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    // A connection of its own, as each REST client has (channels share one by default).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    const std::string target = endpoint.host + ":" + std::to_string(endpoint.port);
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  json metadata(const std::string& name) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    inference::ModelMetadataRequest request;
    request.set_name(name);
    inference::ModelMetadataResponse response;
    const grpc::Status status = stub_->ModelMetadata(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      throw UsageError("cannot reach " + url_ + ": " + status.error_message());
    }
    if (!status.ok()) {
      throw UsageError("the trace names model '" + name + "' but " + url_ + " answered " +
                       status.error_message() + " for its metadata");
    }
    json inputs = json::array();
    for (const auto& input : response.inputs()) {
      inputs.push_back(
          {{"name", input.name()},
           {"datatype", input.datatype()},
           {"shape", std::vector<std::int64_t>(input.shape().begin(), input.shape().end())}});
    }
    return json{{"inputs", std::move(inputs)}};
  }
  void infer(std::uint64_t index, std::uint64_t next_index, double time_s,
             RequestResult& result) override {
    inference::ModelInferRequest request = requests_->at(result.model);
    auto& parameters = *request.mutable_parameters();
    parameters["request_index"].set_uint64_param(index);
    parameters["request_time_s"].set_double_param(time_s);
    if (next_index != kNeverAgain) parameters["next_request_index"].set_uint64_param(next_index);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             std::chrono::duration<double>(timeout_s_)));
    inference::ModelInferResponse response;
    const auto before = SteadyClock::now();
    const grpc::Status status = stub_->ModelInfer(&context, request, &response);
    result.latency_s = seconds_since(before);
    result.status = http_equivalent(status.error_code());
    if (!status.ok()) {
      result.error = status.error_message().substr(0, 200);
      return;
    }
    place_timeline(parameters_json(response.parameters()), result);
  }

 private:
  std::string url_;
  double timeout_s_;
  const std::unordered_map<std::string, inference::ModelInferRequest>* requests_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

}  // namespace

bool timeline_from_parameters(const std::string& parameters_json, RequestTimeline& timeline) {
  const json params = json::parse(parameters_json, nullptr, false);
  return !params.is_discarded() && params.is_object() && read_timeline(params, timeline);
}

namespace {

void check_options(const ReplayOptions& options) {
  if (options.speed <= 0) throw UsageError("--speed must be > 0");
  if (options.concurrency == 0 || options.concurrency > 4096) {
    throw UsageError("--concurrency must be in 1..4096");
  }
  if (options.protocol != "http" && options.protocol != "grpc") {
    throw UsageError("--protocol must be http or grpc (got '" + options.protocol + "')");
  }
}

// One request payload per model the trace uses, built from the server's own metadata; and the
// connections that send them.
class Payloads {
 public:
  explicit Payloads(const ReplayOptions& options)
      : options_(options),
        grpc_(options.protocol == "grpc"),
        endpoint_(parse_url(options.url, grpc_)) {}

  std::unique_ptr<Connection> connect() const {
    if (grpc_) {
      return std::make_unique<GrpcConnection>(endpoint_, options_.url, options_.timeout_s,
                                              &grpc_requests_);
    }
    return std::make_unique<HttpConnection>(endpoint_, options_.url, options_.timeout_s, &http_);
  }

  // Asks the server for the metadata of every model among the first `total` requests.
  void prepare(const workload::Trace& trace, std::size_t total) {
    const auto connection = connect();
    Rng rng(options_.seed);
    std::vector<bool> prepared(trace.model_names.size(), false);
    for (std::size_t i = 0; i < total; ++i) {
      const ModelId model = trace.model[i];
      if (prepared[model]) continue;
      prepared[model] = true;
      const std::string& name = trace.model_names[model];
      const json metadata = connection->metadata(name);
      if (metadata.is_discarded() || !metadata.contains("inputs")) {
        throw UsageError(options_.url + " sent malformed metadata for model '" + name + "'");
      }
      const std::vector<InputValues> inputs = make_inputs(metadata, rng);
      if (grpc_) {
        grpc_requests_.emplace(name, grpc_request(name, inputs));
      } else if (options_.binary_data) {
        http_.emplace(name, http_binary_body(name, inputs));
      } else {
        http_.emplace(name, HttpPayload{http_body(inputs).substr(1), {}});
      }
    }
  }

 private:
  const ReplayOptions& options_;
  bool grpc_;
  Endpoint endpoint_;
  std::unordered_map<std::string, HttpPayload> http_;
  std::unordered_map<std::string, inference::ModelInferRequest> grpc_requests_;
};

// Sends the requests: in open loop a dispatcher releases each at its time to the connections'
// threads; in closed loop each thread takes the next request as soon as it is free.
class Replayer {
 public:
  Replayer(const ReplayOptions& options, const Payloads& payloads, const workload::Trace& trace,
           std::size_t total)
      : options_(options),
        payloads_(payloads),
        trace_(trace),
        total_(total),
        // Each request also carries its position in the trace and the position of its model's
        // next request, so a server running an oracle policy (belady, cremebrulee-oracle) can
        // use the future exactly as the simulator does. Other servers ignore the parameters.
        next_index_(next_use_indices(trace.model, trace.model_names.size())),
        results_(total) {
    for (std::size_t i = 0; i < total; ++i) {
      results_[i].index = i;
      results_[i].request_id = trace.request_id.empty() ? i : trace.request_id[i];
      results_[i].model = trace.model_names[trace.model[i]];
      results_[i].scheduled_s = (trace.time_s[i] - trace.time_s[0]) / options.speed;
    }
  }

  // Runs the replay to its end; returns its duration in seconds.
  double run(const std::function<void(const Progress&)>& on_progress) {
    start_ = SteadyClock::now();
    std::vector<std::thread> workers;
    for (unsigned w = 0; w < options_.concurrency; ++w) workers.emplace_back([this] { work(); });
    std::thread dispatcher;
    if (!options_.closed_loop) dispatcher = std::thread([this] { dispatch(); });
    while (done_.load() < total_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (on_progress) on_progress(progress(seconds_since(start_)));
    }
    if (dispatcher.joinable()) dispatcher.join();
    for (auto& thread : workers) thread.join();
    const double duration = seconds_since(start_);
    if (on_progress) on_progress(progress(duration));
    return duration;
  }

  std::vector<RequestResult>& results() { return results_; }

 private:
  Progress progress(double elapsed_s) const {
    return {sent_.load(), done_.load(), errors_.load(), total_, elapsed_s};
  }

  void work() {
    const auto connection = payloads_.connect();
    for (;;) {
      std::size_t i = 0;
      if (options_.closed_loop) {
        i = next_closed_++;
        if (i >= total_) return;
      } else {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !queue_.empty() || dispatch_done_; });
        if (queue_.empty()) return;
        i = queue_.front();
        queue_.pop_front();
      }
      send(*connection, i);
    }
  }

  void send(Connection& connection, std::size_t i) {
    RequestResult& result = results_[i];
    result.sent_s = seconds_since(start_);
    ++sent_;
    connection.infer(i, next_index_[i], trace_.time_s[i], result);
    if (result.status != 200) ++errors_;
    ++done_;
  }

  void dispatch() {
    for (std::size_t i = 0; i < total_; ++i) {
      std::this_thread::sleep_until(start_ + to_duration(results_[i].scheduled_s));
      {
        std::lock_guard lock(mutex_);
        queue_.push_back(i);
      }
      ready_.notify_one();
    }
    {
      std::lock_guard lock(mutex_);
      dispatch_done_ = true;
    }
    ready_.notify_all();
  }

  const ReplayOptions& options_;
  const Payloads& payloads_;
  const workload::Trace& trace_;
  const std::size_t total_;
  const std::vector<std::uint64_t> next_index_;
  std::vector<RequestResult> results_;
  SteadyClock::time_point start_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::size_t> queue_;  // released (open loop), not yet sent
  bool dispatch_done_ = false;
  std::atomic<std::size_t> next_closed_{0};
  std::atomic<std::uint64_t> sent_{0}, done_{0}, errors_{0};
};

}  // namespace

ReplaySummary run_replay(const ReplayOptions& options, std::vector<RequestResult>* results_out,
                         const std::function<void(const Progress&)>& on_progress) {
  check_options(options);
  Payloads payloads(options);
  const workload::Trace trace = workload::read_trace(options.trace_path);
  std::size_t total = trace.size();
  if (options.max_requests > 0) total = std::min<std::size_t>(total, options.max_requests);
  if (total == 0) throw UsageError(options.trace_path + ": the trace has no requests");
  payloads.prepare(trace, total);

  Replayer replayer(options, payloads, trace, total);
  const double duration = replayer.run(on_progress);
  std::vector<RequestResult>& results = replayer.results();
  ReplaySummary summary = summarize(results, duration);
  if (!options.out_csv.empty()) write_results_csv(options.out_csv, results);
  if (results_out) *results_out = std::move(results);
  return summary;
}

ReplaySummary summarize(const std::vector<RequestResult>& results, double duration_s) {
  ReplaySummary summary;
  summary.requests = results.size();
  summary.duration_s = duration_s;
  std::vector<double> latencies;
  double load_sum = 0, exec_sum = 0, queue_sum = 0, server_sum = 0;
  std::uint64_t timed = 0;
  for (const auto& result : results) {
    summary.max_send_lag_s = std::max(summary.max_send_lag_s, result.sent_s - result.scheduled_s);
    if (result.status != 200) {
      ++summary.errors;
      continue;
    }
    ++summary.ok;
    latencies.push_back(result.latency_s);
    if (!result.timed) continue;
    ++timed;
    ++(result.timeline.hit ? summary.hits : summary.misses);
    load_sum += result.delays.load_delay_s;
    exec_sum += result.delays.exec_s;
    queue_sum += result.delays.queue_delay_s;
    server_sum += result.delays.latency_s;
  }
  if (timed > 0) {
    const double n = static_cast<double>(timed);
    summary.mean_load_s = load_sum / n;
    summary.mean_exec_s = exec_sum / n;
    summary.mean_queue_s = queue_sum / n;
    summary.mean_server_latency_s = server_sum / n;
  }
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    const auto pct = [&](double p) {
      const auto rank =
          static_cast<std::size_t>(std::ceil(p * static_cast<double>(latencies.size())));
      return latencies[std::min(latencies.size() - 1, rank == 0 ? 0 : rank - 1)];
    };
    double sum = 0;
    for (double latency : latencies) sum += latency;
    const double ok = static_cast<double>(latencies.size());
    summary.latency_mean_s = sum / ok;
    summary.latency_p50_s = pct(0.50);
    summary.latency_p95_s = pct(0.95);
    summary.latency_p99_s = pct(0.99);
  }
  if (duration_s > 0) summary.throughput_rps = static_cast<double>(summary.ok) / duration_s;
  return summary;
}

void write_results_csv(const std::string& path, const std::vector<RequestResult>& results) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (!file) throw UsageError("cannot write " + path);
  std::fprintf(file,
               "index,model,%s,request_id,scheduled_s,sent_s,status,client_latency_s,parse_s,"
               "error\n",
               kTimelineCsvColumns);
  char timeline[512];
  for (const auto& r : results) {
    std::string error = r.error;
    std::replace(error.begin(), error.end(), ',', ';');
    std::replace(error.begin(), error.end(), '\n', ' ');
    if (r.timed) {
      format_timeline_csv(timeline, sizeof timeline, r.timeline, r.delays);
    } else {
      std::snprintf(timeline, sizeof timeline, ",,,,,,,,,");  // unknown: every column empty
    }
    char parse[32] = "";  // empty: the server did not say
    if (!std::isnan(r.parse_s)) std::snprintf(parse, sizeof parse, "%.6f", r.parse_s);
    std::fprintf(file, "%llu,%s,%s,%llu,%.6f,%.6f,%d,%.6f,%s,%s\n",
                 static_cast<unsigned long long>(r.index), r.model.c_str(), timeline,
                 static_cast<unsigned long long>(r.request_id), r.scheduled_s, r.sent_s, r.status,
                 r.latency_s, parse, error.c_str());
  }
  if (std::fclose(file) != 0) throw std::runtime_error("error writing " + path);
}

}  // namespace brulee::replay
