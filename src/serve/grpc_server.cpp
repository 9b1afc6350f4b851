#include "serve/grpc_server.hpp"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <charconv>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/seconds.hpp"
#include "serve/grpc_codec.hpp"
#include "serve/inflight.hpp"
#include "serve/proto/inference.grpc.pb.h"
#include "serve/service.hpp"

namespace brulee::serve {

namespace pb = inference;

namespace {

grpc::StatusCode grpc_code(Status status) {
  switch (status) {
    case Status::kOk:
      return grpc::StatusCode::OK;
    case Status::kBadRequest:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Status::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case Status::kConflict:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case Status::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case Status::kTimeout:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Status::kFailed:
      return grpc::StatusCode::INTERNAL;
    case Status::kCancelled:
      return grpc::StatusCode::CANCELLED;
  }
  return grpc::StatusCode::INTERNAL;
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    default:
      return "OTHER";
  }
}

grpc::Status problem_status(const Problem& problem) {
  return {grpc_code(problem.status), problem.message};
}

std::int64_t milliseconds(double seconds) {
  return static_cast<std::int64_t>(std::llround(seconds * 1000.0));
}

std::string config_type(runtime::DType dtype) { return "TYPE_" + std::string(kserve_dtype(dtype)); }

// Functions run at given times on one thread: request deadlines, and retries of work that must
// not block a gRPC thread. An entry removed before its time never runs.
class Timers {
 public:
  using Key = std::pair<Clock::time_point, std::uint64_t>;
  Timers() : thread_([this] { loop(); }) {}
  ~Timers() { stop(); }
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  Key add(Clock::time_point when, std::function<void()> run) {
    std::unique_lock lock(mutex_);
    const Key key{when, next_++};
    const bool earliest = entries_.empty() || key < entries_.begin()->first;
    entries_.emplace(key, std::move(run));
    lock.unlock();
    if (earliest) cv_.notify_one();
    return key;
  }
  void remove(const Key& key) {
    std::lock_guard lock(mutex_);
    entries_.erase(key);
  }
  // Runs nothing more; entries left are dropped.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      entries_.clear();
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (entries_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const auto first = entries_.begin();
      if (first->first.first > Clock::now()) {
        cv_.wait_until(lock, first->first.first);
        continue;
      }
      std::function<void()> run = std::move(first->second);
      entries_.erase(first);
      lock.unlock();
      run();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<Key, std::function<void()>> entries_;
  std::uint64_t next_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

// Who answers a call that waits on the scheduler: the scheduler's callback, or for a load wait
// (which cannot be withdrawn) the deadline or the client's cancellation, whichever comes first.
// Shared with timers and callbacks that may outlive the reactor; they touch the reactor only
// after winning claim(), and the reactor is not finished before someone wins it.
struct CallState {
  std::mutex mutex;
  bool claimed = false;
  bool cancel_requested = false;  // before the ticket was known
  RequestTicket ticket;
  std::optional<Timers::Key> timer;

  bool claim() {
    std::lock_guard lock(mutex);
    if (claimed) return false;
    claimed = true;
    return true;
  }
};

// The timeline figures of a successful outcome, as the answer carries them.
AnswerFigures figures_of(const InferOutcome& outcome, double parse_s) {
  AnswerFigures figures;
  figures.hit = outcome.hit;
  figures.load_s = outcome.delays.load_delay_s;
  figures.queue_s = outcome.delays.queue_delay_s;
  figures.exec_s = outcome.delays.exec_s;
  figures.ready_s = outcome.timeline.ready_s;
  figures.start_s = outcome.timeline.start_s;
  figures.end_s = outcome.timeline.end_s;
  figures.parse_s = parse_s;
  if (!std::isnan(outcome.timeline.load_start_s)) {
    figures.load_start_s = outcome.timeline.load_start_s;
  }
  return figures;
}

// Takes a request out of its queue (or marks it, if it has not been submitted yet).
void withdraw(CallState& state, Scheduler& scheduler) {
  RequestTicket ticket;
  {
    std::lock_guard lock(state.mutex);
    state.cancel_requested = true;
    ticket = state.ticket;
  }
  if (ticket) scheduler.cancel(ticket);
}

}  // namespace

void validate(const GrpcOptions& o) {
  auto seconds = [](double value, double max, const char* flag) {
    if (!std::isfinite(value) || value <= 0 || value > max) {
      throw UsageError(std::string(flag) + " must be a number of seconds in (0, " +
                       std::to_string(static_cast<long>(max)) + "]");
    }
  };
  seconds(o.request_timeout_s, 86400, "--request-timeout");
  seconds(o.handshake_timeout_s, 3600, "--grpc-handshake-timeout");
  seconds(o.idle_timeout_s, 86400, "--grpc-idle-timeout");
  seconds(o.keepalive_time_s, 86400, "--grpc-keepalive-time");
  seconds(o.keepalive_timeout_s, 3600, "--grpc-keepalive-timeout");
  seconds(o.min_client_ping_interval_s, 3600, "--grpc-min-ping-interval");
  if (o.port < 0 || o.port > 65535) throw UsageError("--grpc-port must be in 0..65535");
  if (o.max_message_bytes < 1024 || o.max_message_bytes > static_cast<std::uint64_t>(INT_MAX)) {
    throw UsageError("--grpc-max-message must be in 1KiB..2GiB");
  }
  if (o.max_concurrent_streams == 0) throw UsageError("--grpc-max-streams must be at least 1");
  if (o.max_stream_inflight == 0 || o.max_stream_inflight > 4096) {
    throw UsageError("--grpc-stream-inflight must be in 1..4096");
  }
  if (o.transport_memory_bytes < (1u << 20)) {
    throw UsageError("--grpc-transport-memory must be at least 1MiB");
  }
  if (o.max_metadata_bytes < 1024 || o.max_metadata_bytes > (1u << 20)) {
    throw UsageError("--grpc-max-metadata must be in 1KiB..1MiB");
  }
  const std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
  unsigned char address[16];
  if (inet_pton(AF_INET, host.c_str(), address) != 1 &&
      inet_pton(AF_INET6, host.c_str(), address) != 1) {
    throw UsageError("--host must be an IPv4 or IPv6 address (got \"" + o.host + "\")");
  }
}

class GrpcServer::Impl final : public pb::GRPCInferenceService::CallbackService {
 public:
  Impl(serve::Service& service, GrpcOptions options, Logger& logger)
      : service_(service),
        scheduler_(service.scheduler()),
        options_(std::move(options)),
        logger_(logger) {
    validate(options_);
  }
  ~Impl() override { shutdown(std::chrono::milliseconds(0)); }

  int start() {
    if (server_) return port_;
    std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    const std::string address = host + ":" + std::to_string(options_.port);
    grpc::ServerBuilder builder;
    int selected = 0;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected);
    builder.RegisterService(this);
    builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
    builder.SetMaxSendMessageSize(static_cast<int>(options_.max_message_bytes));
    // A second server on the port must fail, not take half of the connections.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               static_cast<int>(options_.max_concurrent_streams));
    builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                               static_cast<int>(options_.max_metadata_bytes));
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               static_cast<int>(milliseconds(options_.handshake_timeout_s)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               static_cast<int>(milliseconds(options_.idle_timeout_s)));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(milliseconds(options_.keepalive_time_s)));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(milliseconds(options_.keepalive_timeout_s)));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               static_cast<int>(milliseconds(options_.min_client_ping_interval_s)));
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
    grpc::ResourceQuota quota("brulee-grpc");
    quota.Resize(static_cast<std::size_t>(options_.transport_memory_bytes));
    builder.SetResourceQuota(quota);
    server_ = builder.BuildAndStart();
    if (!server_ || selected == 0) {
      server_.reset();
      throw std::runtime_error("cannot listen for gRPC on " + address +
                               " (in use, or not an address of this machine)");
    }
    port_ = selected;
    return port_;
  }

  void shutdown(std::chrono::milliseconds grace) {
    std::lock_guard lock(shutdown_mutex_);
    if (!server_) return;
    service_.begin_draining();
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    server_.reset();
    timers_.stop();
  }

  int port() const { return port_; }

  // ---- health and metadata -------------------------------------------------------------

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const pb::ServerLiveRequest*,
                                       pb::ServerLiveResponse* response) override {
    response->set_live(true);
    return answered(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const pb::ServerReadyRequest*,
                                        pb::ServerReadyResponse* response) override {
    response->set_ready(service_.ready());
    return answered(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const pb::ModelReadyRequest* request,
                                       pb::ModelReadyResponse* response) override {
    Problem problem;
    const auto id = service_.find(request->name(), request->version(), problem);
    if (!id) return answered(context, problem_status(problem));
    response->set_ready(service_.model_ready(*id));
    return answered(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const pb::ServerMetadataRequest*,
                                           pb::ServerMetadataResponse* response) override {
    response->set_name("brulee");
    response->set_version("0.1.0");
    for (const char* extension :
         {"model_repository", "statistics", "model_configuration", "brulee_cache"}) {
      response->add_extensions(extension);
    }
    return answered(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const pb::ModelMetadataRequest* request,
                                          pb::ModelMetadataResponse* response) override {
    return with_metadata(context, request->name(), request->version(),
                         [response](const serve::ModelMetadata& m) {
                           response->set_name(m.name);
                           response->add_versions(m.version);
                           response->set_platform(m.platform);
                           auto add = [](auto* list, const runtime::TensorSpec& spec) {
                             auto* tensor = list->Add();
                             tensor->set_name(spec.name);
                             tensor->set_datatype(std::string(kserve_dtype(spec.dtype)));
                             for (const auto dim : spec.shape) tensor->add_shape(dim);
                           };
                           for (const auto& spec : m.inputs) add(response->mutable_inputs(), spec);
                           for (const auto& spec : m.outputs) {
                             add(response->mutable_outputs(), spec);
                           }
                         });
  }

  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const pb::ModelConfigRequest* request,
                                        pb::ModelConfigResponse* response) override {
    return with_metadata(
        context, request->name(), request->version(), [response](const serve::ModelMetadata& m) {
          pb::ModelConfig& config = *response->mutable_config();
          config.set_name(m.name);
          config.set_platform(m.platform);
          config.set_backend(m.backend);
          config.set_max_batch_size(0);
          std::int64_t version = 0;
          if (std::from_chars(m.version.data(), m.version.data() + m.version.size(), version).ec ==
              std::errc()) {
            config.mutable_version_policy()->mutable_specific()->add_versions(version);
          }
          auto data_type = [](runtime::DType dtype) {
            pb::DataType type = pb::TYPE_INVALID;
            pb::DataType_Parse(config_type(dtype), &type);
            return type;
          };
          for (const auto& spec : m.inputs) {
            auto* input = config.add_input();
            input->set_name(spec.name);
            input->set_data_type(data_type(spec.dtype));
            for (const auto dim : spec.shape) input->add_dims(dim);
          }
          for (const auto& spec : m.outputs) {
            auto* output = config.add_output();
            output->set_name(spec.name);
            output->set_data_type(data_type(spec.dtype));
            for (const auto dim : spec.shape) output->add_dims(dim);
          }
          auto* group = config.add_instance_group();
          group->set_kind(pb::ModelInstanceGroup::KIND_CPU);
          group->set_count(1);
        });
  }

  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const pb::ModelStatisticsRequest* request,
                                            pb::ModelStatisticsResponse* response) override {
    std::optional<ModelId> only;
    if (!request->name().empty()) {
      Problem problem;
      only = service_.find(request->name(), request->version(), problem);
      if (!only) return answered(context, problem_status(problem));
    }
    auto duration = [](pb::StatisticDuration* d, std::uint64_t count, std::uint64_t ns) {
      d->set_count(count);
      d->set_ns(ns);
    };
    for (const auto& s : service_.statistics(only)) {
      auto* entry = response->add_model_stats();
      entry->set_name(s.name);
      entry->set_version(s.version);
      entry->set_last_inference(s.last_inference_ms);
      entry->set_inference_count(s.success_count);
      entry->set_execution_count(s.success_count);
      auto* stats = entry->mutable_inference_stats();
      duration(stats->mutable_success(), s.success_count, s.success_ns);
      duration(stats->mutable_fail(), s.fail_count, s.fail_ns);
      duration(stats->mutable_queue(), s.success_count, s.queue_ns);
      duration(stats->mutable_compute_input(), s.success_count, 0);
      duration(stats->mutable_compute_infer(), s.success_count, s.infer_ns);
      duration(stats->mutable_compute_output(), s.success_count, 0);
      duration(stats->mutable_cache_hit(), s.hits, s.hit_ns);
      duration(stats->mutable_cache_miss(), s.misses, s.miss_ns);
      auto* brulee = entry->mutable_brulee();
      brulee->set_state(std::string(state_name(s.scheduler.state)));
      brulee->set_load_ns(
          static_cast<std::uint64_t>(s.scheduler.counters.load_seconds_total * 1e9));
      s.scheduler.counters.for_each([&](const CounterInfo& info, auto value) {
        (*brulee->mutable_counters())[std::string(info.key)] = static_cast<double>(value);
      });
    }
    return answered(context, grpc::Status::OK);
  }

  // ---- model repository ------------------------------------------------------------------

  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const pb::RepositoryIndexRequest* request,
                                            pb::RepositoryIndexResponse* response) override {
    for (const auto& entry : service_.repository_index(request->ready())) {
      auto* model = response->add_models();
      model->set_name(entry.name);
      model->set_version(entry.version);
      model->set_state(entry.state);
      model->set_reason(entry.reason);
    }
    return answered(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                const pb::RepositoryModelLoadRequest* request,
                                                pb::RepositoryModelLoadResponse*) override {
    Problem problem;
    const auto id = service_.find(request->model_name(), "", problem);
    if (!id) return answered(context, problem_status(problem));
    return when_loaded(context, *id, [] { return grpc::Status::OK; });
  }

  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                  const pb::RepositoryModelUnloadRequest* request,
                                                  pb::RepositoryModelUnloadResponse*) override {
    Problem problem;
    const auto id = service_.find(request->model_name(), "", problem);
    if (!id) return answered(context, problem_status(problem));
    return when_unloaded(context, *id);
  }

  // ---- inference -------------------------------------------------------------------------

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const pb::ModelInferRequest* request,
                                       pb::ModelInferResponse* response) override;

  grpc::ServerBidiReactor<pb::ModelInferRequest, pb::ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;

 private:
  class InferCall;
  class StreamCall;
  class LoadCall;

  // Finishes a call answered on the spot.
  grpc::ServerUnaryReactor* answered(grpc::CallbackServerContext* context,
                                     const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    finish(reactor, status);
    return reactor;
  }

  void finish(grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
    service_.metrics().count_grpc_status(code_name(status.error_code()));
    reactor->Finish(status);
  }

  // The earlier of the client's deadline and the server's request timeout.
  Clock::time_point deadline_of(const grpc::CallbackServerContext* context,
                                Clock::time_point arrival) const {
    auto deadline = arrival + to_duration(options_.request_timeout_s);
    // Without a client deadline, gRPC reports one in the far future.
    const auto left = context->deadline() - std::chrono::system_clock::now();
    if (left < std::chrono::hours(24 * 365)) {
      deadline =
          std::min(deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(left));
    }
    return deadline;
  }

  // Answers with the model's metadata, loading the model first when it is not known yet.
  template <typename Fill>
  grpc::ServerUnaryReactor* with_metadata(grpc::CallbackServerContext* context,
                                          const std::string& name, const std::string& version,
                                          Fill fill) {
    Problem problem;
    const auto id = service_.find(name, version, problem);
    if (!id) return answered(context, problem_status(problem));
    if (auto known = service_.metadata(*id)) {
      fill(*known);
      return answered(context, grpc::Status::OK);
    }
    return when_loaded(context, *id, [this, id = *id, fill] {
      const auto known = service_.metadata(id);
      if (!known) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "model " + scheduler_.model(id).name + " was evicted; retry");
      }
      fill(*known);
      return grpc::Status::OK;
    });
  }

  // Answers once the model is loaded: with `fill`'s status, or the load's error.
  grpc::ServerUnaryReactor* when_loaded(grpc::CallbackServerContext* context, ModelId id,
                                        std::function<grpc::Status()> fill);
  // Answers once a loader thread has dropped the model (the call holds no thread meanwhile).
  grpc::ServerUnaryReactor* when_unloaded(grpc::CallbackServerContext* context, ModelId id);

  serve::Service& service_;
  Scheduler& scheduler_;
  GrpcOptions options_;
  Logger& logger_;
  InferLimits infer_limits_;
  Timers timers_;
  std::mutex shutdown_mutex_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = -1;
};

// ---- a call waiting for a load (metadata, configuration, repository load) ------------------

class GrpcServer::Impl::LoadCall final : public grpc::ServerUnaryReactor {
 public:
  LoadCall(Impl& front, std::function<grpc::Status()> fill,
           std::string timeout_text = "timed out loading model")
      : front_(front),
        fill_(std::move(fill)),
        timeout_text_(std::move(timeout_text)),
        state_(std::make_shared<CallState>()) {}

  // `operation` starts the scheduler's work (a load, an unload) with the callback to answer by.
  void start(grpc::CallbackServerContext* context, const std::function<void(LoadDone)>& operation) {
    auto state = state_;
    Impl& front = front_;
    state->timer = front.timers_.add(front.deadline_of(context, Clock::now()), [this, state] {
      if (state->claim()) answer({grpc::StatusCode::DEADLINE_EXCEEDED, timeout_text_});
    });
    // The callback may run with the scheduler's lock held, and filling the answer reads the
    // scheduler: the answer is made on the timers' thread.
    operation([this, state, &front](LoadOutcome outcome) {
      if (!state->claim()) return;
      front.timers_.remove(*state->timer);
      front.timers_.add(Clock::now(), [this, outcome = std::move(outcome)] {
        if (outcome.status != Status::kOk) {
          answer(problem_status({outcome.status, outcome.error, outcome.retry_after_s}));
          return;
        }
        answer(fill_());
      });
    });
  }
  void OnCancel() override {
    if (state_->claim()) {
      front_.timers_.remove(*state_->timer);
      answer({grpc::StatusCode::CANCELLED, "cancelled by the client"});
    }
  }
  void OnDone() override { delete this; }

 private:
  void answer(const grpc::Status& status) { front_.finish(this, status); }
  Impl& front_;
  std::function<grpc::Status()> fill_;
  std::string timeout_text_;
  std::shared_ptr<CallState> state_;
};

grpc::ServerUnaryReactor* GrpcServer::Impl::when_loaded(grpc::CallbackServerContext* context,
                                                        ModelId id,
                                                        std::function<grpc::Status()> fill) {
  auto* call = new LoadCall(*this, std::move(fill));
  call->start(context, [this, id](LoadDone done) { scheduler_.load(id, std::move(done)); });
  return call;
}

grpc::ServerUnaryReactor* GrpcServer::Impl::when_unloaded(grpc::CallbackServerContext* context,
                                                          ModelId id) {
  auto* call = new LoadCall(
      *this, [] { return grpc::Status::OK; }, "timed out unloading model");
  call->start(context, [this, id](LoadDone done) { scheduler_.unload(id, std::move(done)); });
  return call;
}

// ---- one inference ---------------------------------------------------------------------------

// One ModelInfer call: checks and charges the request, copies its tensors out under the
// activity gate, submits them, and answers from the scheduler's callback. After submission the
// callback is the only one to answer; the deadline and the client's cancellation withdraw the
// request from its queue (the scheduler then answers DEADLINE_EXCEEDED or CANCELLED).
class GrpcServer::Impl::InferCall final : public grpc::ServerUnaryReactor {
 public:
  InferCall(Impl& front, grpc::CallbackServerContext* context, const pb::ModelInferRequest& request,
            pb::ModelInferResponse& response)
      : front_(front),
        request_(request),
        response_(response),
        arrival_(Clock::now()),
        deadline_(front.deadline_of(context, arrival_)),
        charge_(front.service_.budget()),
        state_(std::make_shared<CallState>()) {}

  void start() {
    Problem problem;
    const auto id = front_.service_.find(request_.model_name(), request_.model_version(), problem);
    if (!id) return answer(problem_status(problem));
    id_ = *id;
    if (front_.service_.draining()) {
      return answer({grpc::StatusCode::UNAVAILABLE, "server is shutting down"});
    }
    // The message as decoded, and the tensors about to be copied out of it.
    if (!charge_.add(request_.ByteSizeLong() + grpc_request_bytes(request_))) {
      return answer({grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "the server's in-flight memory ceiling is reached; retry later"});
    }
    auto state = state_;
    Scheduler& scheduler = front_.scheduler_;
    state->timer =
        front_.timers_.add(deadline_, [state, &scheduler] { withdraw(*state, scheduler); });
    parse_and_submit();
  }

  void OnCancel() override { withdraw(*state_, front_.scheduler_); }
  void OnDone() override { delete this; }

 private:
  void parse_and_submit() {
    bool withdrawn = false;
    {
      std::lock_guard lock(state_->mutex);
      withdrawn = state_->cancel_requested;
    }
    if (withdrawn) {
      front_.timers_.remove(*state_->timer);
      return answer(Clock::now() >= deadline_
                        ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                       "request timed out before it was queued")
                        : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
    }
    // Copying tensors allocates: not while a first load measures its bytes. A gRPC thread must
    // not block for that (it may take minutes), so the attempt is repeated from the timers.
    ActivityGate& gate = front_.scheduler_.activity_gate();
    if (!gate.try_enter()) {
      if (!gated_from_) {
        gated_from_ = Clock::now();
        // Its model held while it waits, as a REST request's (HttpServer's enter_gate).
        hold_.take(id_);
      }
      front_.timers_.add(Clock::now() + std::chrono::milliseconds(2),
                         [this] { parse_and_submit(); });
      return;
    }
    const Clock::duration gated = gated_from_ ? Clock::now() - *gated_from_ : Clock::duration{};
    try {
      parsed_ = parse_grpc_infer_request(request_, front_.infer_limits_);
    } catch (const UsageError& e) {
      gate.leave();
      front_.timers_.remove(*state_->timer);
      return answer({grpc::StatusCode::INVALID_ARGUMENT, e.what()});
    }
    gate.leave();
    parse_s_ = seconds_since(arrival_);
    auto state = state_;  // `this` may be gone once submit has handed the request on
    Scheduler& scheduler = front_.scheduler_;
    const RequestTicket ticket = scheduler.submit(
        id_, std::move(parsed_.inputs), deadline_, parsed_.oracle,
        [this](InferOutcome outcome) { deliver(std::move(outcome)); }, hold_.arrival(), gated);
    bool cancel = false;
    {
      std::lock_guard lock(state->mutex);
      state->ticket = ticket;
      cancel = state->cancel_requested;
    }
    if (cancel && ticket) scheduler.cancel(ticket);
  }

  // The scheduler's answer; it may come on any thread, but never with the scheduler's lock
  // held together with outputs to encode (errors only carry a message).
  void deliver(InferOutcome outcome) {
    front_.timers_.remove(*state_->timer);
    serve::Service& service = front_.service_;
    const double total_s = seconds_since(arrival_);
    service.record(id_, outcome, total_s);
    if (outcome.status != Status::kOk) {
      return answer(problem_status({outcome.status, outcome.error, outcome.retry_after_s}));
    }
    const ServedModel& served = front_.scheduler_.model(id_);
    try {
      if (!charge_.add(grpc_response_bytes(served.name, request_.id(), parsed_, outcome.outputs))) {
        return answer({grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "the server's in-flight memory ceiling is reached; retry later"});
      }
      const AnswerFigures figures = figures_of(outcome, parse_s_);
      encode_grpc_infer_response(served.name, served.version, request_.id(), parsed_,
                                 outcome.outputs, figures, response_);
    } catch (const UsageError& e) {
      return answer({grpc::StatusCode::INVALID_ARGUMENT, e.what()});
    }
    service.metrics().observe_request(id_, total_s);
    answer(grpc::Status::OK);
  }

  void answer(const grpc::Status& status) { front_.finish(this, status); }

  Impl& front_;
  const pb::ModelInferRequest& request_;
  pb::ModelInferResponse& response_;
  const Clock::time_point arrival_;
  const Clock::time_point deadline_;
  Charge charge_;  // given back when the call is done (its answer sent)
  std::shared_ptr<CallState> state_;
  ModelId id_ = kNoModel;
  GrpcInferRequest parsed_;
  double parse_s_ = 0.0;
  std::optional<Clock::time_point> gated_from_;  // first found the activity gate closed
  // The model held while the gate was closed (released with the call), and the arrival it took.
  ModelHold hold_{front_.scheduler_};
};

grpc::ServerUnaryReactor* GrpcServer::Impl::ModelInfer(grpc::CallbackServerContext* context,
                                                       const pb::ModelInferRequest* request,
                                                       pb::ModelInferResponse* response) {
  auto* call = new InferCall(*this, context, *request, *response);
  call->start();
  return call;
}

// ---- streaming inference ---------------------------------------------------------------------

// ModelStreamInfer: each request read is answered by one message on the stream, in the order
// the answers are ready; a failed request is answered with error_message and the stream goes
// on. At most max_stream_inflight requests are in progress; the stream is read further only
// when one is answered (the client's writes then wait in HTTP/2 flow control). The stream is
// finished when the client has closed its side and every answer is written.
class GrpcServer::Impl::StreamCall final
    : public grpc::ServerBidiReactor<pb::ModelInferRequest, pb::ModelStreamInferResponse> {
 public:
  explicit StreamCall(Impl& front) : front_(front) {}

  void start() {
    std::lock_guard lock(mutex_);
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mutex_);
    reading_ = false;
    if (!ok) {
      read_closed_ = true;
      maybe_finish(lock);
      return;
    }
    ++outstanding_;
    auto request = std::make_shared<pb::ModelInferRequest>(std::move(request_));
    read_more(lock);
    lock.unlock();
    begin(std::move(request));
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mutex_);
    writes_.pop_front();
    --outstanding_;
    writing_ = false;
    if (!ok) cancelled_ = true;  // the client is gone: nothing more can be written
    if (cancelled_) {
      outstanding_ -= static_cast<std::uint32_t>(writes_.size());
      writes_.clear();
    } else if (!writes_.empty()) {
      writing_ = true;
      StartWrite(&writes_.front());
    }
    read_more(lock);
    maybe_finish(lock);
  }

  void OnCancel() override {
    std::vector<std::shared_ptr<CallState>> pending;
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      pending.assign(pending_.begin(), pending_.end());
    }
    for (const auto& state : pending) withdraw(*state, front_.scheduler_);
    std::unique_lock lock(mutex_);
    maybe_finish(lock);
  }

  void OnDone() override { delete this; }

 private:
  // One request read from the stream, on its way to an answer.
  struct Item {
    std::shared_ptr<pb::ModelInferRequest> request;
    Clock::time_point arrival;
    Clock::time_point deadline;
    ModelId model = kNoModel;
    std::shared_ptr<Charge> charge;
    std::shared_ptr<GrpcInferRequest> parsed;
    std::shared_ptr<CallState> state;
    std::optional<Clock::time_point> gated_from;  // first found the activity gate closed
    // The model held while the gate was closed, until the request is answered.
    std::shared_ptr<ModelHold> hold;
  };

  // Reads the next request while fewer than max_stream_inflight are in progress.
  void read_more(std::unique_lock<std::mutex>&) {
    if (reading_ || read_closed_ || cancelled_) return;
    if (outstanding_ >= front_.options_.max_stream_inflight) return;
    reading_ = true;
    StartRead(&request_);
  }

  void begin(std::shared_ptr<pb::ModelInferRequest> request) {
    Item item;
    item.request = std::move(request);
    item.arrival = Clock::now();
    item.deadline = item.arrival + to_duration(front_.options_.request_timeout_s);
    serve::Service& service = front_.service_;
    Problem problem;
    const auto id =
        service.find(item.request->model_name(), item.request->model_version(), problem);
    if (!id) return reply_error(item.request->id(), problem.message);
    item.model = *id;
    if (service.draining()) return reply_error(item.request->id(), "server is shutting down");
    item.charge = std::make_shared<Charge>(service.budget());
    if (!item.charge->add(item.request->ByteSizeLong() + grpc_request_bytes(*item.request))) {
      return reply_error(item.request->id(),
                         "the server's in-flight memory ceiling is reached; retry later");
    }
    parse_and_submit(std::move(item));
  }

  // As for ModelInfer: the copy waits, on the timers, while a first load is measured.
  void parse_and_submit(Item item) {
    ActivityGate& gate = front_.scheduler_.activity_gate();
    if (!gate.try_enter()) {
      bool cancelled = false;
      {
        std::lock_guard lock(mutex_);
        cancelled = cancelled_;
      }
      if (cancelled || Clock::now() >= item.deadline) {
        return reply_error(item.request->id(), "request timed out before it was queued");
      }
      if (!item.gated_from) {
        item.gated_from = Clock::now();
        auto hold = std::make_shared<ModelHold>(front_.scheduler_);
        if (hold->take(item.model)) item.hold = std::move(hold);
      }
      front_.timers_.add(Clock::now() + std::chrono::milliseconds(2),
                         [this, item]() mutable { parse_and_submit(std::move(item)); });
      return;
    }
    const Clock::duration gated =
        item.gated_from ? Clock::now() - *item.gated_from : Clock::duration{};
    item.parsed = std::make_shared<GrpcInferRequest>();
    try {
      *item.parsed = parse_grpc_infer_request(*item.request, front_.infer_limits_);
    } catch (const UsageError& e) {
      gate.leave();
      return reply_error(item.request->id(), e.what());
    }
    gate.leave();
    const double parse_s = seconds_since(item.arrival);
    const std::string id = item.request->id();
    item.request.reset();  // the tensors hold the data now
    item.state = std::make_shared<CallState>();
    {
      std::lock_guard lock(mutex_);
      pending_.insert(item.state);
    }
    Scheduler& scheduler = front_.scheduler_;
    auto state = item.state;
    state->timer =
        front_.timers_.add(item.deadline, [state, &scheduler] { withdraw(*state, scheduler); });
    const RequestTicket ticket = scheduler.submit(
        item.model, std::move(item.parsed->inputs), item.deadline, item.parsed->oracle,
        [this, item, id, parse_s](InferOutcome outcome) {
          answer(item, id, parse_s, std::move(outcome));
        },
        item.hold ? item.hold->arrival() : std::nullopt, gated);
    bool cancel = false;
    {
      std::lock_guard lock(state->mutex);
      state->ticket = ticket;
      cancel = state->cancel_requested;
    }
    if (cancel && ticket) scheduler.cancel(ticket);
  }

  void answer(const Item& item, const std::string& id, double parse_s, InferOutcome outcome) {
    front_.timers_.remove(*item.state->timer);
    {
      std::lock_guard lock(mutex_);
      pending_.erase(item.state);
    }
    const double total_s = seconds_since(item.arrival);
    front_.service_.record(item.model, outcome, total_s);
    if (outcome.status != Status::kOk) return reply_error(id, outcome.error);
    pb::ModelStreamInferResponse answer;
    try {
      const ServedModel& served = front_.scheduler_.model(item.model);
      if (!item.charge->add(grpc_response_bytes(served.name, id, *item.parsed, outcome.outputs))) {
        return reply_error(id, "the server's in-flight memory ceiling is reached; retry later");
      }
      const AnswerFigures figures = figures_of(outcome, parse_s);
      encode_grpc_infer_response(served.name, served.version, id, *item.parsed, outcome.outputs,
                                 figures, *answer.mutable_infer_response());
    } catch (const UsageError& e) {
      return reply_error(id, e.what());
    }
    front_.service_.metrics().observe_request(item.model, total_s);
    // The answer waits in writes_ until sent: at most max_stream_inflight answers per stream.
    write(std::move(answer));
  }

  void reply_error(const std::string& id, const std::string& message) {
    pb::ModelStreamInferResponse answer;
    answer.set_error_message(message);
    answer.mutable_infer_response()->set_id(id);
    write(std::move(answer));
  }

  void write(pb::ModelStreamInferResponse answer) {
    std::unique_lock lock(mutex_);
    if (cancelled_) {
      --outstanding_;
      maybe_finish(lock);
      return;
    }
    writes_.push_back(std::move(answer));
    if (!writing_) {
      writing_ = true;
      StartWrite(&writes_.front());
    }
  }

  // Finishes once nothing is read, written or in progress any more.
  void maybe_finish(std::unique_lock<std::mutex>& lock) {
    if (finished_ || reading_ || writing_ || outstanding_ > 0) return;
    if (!read_closed_ && !cancelled_) return;
    finished_ = true;
    const grpc::Status status = cancelled_
                                    ? grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled")
                                    : grpc::Status::OK;
    lock.unlock();
    front_.service_.metrics().count_grpc_status(code_name(status.error_code()));
    Finish(status);
  }

  Impl& front_;
  pb::ModelInferRequest request_;  // read into; moved out once read
  std::mutex mutex_;
  bool reading_ = false, read_closed_ = false, writing_ = false, cancelled_ = false;
  bool finished_ = false;
  std::uint32_t outstanding_ = 0;  // read and not yet written (or dropped)
  std::deque<pb::ModelStreamInferResponse> writes_;
  std::set<std::shared_ptr<CallState>> pending_;  // submitted and not answered
};

grpc::ServerBidiReactor<pb::ModelInferRequest, pb::ModelStreamInferResponse>*
GrpcServer::Impl::ModelStreamInfer(grpc::CallbackServerContext* context) {
  (void)context;
  auto* call = new StreamCall(*this);
  call->start();
  return call;
}

GrpcServer::GrpcServer(serve::Service& service, GrpcOptions options, Logger& logger)
    : impl_(std::make_unique<Impl>(service, std::move(options), logger)) {}
GrpcServer::~GrpcServer() = default;
int GrpcServer::start() { return impl_->start(); }
void GrpcServer::shutdown(std::chrono::milliseconds grace) { impl_->shutdown(grace); }
int GrpcServer::port() const { return impl_->port(); }

}  // namespace brulee::serve
