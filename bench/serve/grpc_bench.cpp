// The gRPC front's benchmarks (docs/server.md, "Measured"; driven by bench/serve/grpc_vs_rest.sh).
//   floor  --port P: a minimal gRPC server (callback API, the same generated service) whose
//          ModelInfer answers a fixed reply of the given size without looking at the request:
//          the floor of a gRPC round trip on this machine.
//   client --target HOST:PORT --protocol grpc|rest --model M [--clients N] [--seconds S]
//          [--encoding raw|typed (gRPC) | json|binary (REST)]: N closed-loop clients (each its
//          own connection) send a request of zeros shaped like the model's first input (dynamic
//          dimensions 1) for S seconds; prints one JSON line: requests, rps, p50_us, p99_us.
// Nothing here asserts; the numbers go into the docs with the load average of the run.
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/proto/inference.grpc.pb.h"

namespace {

namespace pb = inference;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode, target, protocol = "grpc", model, encoding;
  int port = 0, clients = 1;
  double seconds = 5;
  std::size_t reply_bytes = 40;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc > 1) a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--target")
      a.target = value;
    else if (key == "--protocol")
      a.protocol = value;
    else if (key == "--model")
      a.model = value;
    else if (key == "--encoding")
      a.encoding = value;
    else if (key == "--port")
      a.port = std::stoi(value);
    else if (key == "--clients")
      a.clients = std::stoi(value);
    else if (key == "--seconds")
      a.seconds = std::stod(value);
    else if (key == "--reply-bytes")
      a.reply_bytes = std::stoul(value);
    else {
      std::fprintf(stderr, "unknown argument %s\n", key.c_str());
      std::exit(2);
    }
  }
  return a;
}

class FloorService final : public pb::GRPCInferenceService::CallbackService {
 public:
  explicit FloorService(std::size_t reply_bytes) {
    reply_.set_model_name("floor");
    auto* out = reply_.add_outputs();
    out->set_name("output");
    out->set_datatype("FP32");
    out->add_shape(static_cast<std::int64_t>(reply_bytes / 4));
    reply_.add_raw_output_contents(std::string(reply_bytes, '\0'));
  }
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const pb::ModelInferRequest*,
                                       pb::ModelInferResponse* response) override {
    *response = reply_;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  pb::ModelInferResponse reply_;
};

int run_floor(const Args& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  FloorService service(args.reply_bytes);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(args.port),
                           grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) return 1;
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  server->Shutdown();
  return 0;
}

// The first input of the model as the server describes it: name, datatype, shape.
struct InputSpec {
  std::string name, datatype;
  std::vector<std::int64_t> shape;
  std::size_t count = 1;
};

InputSpec describe(const Args& args) {
  InputSpec spec;
  json inputs;
  if (args.protocol == "grpc") {
    auto stub = pb::GRPCInferenceService::NewStub(
        grpc::CreateChannel(args.target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    pb::ModelMetadataRequest request;
    request.set_name(args.model);
    pb::ModelMetadataResponse response;
    const auto status = stub->ModelMetadata(&context, request, &response);
    if (!status.ok() || response.inputs_size() == 0) {
      // The floor server has no metadata: a 1x64 FP32 input.
      spec.name = "input";
      spec.datatype = "FP32";
      spec.shape = {1, 64};
      spec.count = 64;
      return spec;
    }
    spec.name = response.inputs(0).name();
    spec.datatype = response.inputs(0).datatype();
    for (auto d : response.inputs(0).shape()) spec.shape.push_back(std::max<std::int64_t>(d, 1));
  } else {
    const auto colon = args.target.rfind(':');
    httplib::Client client(args.target.substr(0, colon), std::stoi(args.target.substr(colon + 1)));
    auto res = client.Get(("/v2/models/" + args.model).c_str());
    if (!res || res->status != 200) {
      std::fprintf(stderr, "no metadata for %s\n", args.model.c_str());
      std::exit(1);
    }
    const json meta = json::parse(res->body);
    spec.name = meta["inputs"][0]["name"];
    spec.datatype = meta["inputs"][0]["datatype"];
    for (const auto& d : meta["inputs"][0]["shape"]) {
      spec.shape.push_back(std::max<std::int64_t>(d.get<std::int64_t>(), 1));
    }
  }
  for (auto d : spec.shape) spec.count *= static_cast<std::size_t>(d);
  return spec;
}

int run_client(const Args& args) {
  const InputSpec spec = describe(args);
  // Requests of zeros (FP32 inputs; the models benchmarked take FP32).
  pb::ModelInferRequest grpc_request;
  grpc_request.set_model_name(args.model);
  auto* input = grpc_request.add_inputs();
  input->set_name(spec.name);
  input->set_datatype(spec.datatype);
  for (auto d : spec.shape) input->add_shape(d);
  if (args.encoding == "typed") {
    input->mutable_contents()->mutable_fp32_contents()->Resize(static_cast<int>(spec.count), 0.0f);
  } else {
    grpc_request.add_raw_input_contents(std::string(spec.count * 4, '\0'));
  }
  std::string rest_body;
  httplib::Headers rest_headers;
  std::string content_type = "application/json";
  if (args.encoding == "binary") {
    const std::string header = json{{"inputs",
                                     {{{"name", spec.name},
                                       {"shape", spec.shape},
                                       {"datatype", spec.datatype},
                                       {"parameters", {{"binary_data_size", spec.count * 4}}}}}},
                                    {"parameters", {{"binary_data_output", true}}}}
                                   .dump();
    rest_body = header + std::string(spec.count * 4, '\0');
    rest_headers.emplace("Inference-Header-Content-Length", std::to_string(header.size()));
    content_type = "application/octet-stream";
  } else {
    rest_body = json{{"inputs",
                      {{{"name", spec.name},
                        {"shape", spec.shape},
                        {"datatype", spec.datatype},
                        {"data", std::vector<int>(spec.count, 0)}}}}}
                    .dump();
  }
  const std::string path = "/v2/models/" + args.model + "/infer";

  std::atomic<bool> go{false}, stop{false};
  std::atomic<long> failures{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(args.clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < args.clients; ++c) {
    threads.emplace_back([&, c] {
      auto& mine = latencies[static_cast<std::size_t>(c)];
      if (args.protocol == "grpc") {
        grpc::ChannelArguments channel_args;
        channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection each
        channel_args.SetMaxReceiveMessageSize(-1);
        auto stub = pb::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
            args.target, grpc::InsecureChannelCredentials(), channel_args));
        pb::ModelInferResponse response;
        {
          grpc::ClientContext warm;
          stub->ModelInfer(&warm, grpc_request, &response);
        }
        while (!go) std::this_thread::yield();
        while (!stop) {
          grpc::ClientContext context;
          const auto start = Clock::now();
          const auto status = stub->ModelInfer(&context, grpc_request, &response);
          const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          if (status.ok()) {
            mine.push_back(us);
          } else {
            ++failures;
          }
        }
      } else {
        const auto colon = args.target.rfind(':');
        httplib::Client client(args.target.substr(0, colon),
                               std::stoi(args.target.substr(colon + 1)));
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);
        client.Post(path.c_str(), rest_headers, rest_body, content_type.c_str());
        while (!go) std::this_thread::yield();
        while (!stop) {
          const auto start = Clock::now();
          auto res = client.Post(path.c_str(), rest_headers, rest_body, content_type.c_str());
          const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          if (res && res->status == 200) {
            mine.push_back(us);
          } else {
            ++failures;
          }
        }
      }
    });
  }
  go = true;
  const auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(args.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  std::printf(
      "{\"protocol\":\"%s\",\"encoding\":\"%s\",\"clients\":%d,\"requests\":%zu,\"failures\":%ld,"
      "\"rps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
      args.protocol.c_str(), args.encoding.c_str(), args.clients, all.size(), failures.load(),
      static_cast<double>(all.size()) / elapsed, pct(0.5), pct(0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.mode == "floor") return run_floor(args);
  if (args.mode == "client" && !args.target.empty()) return run_client(args);
  std::fprintf(stderr,
               "usage: grpc_bench floor [--port P] [--reply-bytes N]\n"
               "       grpc_bench client --target HOST:PORT --protocol grpc|rest --model M "
               "[--clients N] [--seconds S] [--encoding raw|typed|json|binary]\n");
  return 2;
}
