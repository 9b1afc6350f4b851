// The gRPC front (inference.GRPCInferenceService) against a real server on 127.0.0.1: every RPC,
// status codes, limits, deadlines and streams, with a client built from brulee's own .proto.
// The REST front runs beside it on the same Service, so answers are compared across protocols.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/units.hpp"
#include "harness.hpp"
#include "replay/replay.hpp"
#include "serve/grpc_server.hpp"
#include "serve/proto/inference.grpc.pb.h"
#include "workload/trace.hpp"

namespace brulee::serve::testing {
namespace {

namespace pb = inference;
using Stub = pb::GRPCInferenceService::Stub;
constexpr std::uint64_t kMiB = 1 << 20;

// REST and gRPC on one Service and scheduler around the fake runtime.
struct GrpcHarness {
  Harness h;
  std::unique_ptr<GrpcServer> grpc;
  int grpc_port = 0;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Stub> stub;

  GrpcHarness(std::vector<ServedModel> models, SchedulerOptions scheduler_options,
              GrpcOptions grpc_options = {}, std::uint64_t max_inflight_bytes = 512 * kMiB)
      : h(std::move(models), scheduler_options, {}, max_inflight_bytes) {
    grpc_options.host = "127.0.0.1";
    grpc_options.port = 0;
    grpc = std::make_unique<GrpcServer>(*h.service, grpc_options, h.logger);
    grpc_port = grpc->start();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc_port),
                                        grpc::InsecureChannelCredentials(), args);
    stub = pb::GRPCInferenceService::NewStub(channel);
  }
  ~GrpcHarness() {
    h.loader.load_gate.open();
    h.loader.exec_gate.open();
    h.http->shutdown(std::chrono::seconds(5));
    grpc->shutdown(std::chrono::seconds(1));
  }
  bool live() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::ServerLiveRequest request;
    pb::ServerLiveResponse response;
    return stub->ServerLive(&context, request, &response).ok() && response.live();
  }
};

std::unique_ptr<grpc::ClientContext> context_with(
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

pb::ModelInferRequest typed_request(const std::string& model, const std::vector<float>& values) {
  pb::ModelInferRequest request;
  request.set_model_name(model);
  request.set_id("req-1");
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(static_cast<std::int64_t>(values.size()));
  for (float v : values) input->mutable_contents()->add_fp32_contents(v);
  return request;
}

pb::ModelInferRequest raw_request(const std::string& model, const std::vector<float>& values) {
  pb::ModelInferRequest request;
  request.set_model_name(model);
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(static_cast<std::int64_t>(values.size()));
  request.add_raw_input_contents(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return request;
}

grpc::Status infer(GrpcHarness& g, const pb::ModelInferRequest& request,
                   pb::ModelInferResponse* response = nullptr,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  pb::ModelInferResponse ignored;
  auto context = context_with(timeout);
  return g.stub->ModelInfer(context.get(), request, response ? response : &ignored);
}

std::vector<float> floats_of(const std::string& bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

// The values whose bit patterns matter: signed zero, denormals, extremes, non-terminating
// fractions.
const std::vector<float> kValues = {0.1f, -0.0f, 1e-40f, 3.4e38f / 2, -7.25f, 1.0f / 3.0f};

TEST(Grpc, HealthAndServerMetadata) {
  GrpcHarness g(fake_models(2, kMiB), options_with(4 * kMiB));
  EXPECT_TRUE(g.live());
  pb::ServerReadyResponse ready;
  ASSERT_TRUE(g.stub->ServerReady(context_with().get(), {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  pb::ServerMetadataResponse metadata;
  ASSERT_TRUE(g.stub->ServerMetadata(context_with().get(), {}, &metadata).ok());
  EXPECT_EQ(metadata.name(), "brulee");
  EXPECT_FALSE(metadata.version().empty());
  EXPECT_NE(
      std::find(metadata.extensions().begin(), metadata.extensions().end(), "model_repository"),
      metadata.extensions().end());
}

TEST(Grpc, ModelReadyMetadataAndConfig) {
  GrpcHarness g(fake_models(2, kMiB), options_with(4 * kMiB));
  pb::ModelReadyRequest ready_request;
  ready_request.set_name("m0");
  pb::ModelReadyResponse ready;
  ASSERT_TRUE(g.stub->ModelReady(context_with().get(), ready_request, &ready).ok());
  EXPECT_TRUE(ready.ready());  // servable: its first request loads it
  ready_request.set_name("nope");
  EXPECT_EQ(g.stub->ModelReady(context_with().get(), ready_request, &ready).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ready_request.set_name("m0");
  ready_request.set_version("7");
  EXPECT_EQ(g.stub->ModelReady(context_with().get(), ready_request, &ready).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Metadata of a model never loaded: it is loaded first, as over REST.
  pb::ModelMetadataRequest metadata_request;
  metadata_request.set_name("m1");
  pb::ModelMetadataResponse metadata;
  const grpc::Status metadata_status =
      g.stub->ModelMetadata(context_with().get(), metadata_request, &metadata);
  ASSERT_TRUE(metadata_status.ok()) << metadata_status.error_message();
  EXPECT_EQ(metadata.name(), "m1");
  ASSERT_EQ(metadata.inputs_size(), 1);
  EXPECT_EQ(metadata.inputs(0).name(), "x");
  EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
  ASSERT_EQ(metadata.inputs(0).shape_size(), 1);
  EXPECT_EQ(metadata.inputs(0).shape(0), -1);
  ASSERT_EQ(metadata.outputs_size(), 1);
  EXPECT_EQ(metadata.outputs(0).name(), "y");
  const json rest = json::parse(g.h.client()->Get("/v2/models/m1")->body);
  EXPECT_EQ(metadata.platform(), rest["platform"].get<std::string>());

  pb::ModelConfigRequest config_request;
  config_request.set_name("m1");
  pb::ModelConfigResponse config;
  ASSERT_TRUE(g.stub->ModelConfig(context_with().get(), config_request, &config).ok());
  const json rest_config = json::parse(g.h.client()->Get("/v2/models/m1/config")->body);
  EXPECT_EQ(config.config().name(), "m1");
  EXPECT_EQ(config.config().platform(), rest_config["platform"].get<std::string>());
  EXPECT_EQ(config.config().backend(), rest_config["backend"].get<std::string>());
  ASSERT_EQ(config.config().input_size(), 1);
  EXPECT_EQ(config.config().input(0).data_type(), pb::TYPE_FP32);
  EXPECT_EQ(pb::DataType_Name(config.config().input(0).data_type()),
            rest_config["input"][0]["data_type"].get<std::string>());
  EXPECT_EQ(config.config().instance_group(0).kind(), pb::ModelInstanceGroup::KIND_CPU);
  config_request.set_name("nope");
  EXPECT_EQ(g.stub->ModelConfig(context_with().get(), config_request, &config).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(Grpc, TypedAndRawTensorsAgreeWithRestBitForBit) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  pb::ModelInferResponse typed, raw;
  ASSERT_TRUE(infer(g, typed_request("m0", kValues), &typed).ok());
  ASSERT_TRUE(infer(g, raw_request("m0", kValues), &raw).ok());
  EXPECT_EQ(typed.model_name(), "m0");
  EXPECT_EQ(typed.id(), "req-1");
  ASSERT_EQ(typed.outputs_size(), 1);
  EXPECT_EQ(typed.outputs(0).name(), "y");
  EXPECT_EQ(typed.outputs(0).datatype(), "FP32");
  ASSERT_EQ(typed.outputs(0).shape_size(), 1);
  EXPECT_EQ(typed.outputs(0).shape(0), static_cast<std::int64_t>(kValues.size()));
  ASSERT_EQ(typed.raw_output_contents_size(), 1);
  ASSERT_EQ(raw.raw_output_contents_size(), 1);
  EXPECT_EQ(typed.raw_output_contents(0), raw.raw_output_contents(0));
  // What the model computes, bit for bit.
  std::vector<float> expected;
  for (float v : kValues) expected.push_back(v * 2.0f);
  const std::vector<float> got = floats_of(raw.raw_output_contents(0));
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0);
  // REST JSON: the numbers read back to the same floats.
  auto res = g.h.client()->Post("/v2/models/m0/infer", infer_body(kValues), "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  const json rest = json::parse(res->body);
  std::vector<float> rest_values;
  for (const auto& v : rest["outputs"][0]["data"]) rest_values.push_back(v.get<float>());
  ASSERT_EQ(rest_values.size(), got.size());
  EXPECT_EQ(std::memcmp(rest_values.data(), got.data(), got.size() * sizeof(float)), 0);
  // REST binary extension: the same bytes.
  const std::string header =
      json{{"inputs",
            {{{"name", "x"},
              {"shape", {kValues.size()}},
              {"datatype", "FP32"},
              {"parameters", {{"binary_data_size", kValues.size() * sizeof(float)}}}}}},
           {"parameters", {{"binary_data_output", true}}}}
          .dump();
  const std::string body = header + std::string(reinterpret_cast<const char*>(kValues.data()),
                                                kValues.size() * sizeof(float));
  httplib::Headers headers{{"Inference-Header-Content-Length", std::to_string(header.size())}};
  auto binary =
      g.h.client()->Post("/v2/models/m0/infer", headers, body, "application/octet-stream");
  ASSERT_EQ(binary->status, 200) << binary->body;
  const std::size_t json_bytes =
      std::stoul(binary->get_header_value("Inference-Header-Content-Length"));
  EXPECT_EQ(binary->body.substr(json_bytes), raw.raw_output_contents(0));
  // brulee's timeline figures ride in the answer's parameters, as over REST.
  ASSERT_TRUE(raw.parameters().contains("hit"));
  EXPECT_TRUE(raw.parameters().at("hit").bool_param());
  EXPECT_TRUE(raw.parameters().contains("exec_s"));
}

TEST(Grpc, OtherDatatypesAndRequestedOutputs) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  // The fake model takes FP32 only: an INT8 input reaches it and is refused by the model.
  pb::ModelInferRequest request;
  request.set_model_name("m0");
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("INT8");
  input->add_shape(2);
  input->mutable_contents()->add_int_contents(1);
  input->mutable_contents()->add_int_contents(300);  // out of range for INT8
  grpc::Status status = infer(g, request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("out of range"), std::string::npos)
      << status.error_message();
  // A requested output that exists, and one that does not.
  auto ok = typed_request("m0", {1, 2});
  ok.add_outputs()->set_name("y");
  pb::ModelInferResponse response;
  ASSERT_TRUE(infer(g, ok, &response).ok());
  EXPECT_EQ(response.outputs(0).name(), "y");
  auto missing = typed_request("m0", {1, 2});
  missing.add_outputs()->set_name("z");
  EXPECT_EQ(infer(g, missing).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(Grpc, BadTensorsAreRefusedWithInvalidArgument) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  struct Case {
    const char* name;
    std::function<void(pb::ModelInferRequest&)> spoil;
  };
  const std::vector<Case> cases = {
      {"raw size disagrees with shape",
       [](auto& r) { r.mutable_raw_input_contents(0)->append("abc"); }},
      {"raw shorter than shape", [](auto& r) { r.mutable_inputs(0)->set_shape(0, 1000); }},
      {"huge declared shape",
       [](auto& r) {
         r.mutable_inputs(0)->set_shape(0, 1ll << 40);
         r.mutable_inputs(0)->add_shape(1ll << 40);
       }},
      {"negative dimension", [](auto& r) { r.mutable_inputs(0)->set_shape(0, -3); }},
      {"unknown datatype", [](auto& r) { r.mutable_inputs(0)->set_datatype("FP99"); }},
      {"BYTES unsupported", [](auto& r) { r.mutable_inputs(0)->set_datatype("BYTES"); }},
      {"two raw entries for one input", [](auto& r) { r.add_raw_input_contents("x"); }},
      {"typed and raw at once",
       [](auto& r) { r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1); }},
      {"duplicate input names",
       [](auto& r) {
         *r.add_inputs() = r.inputs(0);
         r.add_raw_input_contents(r.raw_input_contents(0));
       }},
      {"no inputs",
       [](auto& r) {
         r.clear_inputs();
         r.clear_raw_input_contents();
       }},
      {"unnamed input", [](auto& r) { r.mutable_inputs(0)->set_name(""); }},
      {"rank above 32",
       [](auto& r) {
         for (int i = 0; i < 40; ++i) r.mutable_inputs(0)->add_shape(1);
       }},
      {"malformed request_index",
       [](auto& r) { (*r.mutable_parameters())["request_index"].set_string_param("3"); }},
      {"request time not a number",
       [](auto& r) {
         (*r.mutable_parameters())["request_index"].set_int64_param(1);
         (*r.mutable_parameters())["request_time_s"].set_string_param("soon");
       }},
      {"negative request time",
       [](auto& r) {
         (*r.mutable_parameters())["request_index"].set_int64_param(1);
         (*r.mutable_parameters())["request_time_s"].set_double_param(-1.0);
       }},
      {"request time past 1e12 s",
       [](auto& r) {
         (*r.mutable_parameters())["request_index"].set_int64_param(1);
         (*r.mutable_parameters())["request_time_s"].set_double_param(1e300);
       }},
      {"request time without an index",
       [](auto& r) { (*r.mutable_parameters())["request_time_s"].set_double_param(1.0); }},
      {"next before current",
       [](auto& r) {
         (*r.mutable_parameters())["request_index"].set_int64_param(5);
         (*r.mutable_parameters())["next_request_index"].set_int64_param(2);
       }},
  };
  for (const auto& c : cases) {
    auto request = raw_request("m0", {1, 2, 3});
    c.spoil(request);
    const grpc::Status status = infer(g, request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name << ": " << status.error_message();
  }
  // Typed contents in the wrong field, or a count that disagrees with the shape.
  auto wrong_field = typed_request("m0", {1, 2});
  wrong_field.mutable_inputs(0)->mutable_contents()->clear_fp32_contents();
  wrong_field.mutable_inputs(0)->mutable_contents()->add_int64_contents(1);
  wrong_field.mutable_inputs(0)->mutable_contents()->add_int64_contents(2);
  EXPECT_EQ(infer(g, wrong_field).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto short_typed = typed_request("m0", {1, 2});
  short_typed.mutable_inputs(0)->set_shape(0, 3);
  EXPECT_EQ(infer(g, short_typed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto unknown = typed_request("nope", {1});
  EXPECT_EQ(infer(g, unknown).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(g.live());
  EXPECT_TRUE(g.h.alive());
}

TEST(Grpc, MalformedProtobufIsRefusedAndTheServerStaysUp) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  grpc::GenericStub generic(g.channel);
  for (const std::string& bytes :
       {std::string("\xff\xff\xff\xff\xff", 5), std::string("\x2a\x80\x80\x80\x80\x10", 6),
        std::string(1000, '\x0a')}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, "/inference.GRPCInferenceService/ModelInfer", {}, &request,
                      &response, [&](grpc::Status status) { done.set_value(status); });
    const grpc::Status status = done.get_future().get();
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_TRUE(g.live());
  EXPECT_TRUE(infer(g, typed_request("m0", {1})).ok());
}

TEST(Grpc, OversizedMessagesAndTheInflightCeilingGiveResourceExhausted) {
  GrpcOptions options;
  options.max_message_bytes = 256 << 10;
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB), options, 1 * kMiB);
  const std::vector<float> big(100000, 1.0f);  // 400 KB: above the message limit
  EXPECT_EQ(infer(g, raw_request("m0", big)).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(g.live());
  EXPECT_TRUE(infer(g, raw_request("m0", {1, 2})).ok());
}

TEST(Grpc, InflightCeilingGivesResourceExhausted) {
  GrpcOptions options;
  options.max_message_bytes = 4 * kMiB;
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB), options, 1 * kMiB);
  const std::vector<float> big(300000, 1.0f);  // 1.2 MB of tensor: above the 1 MiB ceiling
  const grpc::Status status = infer(g, raw_request("m0", big));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  for (int i = 0; i < 500 && g.h.service->budget().used() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(g.h.service->budget().used(), 0u);
  EXPECT_TRUE(infer(g, raw_request("m0", {1, 2})).ok());
}

TEST(Grpc, AClientDeadlineCancelsAQueuedRequest) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  g.h.loader.load_gate.close();  // the load never ends while the request waits
  const auto status = infer(g, typed_request("m0", {1}), nullptr, std::chrono::milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The request left its queue: nothing waits on the model any more.
  for (int i = 0; i < 200 && g.h.model_entry("m0")["queue_depth"] != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(g.h.model_entry("m0")["queue_depth"], 0);
  const json entry = g.h.model_entry("m0");
  EXPECT_EQ(entry["cancelled"].get<int>() + entry["timeouts"].get<int>(), 1) << entry.dump();
  g.h.loader.load_gate.open();
  EXPECT_TRUE(infer(g, typed_request("m0", {1})).ok());
}

// As a REST request's (ServeScheduler.ARequestWaitingAtTheGateHoldsItsModel): a call, or a
// stream's request, that waits to be copied while another model's first load is measured holds
// its model, so a load admitted meanwhile evicts another model.
void a_request_waiting_at_the_gate_holds_its_model(bool stream) {
  GrpcHarness g(fake_models(4, 3 * kMiB), options_with(9 * kMiB, "lru"));
  ASSERT_TRUE(infer(g, typed_request("m0", {1})).ok());
  ASSERT_TRUE(infer(g, typed_request("m2", {1})).ok());
  g.h.loader.load_gate.close();  // m1's first load holds the activity gate
  auto loading =
      std::async(std::launch::async, [&g] { return infer(g, typed_request("m1", {2})).ok(); });
  g.h.loader.load_gate.await_waiters(1);
  // m0's request, answered with whether it was a hit.
  auto waiting = std::async(std::launch::async, [&g, stream]() -> std::optional<bool> {
    pb::ModelInferResponse response;
    if (stream) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      auto calls = g.stub->ModelStreamInfer(&context);
      if (!calls->Write(typed_request("m0", {3}))) return std::nullopt;
      calls->WritesDone();
      pb::ModelStreamInferResponse answer;
      if (!calls->Read(&answer) || !answer.error_message().empty()) return std::nullopt;
      response = answer.infer_response();
      if (!calls->Finish().ok()) return std::nullopt;
    } else if (!infer(g, typed_request("m0", {3}), &response).ok()) {
      return std::nullopt;
    }
    if (!response.parameters().contains("hit")) return std::nullopt;
    return response.parameters().at("hit").bool_param();
  });
  int pins = 0;
  for (int tries = 0; tries < 400 && pins == 0; ++tries) {
    pins = g.h.model_entry("m0")["pins"].get<int>();
    if (pins == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(pins, 1) << "the waiting request does not hold its model";
  auto explicit_load = std::async(std::launch::async, [&g] {
    auto res = g.h.client()->Post("/v2/repository/models/m3/load", "", "application/json");
    return res ? res->status : -1;
  });
  for (int tries = 0; tries < 400 && g.h.model_entry("m3")["state"] == "absent"; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(g.h.model_entry("m2")["resident"].get<bool>());
  EXPECT_TRUE(g.h.model_entry("m0")["resident"].get<bool>());
  g.h.loader.load_gate.open();
  EXPECT_TRUE(loading.get());
  EXPECT_EQ(explicit_load.get(), 200);
  EXPECT_EQ(waiting.get(), std::optional<bool>(true));
  EXPECT_EQ(g.h.loader.loads("m0"), 1);
  // The hold is given back with its request, once it is answered.
  for (int tries = 0; tries < 400 && g.h.model_entry("m0")["held"] != 0; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(g.h.model_entry("m0")["held"], 0);
  EXPECT_EQ(g.h.model_entry("m0")["pins"], 0);
}

TEST(Grpc, ACallWaitingAtTheGateHoldsItsModel) {
  a_request_waiting_at_the_gate_holds_its_model(false);
}

TEST(Grpc, AStreamRequestWaitingAtTheGateHoldsItsModel) {
  a_request_waiting_at_the_gate_holds_its_model(true);
}

TEST(Grpc, TheServerRequestTimeoutHoldsWithoutAClientDeadline) {
  GrpcOptions options;
  options.request_timeout_s = 0.3;
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB), options);
  g.h.loader.load_gate.close();
  const auto start = std::chrono::steady_clock::now();
  pb::ModelInferResponse response;
  grpc::ClientContext context;  // no deadline
  const grpc::Status status = g.stub->ModelInfer(&context, typed_request("m0", {1}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  g.h.loader.load_gate.open();
}

TEST(Grpc, AClientCancellationWithdrawsTheRequest) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  g.h.loader.load_gate.close();
  grpc::ClientContext context;
  pb::ModelInferResponse response;
  std::promise<grpc::Status> done;
  const pb::ModelInferRequest request = typed_request("m0", {1});
  g.stub->async()->ModelInfer(&context, &request, &response,
                              [&](grpc::Status s) { done.set_value(s); });
  for (int i = 0; i < 500 && g.h.model_entry("m0")["queue_depth"] != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  context.TryCancel();
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && g.h.model_entry("m0")["cancelled"] != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(g.h.model_entry("m0")["cancelled"], 1);
  EXPECT_EQ(g.h.model_entry("m0")["queue_depth"], 0);
}

TEST(Grpc, AFullQueueGivesUnavailable) {
  auto scheduler_options = options_with(4 * kMiB);
  scheduler_options.max_queue_per_model = 1;
  scheduler_options.exec_threads = 1;
  GrpcHarness g(fake_models(1, kMiB), scheduler_options);
  ASSERT_TRUE(infer(g, typed_request("m0", {1})).ok());  // resident from now on
  g.h.loader.exec_gate.close();
  const pb::ModelInferRequest request = typed_request("m0", {1});
  grpc::ClientContext executing_context, queued_context;
  pb::ModelInferResponse executing_response, queued_response;
  std::promise<grpc::Status> executing, queued;
  g.stub->async()->ModelInfer(&executing_context, &request, &executing_response,
                              [&](grpc::Status s) { executing.set_value(s); });
  g.h.loader.exec_gate.await_waiters(1);
  g.stub->async()->ModelInfer(&queued_context, &request, &queued_response,
                              [&](grpc::Status s) { queued.set_value(s); });
  for (int i = 0; i < 500 && g.h.model_entry("m0")["queue_depth"] != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const grpc::Status refused = infer(g, typed_request("m0", {1}));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  g.h.loader.exec_gate.open();
  EXPECT_TRUE(executing.get_future().get().ok());
  EXPECT_TRUE(queued.get_future().get().ok());
}

TEST(Grpc, RepositoryIndexLoadAndUnload) {
  GrpcHarness g(fake_models(2, kMiB), options_with(4 * kMiB));
  pb::RepositoryModelLoadRequest load;
  load.set_model_name("m1");
  pb::RepositoryModelLoadResponse loaded;
  ASSERT_TRUE(g.stub->RepositoryModelLoad(context_with().get(), load, &loaded).ok());
  pb::RepositoryIndexRequest index_request;
  pb::RepositoryIndexResponse index;
  ASSERT_TRUE(g.stub->RepositoryIndex(context_with().get(), index_request, &index).ok());
  ASSERT_EQ(index.models_size(), 2);
  const json rest =
      json::parse(g.h.client()->Post("/v2/repository/index", "", "application/json")->body);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(index.models(i).name(), rest[i]["name"].get<std::string>());
    EXPECT_EQ(index.models(i).state(), rest[i]["state"].get<std::string>());
    EXPECT_EQ(index.models(i).reason(), rest[i]["reason"].get<std::string>());
  }
  index_request.set_ready(true);
  ASSERT_TRUE(g.stub->RepositoryIndex(context_with().get(), index_request, &index).ok());
  ASSERT_EQ(index.models_size(), 1);
  EXPECT_EQ(index.models(0).name(), "m1");
  EXPECT_EQ(index.models(0).state(), "READY");

  pb::RepositoryModelUnloadRequest unload;
  unload.set_model_name("m1");
  pb::RepositoryModelUnloadResponse unloaded;
  ASSERT_TRUE(g.stub->RepositoryModelUnload(context_with().get(), unload, &unloaded).ok());
  EXPECT_EQ(g.h.model_entry("m1")["state"], "absent");
  load.set_model_name("nope");
  EXPECT_EQ(g.stub->RepositoryModelLoad(context_with().get(), load, &loaded).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // An unload refused while a request executes on the model: FAILED_PRECONDITION.
  g.h.loader.exec_gate.close();
  grpc::ClientContext context;
  pb::ModelInferRequest request = typed_request("m0", {1});
  pb::ModelInferResponse response;
  std::promise<grpc::Status> done;
  g.stub->async()->ModelInfer(&context, &request, &response,
                              [&](grpc::Status s) { done.set_value(s); });
  g.h.loader.exec_gate.await_waiters(1);
  unload.set_model_name("m0");
  EXPECT_EQ(g.stub->RepositoryModelUnload(context_with().get(), unload, &unloaded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  g.h.loader.exec_gate.open();
  EXPECT_TRUE(done.get_future().get().ok());
}

// An unload is done by a loader thread: while the drop holds, the call waits without holding a
// thread, other calls are answered, and it answers OK once the model is gone.
TEST(Grpc, UnloadAnswersWhenTheLoaderHasDroppedTheModel) {
  GrpcHarness g(fake_models(2, kMiB), options_with(4 * kMiB));
  ASSERT_TRUE(infer(g, typed_request("m0", {1})).ok());
  g.h.loader.unload_gate.close();
  grpc::ClientContext context;
  pb::RepositoryModelUnloadRequest unload;
  unload.set_model_name("m0");
  pb::RepositoryModelUnloadResponse unloaded;
  std::promise<grpc::Status> done;
  g.stub->async()->RepositoryModelUnload(&context, &unload, &unloaded,
                                         [&](grpc::Status s) { done.set_value(s); });
  g.h.loader.unload_gate.await_waiters(1);
  EXPECT_EQ(g.h.model_entry("m0")["state"], "unloading");
  auto answered = done.get_future();
  EXPECT_EQ(answered.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_TRUE(g.live());  // the server goes on answering
  g.h.loader.unload_gate.open();
  EXPECT_TRUE(answered.get().ok());
  EXPECT_EQ(g.h.model_entry("m0")["state"], "absent");
}

TEST(Grpc, StatisticsMatchTheRestEndpoint) {
  GrpcHarness g(fake_models(2, kMiB), options_with(4 * kMiB));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(infer(g, typed_request("m0", {1})).ok());
  pb::ModelStatisticsRequest request;
  request.set_name("m0");
  pb::ModelStatisticsResponse stats;
  ASSERT_TRUE(g.stub->ModelStatistics(context_with().get(), request, &stats).ok());
  ASSERT_EQ(stats.model_stats_size(), 1);
  const json rest = json::parse(g.h.client()->Get("/v2/models/m0/stats")->body)["model_stats"][0];
  const auto& s = stats.model_stats(0);
  EXPECT_EQ(s.inference_count(), 4u);
  EXPECT_EQ(s.inference_count(), rest["inference_count"].get<std::uint64_t>());
  EXPECT_EQ(s.inference_stats().success().ns(),
            rest["inference_stats"]["success"]["ns"].get<std::uint64_t>());
  EXPECT_EQ(s.inference_stats().cache_hit().count(),
            rest["inference_stats"]["cache_hit"]["count"].get<std::uint64_t>());
  EXPECT_EQ(s.inference_stats().cache_miss().count(), 1u);
  EXPECT_EQ(s.brulee().state(), rest["brulee"]["state"].get<std::string>());
  EXPECT_EQ(s.brulee().counters().at("loads"), rest["brulee"]["loads"].get<double>());
  request.clear_name();
  ASSERT_TRUE(g.stub->ModelStatistics(context_with().get(), request, &stats).ok());
  EXPECT_EQ(stats.model_stats_size(), 2);
  request.set_name("nope");
  EXPECT_EQ(g.stub->ModelStatistics(context_with().get(), request, &stats).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // gRPC answers are counted beside HTTP's in /metrics.
  const std::string metrics = g.h.client()->Get("/metrics")->body;
  EXPECT_NE(metrics.find("brulee_grpc_responses_total{code=\"OK\"}"), std::string::npos);
}

TEST(Grpc, StreamInferAnswersEveryRequestAndGoesOnAfterAnError) {
  GrpcOptions options;
  options.max_stream_inflight = 2;  // the stream is read in steps of two
  GrpcHarness g(fake_models(2, kMiB), options_with(4 * kMiB), options);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = g.stub->ModelStreamInfer(&context);
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    auto request = typed_request(i % 2 ? "m1" : "m0", {static_cast<float>(i)});
    request.set_id("s" + std::to_string(i));
    if (i == 7) request.set_model_name("nope");
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  pb::ModelStreamInferResponse answer;
  int answers = 0, errors = 0;
  std::set<std::string> ids;
  while (stream->Read(&answer)) {
    ++answers;
    ids.insert(answer.infer_response().id());
    if (!answer.error_message().empty()) {
      ++errors;
      EXPECT_EQ(answer.infer_response().id(), "s7");
      continue;
    }
    const int i = std::stoi(answer.infer_response().id().substr(1));
    EXPECT_EQ(floats_of(answer.infer_response().raw_output_contents(0)),
              std::vector<float>{2.0f * static_cast<float>(i)});
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answers, kRequests);
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kRequests));
}

TEST(Grpc, ManyCallsAtOnceAllComplete) {
  GrpcOptions options;
  options.max_concurrent_streams = 8;  // the rest wait in the client's HTTP/2 flow
  GrpcHarness g(fake_models(4, kMiB), options_with(4 * kMiB), options);
  constexpr int kCalls = 200;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<pb::ModelInferRequest> requests(kCalls);
  std::vector<pb::ModelInferResponse> responses(kCalls);
  std::vector<std::promise<grpc::Status>> done(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(context_with());
    requests[i] = raw_request("m" + std::to_string(i % 4), {static_cast<float>(i)});
    g.stub->async()->ModelInfer(contexts.back().get(), &requests[i], &responses[i],
                                [&done, i](grpc::Status s) { done[i].set_value(s); });
  }
  // Several streams on other connections at the same time.
  std::vector<std::thread> streams;
  std::atomic<int> stream_answers{0};
  for (int t = 0; t < 8; ++t) {
    streams.emplace_back([&, t] {
      auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(g.grpc_port),
                                         grpc::InsecureChannelCredentials());
      auto stub = pb::GRPCInferenceService::NewStub(channel);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      auto stream = stub->ModelStreamInfer(&context);
      for (int i = 0; i < 10; ++i) stream->Write(raw_request("m" + std::to_string(t % 4), {1}));
      stream->WritesDone();
      pb::ModelStreamInferResponse answer;
      while (stream->Read(&answer)) {
        if (answer.error_message().empty()) ++stream_answers;
      }
      stream->Finish();
    });
  }
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    const grpc::Status status = done[i].get_future().get();
    if (status.ok()) {
      ++ok;
      EXPECT_EQ(floats_of(responses[i].raw_output_contents(0)),
                std::vector<float>{2.0f * static_cast<float>(i)});
    }
  }
  for (auto& thread : streams) thread.join();
  EXPECT_EQ(ok, kCalls);
  EXPECT_EQ(stream_answers.load(), 80);
  EXPECT_TRUE(g.live());
  // A call's charge is given back when gRPC is done with it, just after the client has its
  // answer: every byte comes back within moments.
  for (int i = 0; i < 500 && g.h.service->budget().used() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(g.h.service->budget().used(), 0u);
}

TEST(Grpc, DrainingRefusesNewCallsWithUnavailable) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  g.h.service->begin_draining();
  EXPECT_EQ(infer(g, typed_request("m0", {1})).error_code(), grpc::StatusCode::UNAVAILABLE);
  pb::ServerReadyResponse ready;
  ASSERT_TRUE(g.stub->ServerReady(context_with().get(), {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
}

TEST(Grpc, OptionsAreValidatedAndASecondServerOnThePortFails) {
  GrpcHarness g(fake_models(1, kMiB), options_with(4 * kMiB));
  for (double bad : {std::nan(""), HUGE_VAL, 1e10, 0.0, -1.0}) {
    GrpcOptions options;
    options.request_timeout_s = bad;
    EXPECT_THROW(GrpcServer(*g.h.service, options, g.h.logger), UsageError) << bad;
  }
  GrpcOptions bad_host;
  bad_host.host = "999.1.1.1";
  EXPECT_THROW(GrpcServer(*g.h.service, bad_host, g.h.logger), UsageError);
  GrpcOptions tiny;
  tiny.max_message_bytes = 10;
  EXPECT_THROW(GrpcServer(*g.h.service, tiny, g.h.logger), UsageError);
  GrpcOptions same;
  same.host = "127.0.0.1";
  same.port = g.grpc_port;
  GrpcServer second(*g.h.service, same, g.h.logger);
  EXPECT_THROW(second.start(), std::runtime_error);
  EXPECT_TRUE(g.live());
}

// The replay drives either protocol: the same trace against the same server gives every
// request an answer and the server's timeline, and the same hits and misses.
TEST(Grpc, ReplayDrivesEitherProtocolAlike) {
  GrpcHarness g(fake_models(3, kMiB), options_with(2 * kMiB));  // room for two of three
  const auto path = std::filesystem::temp_directory_path() /
                    ("brulee_grpc_replay_" + std::to_string(::getpid()) + ".csv");
  {
    workload::TraceWriter writer(path.string(), workload::TraceFormat::kCsv, {"m0", "m1", "m2"});
    const int models[] = {0, 1, 0, 2, 1, 0, 0, 2, 1, 1, 0, 2};
    std::uint64_t id = 0;
    for (int m : models) {
      writer.write({id, 0.01 * static_cast<double>(id), static_cast<ModelId>(m)});
      ++id;
    }
    writer.close();
  }
  auto run = [&](const std::string& protocol, const std::string& url) {
    // The same starting point for both runs: nothing resident.
    for (const char* model : {"m0", "m1", "m2"}) {
      g.h.client()->Post(std::string("/v2/repository/models/") + model + "/unload", "",
                         "application/json");
    }
    replay::ReplayOptions options;
    options.protocol = protocol;
    options.url = url;
    options.trace_path = path.string();
    options.closed_loop = true;
    options.concurrency = 1;  // one at a time: the cache decisions follow the trace's order
    std::vector<replay::RequestResult> results;
    const replay::ReplaySummary summary = replay::run_replay(options, &results);
    EXPECT_EQ(summary.ok, 12u) << protocol;
    for (const auto& r : results) {
      EXPECT_EQ(r.status, 200) << protocol << " " << r.error;
      EXPECT_TRUE(r.timed) << protocol;
    }
    return summary;
  };
  const auto rest = run("http", "http://127.0.0.1:" + std::to_string(g.h.port));
  const auto grpc = run("grpc", "grpc://127.0.0.1:" + std::to_string(g.grpc_port));
  EXPECT_EQ(rest.hits, grpc.hits);
  EXPECT_EQ(rest.misses, grpc.misses);
  EXPECT_GT(grpc.misses, 3u);  // every model at least once, and an eviction
  replay::ReplayOptions bad;
  bad.protocol = "grpc";
  bad.url = "http://127.0.0.1:1";
  bad.trace_path = path.string();
  EXPECT_THROW(replay::run_replay(bad, nullptr), UsageError);
  bad.protocol = "carrier-pigeon";
  EXPECT_THROW(replay::run_replay(bad, nullptr), UsageError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace brulee::serve::testing
