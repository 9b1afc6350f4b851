// The server end to end over real sockets, with the fake runtime of fake_model.hpp.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <string>
#include <thread>

#include "harness.hpp"

namespace brulee::serve::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

TEST(ServeHttp, HealthAndServerMetadata) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  auto c = h.client();
  auto live = c->Get("/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  auto ready = c->Get("/v2/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto meta = c->Get("/v2");
  ASSERT_TRUE(meta);
  ASSERT_EQ(meta->status, 200);
  const json body = json::parse(meta->body);
  EXPECT_EQ(body["name"], "brulee");
  EXPECT_TRUE(body["version"].is_string());
  EXPECT_TRUE(body["extensions"].is_array());
  auto model_ready = c->Get("/v2/models/m1/ready");
  ASSERT_TRUE(model_ready);
  EXPECT_EQ(model_ready->status, 200);
  auto versioned = c->Get("/v2/models/m1/versions/1/ready");
  ASSERT_TRUE(versioned);
  EXPECT_EQ(versioned->status, 200);
  auto wrong_version = c->Get("/v2/models/m1/versions/7/ready");
  ASSERT_TRUE(wrong_version);
  EXPECT_EQ(wrong_version->status, 404);
}

TEST(ServeHttp, InferLoadsOnDemandAndAnswersKServeShape) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  EXPECT_EQ(h.model_entry("m0")["state"], "absent");
  auto c = h.client();
  json request = json::parse(infer_body({1.0f, 2.5f, -3.0f}));
  request["id"] = "req-7";
  auto res = c->Post("/v2/models/m0/infer", request.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  EXPECT_EQ(body["model_name"], "m0");
  EXPECT_EQ(body["model_version"], "1");
  EXPECT_EQ(body["id"], "req-7");
  EXPECT_EQ(body["parameters"]["hit"], false);  // brulee's own: what this request paid
  EXPECT_GE(body["parameters"]["load_s"].get<double>(), 0.0);
  ASSERT_EQ(body["outputs"].size(), 1u);
  EXPECT_EQ(body["outputs"][0]["name"], "y");
  EXPECT_EQ(body["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(body["outputs"][0]["shape"], json({3}));
  EXPECT_EQ(body["outputs"][0]["data"], json({2.0, 5.0, -6.0}));
  const json m0 = h.model_entry("m0");
  EXPECT_EQ(m0["state"], "ready");
  EXPECT_EQ(m0["resident_bytes"], kMiB);
  EXPECT_EQ(m0["misses"], 1);
  // A second request is a hit and does not load again.
  res = c->Post("/v2/models/m0/versions/1/infer", infer_body({4.0f}), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["parameters"]["hit"], true);
  EXPECT_EQ(h.model_entry("m0")["hits"], 1);
  EXPECT_EQ(h.loader.loads("m0"), 1);
  // Model metadata once loaded.
  auto meta = c->Get("/v2/models/m0");
  ASSERT_TRUE(meta);
  ASSERT_EQ(meta->status, 200);
  const json md = json::parse(meta->body);
  EXPECT_EQ(md["name"], "m0");
  EXPECT_EQ(md["versions"], json({"1"}));
  EXPECT_EQ(md["platform"], "fake");
  EXPECT_EQ(md["inputs"][0], json({{"name", "x"}, {"datatype", "FP32"}, {"shape", {-1}}}));
  EXPECT_EQ(md["outputs"][0]["name"], "y");
}

TEST(ServeHttp, MetadataDeclaredByTheRepositoryIsAnsweredWithoutALoad) {
  auto models = fake_models(2, kMiB);
  models[0].inputs = {{"x", runtime::DType::kFloat32, {-1}}};
  models[0].outputs = {{"y", runtime::DType::kFloat32, {-1}}};
  models[1].inputs = models[0].inputs;  // inputs alone: the metadata needs a load
  Harness h(models, options_with(4 * kMiB));
  auto c = h.client();
  auto meta = c->Get("/v2/models/m0");
  ASSERT_TRUE(meta);
  ASSERT_EQ(meta->status, 200) << meta->body;
  const json md = json::parse(meta->body);
  EXPECT_EQ(md["inputs"][0], json({{"name", "x"}, {"datatype", "FP32"}, {"shape", {-1}}}));
  EXPECT_EQ(md["outputs"][0]["name"], "y");
  EXPECT_EQ(h.loader.loads("m0"), 0);
  EXPECT_NE(h.model_entry("m0")["state"], "ready");
  meta = c->Get("/v2/models/m1");
  ASSERT_TRUE(meta);
  ASSERT_EQ(meta->status, 200) << meta->body;
  EXPECT_EQ(h.loader.loads("m1"), 1);
  // The declared specs serve requests as the loaded model's would.
  auto res = c->Post("/v2/models/m0/infer", infer_body({1.0f, 2.0f}), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["outputs"][0]["data"], json({2.0, 4.0}));
  EXPECT_EQ(h.loader.loads("m0"), 1);
}

TEST(ServeHttp, NestedDataAndRequestedOutputs) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  const json request{
      {"inputs",
       {{{"name", "x"}, {"shape", {4}}, {"datatype", "FP32"}, {"data", {{1, 2}, {3, 4}}}}}},
      {"outputs", {{{"name", "y"}}}}};
  auto res = h.client()->Post("/v2/models/m0/infer", request.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["outputs"][0]["data"], json({2.0, 4.0, 6.0, 8.0}));
  const json unknown_output{{"inputs", request["inputs"]}, {"outputs", {{{"name", "nope"}}}}};
  res = h.client()->Post("/v2/models/m0/infer", unknown_output.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

TEST(ServeHttp, BinaryTensorExtensionRoundTrip) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  const std::vector<float> values{1.5f, -2.0f};
  const json header{{"inputs",
                     {{{"name", "x"},
                       {"shape", {2}},
                       {"datatype", "FP32"},
                       {"parameters", {{"binary_data_size", 8}}}}}},
                    {"outputs", {{{"name", "y"}, {"parameters", {{"binary_data", true}}}}}}};
  std::string body = header.dump();
  const std::size_t json_bytes = body.size();
  body.append(reinterpret_cast<const char*>(values.data()), 8);
  httplib::Headers headers{{"Inference-Header-Content-Length", std::to_string(json_bytes)}};
  auto res = h.client()->Post("/v2/models/m0/infer", headers, body, "application/octet-stream");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::size_t answer_json =
      std::stoul(res->get_header_value("Inference-Header-Content-Length"));
  const json answer = json::parse(res->body.substr(0, answer_json));
  EXPECT_EQ(answer["outputs"][0]["parameters"]["binary_data_size"], 8);
  ASSERT_EQ(res->body.size(), answer_json + 8);
  float out[2];
  std::memcpy(out, res->body.data() + answer_json, 8);
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], -4.0f);
}

TEST(ServeScheduler, OneLoadForManyConcurrentMisses) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  // A model's first load keeps requests out until it is measured (docs/server.md, "Measured
  // bytes under load"); requests queue behind a later load, which this test watches.
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/repository/models/m1/load", "", "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/repository/models/m1/unload", "", "application/json")->status, 200);
  h.loader.load_gate.close();
  constexpr int kClients = 24;
  std::vector<std::future<int>> answers;
  for (int i = 0; i < kClients; ++i) {
    answers.push_back(std::async(std::launch::async, [&h, i] {
      auto res = h.client()->Post("/v2/models/m1/infer", infer_body({static_cast<float>(i)}),
                                  "application/json");
      return res ? res->status : -1;
    }));
  }
  h.loader.load_gate.await_waiters(1);
  // Wait until every request is queued behind the one load, then let it finish.
  for (int tries = 0; tries < 2000 && h.model_entry("m1")["queue_depth"] != kClients; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.model_entry("m1")["queue_depth"], kClients);
  EXPECT_EQ(h.model_entry("m1")["state"], "loading");
  h.loader.load_gate.open();
  for (auto& answer : answers) EXPECT_EQ(answer.get(), 200);
  EXPECT_EQ(h.loader.loads("m1"), 2);  // the warm-up load and one for the 24 misses
  EXPECT_EQ(h.model_entry("m1")["loads"], 2);
  EXPECT_EQ(h.model_entry("m1")["misses"], kClients);
  EXPECT_EQ(h.loader.max_executing.load(), 1);  // never two inferences on one handle
}

// While a request for `holder` is held at `gate` for kHeldS, a request for `model` is sent;
// returns its answer's parameters once the gate opens.
constexpr double kHeldS = 0.3;
json parameters_of_a_request_sent_while_held(Harness& h, Gate& gate, const std::string& holder,
                                             const std::string& model) {
  gate.close();
  auto holding = std::async(std::launch::async, [&h, holder] {
    auto res =
        h.client()->Post("/v2/models/" + holder + "/infer", infer_body({2.0f}), "application/json");
    return res ? res->status : -1;
  });
  gate.await_waiters(1);
  auto held = std::async(std::launch::async, [&h, model] {
    auto res =
        h.client()->Post("/v2/models/" + model + "/infer", infer_body({3.0f}), "application/json");
    return res ? std::optional<std::string>(res->body) : std::nullopt;
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(kHeldS));
  gate.open();
  EXPECT_EQ(holding.get(), 200);
  const auto body = held.get();
  EXPECT_TRUE(body);
  return body ? json::parse(*body)["parameters"] : json::object();
}

// While m1's first load holds the activity gate (measured in isolation), a request for `model`.
json parameters_of_a_request_held_by_m1s_first_load(Harness& h, const std::string& model) {
  return parameters_of_a_request_sent_while_held(h, h.loader.load_gate, "m1", model);
}

// A request that waits, read but not parsed, while another model's first load is measured in
// isolation has waited: its timeline counts that wait as queueing (docs/fidelity.md, "The first
// loads' isolation"), as the simulator does.
TEST(ServeScheduler, TheWaitForAnIsolatedFirstLoadIsQueueing) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  auto first = h.client()->Post("/v2/models/m0/infer", infer_body({1.0f}), "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  const json params = parameters_of_a_request_held_by_m1s_first_load(h, "m0");
  EXPECT_EQ(params["hit"], true) << params.dump();
  // The hit could not start before the load ended: it waited at least most of the pause.
  EXPECT_GE(params["queue_s"].get<double>(), kHeldS / 2) << params.dump();
  EXPECT_EQ(params["load_s"].get<double>(), 0.0);
  EXPECT_GE(params["start_s"].get<double>(), kHeldS / 2);
}

// An isolated first load waits for the inference under way to leave the activity gate; that
// wait is queueing on the timeline of the request that waits on the load, not load delay, as the
// simulator counts the wait before an isolated first load (docs/fidelity.md, "Definitions").
TEST(ServeScheduler, AnIsolatedFirstLoadsWaitForTheRunningInferenceIsQueueing) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  ASSERT_EQ(h.client()->Post("/v2/models/m0/infer", infer_body({1.0f}), "application/json")->status,
            200);
  // m0's inference holds the activity gate, shared, while m1's first load waits for it.
  const json params = parameters_of_a_request_sent_while_held(h, h.loader.exec_gate, "m0", "m1");
  EXPECT_EQ(params["hit"], false) << params.dump();
  // The fake load takes no time: the pause is the wait at the gate, all of it queueing.
  EXPECT_LT(params["load_s"].get<double>(), kHeldS / 2) << params.dump();
  EXPECT_GE(params["queue_s"].get<double>(), kHeldS / 2) << params.dump();
  EXPECT_GE(params["ready_s"].get<double>() - params["load_start_s"].get<double>(), 0.0);
}

// With the profiled sizes (serve --first-loads concurrent and a catalog), a first load does not
// wait for the running inference, nor hold inferences back: it runs beside them, as later loads
// do, charged the profiled size until a load nothing disturbed measures the model more than 5%
// off it (docs/server.md, "First loads beside inferences").
TEST(ServeScheduler, AProfiledModelsFirstLoadRunsBesideTheRunningInference) {
  auto models = fake_models(2, kMiB);
  for (auto& m : models) m.size_profiled = true;
  auto options = options_with(4 * kMiB);
  options.concurrent_first_loads = true;
  Harness h(models, options);
  h.loader.measured["m1"] = 2 * kMiB;          // what m1's loads measure; the profile said 1 MiB
  h.loader.measured["m0"] = kMiB + kMiB / 50;  // 2% off the profile: within the noise
  ASSERT_EQ(h.client()->Post("/v2/models/m0/infer", infer_body({1.0f}), "application/json")->status,
            200);
  // m0's inference is held in the fake's execution gate; m1's request comes meanwhile.
  h.loader.exec_gate.close();
  auto holding = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/models/m0/infer", infer_body({2.0f}), "application/json");
    return res ? res->status : -1;
  });
  h.loader.exec_gate.await_waiters(1);
  auto loading = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/models/m1/infer", infer_body({3.0f}), "application/json");
    return res ? std::optional<std::string>(res->body) : std::nullopt;
  });
  // m1 is loaded while m0's inference still runs (isolated, its load would wait for it).
  for (int tries = 0; tries < 400 && h.loader.loads("m1") == 0; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.loader.loads("m1"), 1) << "m1's first load waited for m0's inference";
  h.loader.exec_gate.open();
  EXPECT_EQ(holding.get(), 200);
  const auto body = loading.get();
  ASSERT_TRUE(body);
  const json params = json::parse(*body)["parameters"];
  EXPECT_EQ(params["hit"], false) << params.dump();
  // The fake load takes no time and nothing held it back: no wait before it.
  EXPECT_LT(params["ready_s"].get<double>(), kHeldS / 2) << params.dump();
  // Measured beside m0's inference: the profiled size is charged, not the disturbed figure.
  EXPECT_EQ(h.model_entry("m1")["resident_bytes"].get<std::uint64_t>(), kMiB);
  // A reload with nothing running measures it cleanly, and that figure replaces the profile's.
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/repository/models/m1/unload", "", "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/repository/models/m1/load", "", "application/json")->status, 200);
  EXPECT_EQ(h.model_entry("m1")["resident_bytes"].get<std::uint64_t>(), 2 * kMiB);
  // m0's clean measurements (its first load ran with nothing else) are within 5% of the
  // profile's: they confirm it, and the profiled size stays charged, reload after reload.
  EXPECT_EQ(h.model_entry("m0")["resident_bytes"].get<std::uint64_t>(), kMiB);
  ASSERT_EQ(c->Post("/v2/repository/models/m0/unload", "", "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/repository/models/m0/load", "", "application/json")->status, 200);
  EXPECT_EQ(h.model_entry("m0")["resident_bytes"].get<std::uint64_t>(), kMiB);
}

TEST(ServeScheduler, ARequestHeldWhileItsOwnModelsFirstLoadRunsSharedThatLoad) {
  // The request for m1 is read while m1's first load holds the activity gate: it reaches the
  // scheduler once the model is ready, but it arrived before, so it shared the load (a miss
  // whose load delay is the wait), as the simulator counts a request arriving during its
  // model's load.
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  const json params = parameters_of_a_request_held_by_m1s_first_load(h, "m1");
  EXPECT_EQ(params["hit"], false) << params.dump();
  EXPECT_GE(params["load_s"].get<double>(), kHeldS / 2) << params.dump();
  EXPECT_GE(params["start_s"].get<double>(), kHeldS / 2);
}

// A request that waits to be parsed while another model's first load is measured holds its
// model meanwhile, as the simulator admits a request at its arrival: a load admitted during the
// wait evicts another model, not the held one (docs/fidelity.md, "Requests waiting at the gate").
// Before the hold, the request waited unseen and the least recently used model, its own, went.
TEST(ServeScheduler, ARequestWaitingAtTheGateHoldsItsModel) {
  // Room for three of four models, least recently used first.
  Harness h(fake_models(4, 3 * kMiB), options_with(9 * kMiB, "lru"));
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m2/infer", infer_body({1}), "application/json")->status, 200);
  // m1's first load holds the activity gate (measured in isolation) until the load gate opens.
  h.loader.load_gate.close();
  auto loading = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/models/m1/infer", infer_body({2}), "application/json");
    return res ? res->status : -1;
  });
  h.loader.load_gate.await_waiters(1);
  // m0's request waits at the gate; it holds m0 (a pin) from its arrival.
  auto waiting = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/models/m0/infer", infer_body({3}), "application/json");
    return res ? std::optional<std::string>(res->body) : std::nullopt;
  });
  int pins = 0;
  for (int tries = 0; tries < 400 && pins == 0; ++tries) {
    pins = h.model_entry("m0")["pins"].get<int>();
    if (pins == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(pins, 1) << "the waiting request does not hold its model";
  // m3's load needs room now: m0 is the least recently used, but held; m2 goes.
  auto explicit_load = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/repository/models/m3/load", "", "application/json");
    return res ? res->status : -1;
  });
  for (int tries = 0; tries < 400 && h.model_entry("m3")["state"] == "absent"; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(h.model_entry("m2")["resident"].get<bool>());
  EXPECT_TRUE(h.model_entry("m0")["resident"].get<bool>());
  h.loader.load_gate.open();
  EXPECT_EQ(loading.get(), 200);
  EXPECT_EQ(explicit_load.get(), 200);
  const auto body = waiting.get();
  ASSERT_TRUE(body);
  const json params = json::parse(*body)["parameters"];
  EXPECT_EQ(params["hit"], true) << params.dump();
  EXPECT_EQ(params["load_s"].get<double>(), 0.0) << params.dump();
  EXPECT_EQ(h.loader.loads("m0"), 1);
  // The hold was given back with the request.
  EXPECT_EQ(h.model_entry("m0")["held"], 0);
  EXPECT_EQ(h.model_entry("m0")["pins"], 0);
}

// A request whose model became ready before the next isolated first load starts runs first; the
// load waits for it at the gate, as the simulator orders them (docs/fidelity.md, "Inferences
// ready before an isolated load"). Before, the loader took the gate as soon as the load before
// was done, and the ready request waited through the whole next load.
TEST(ServeScheduler, AnInferenceReadyBeforeAnIsolatedLoadRunsFirst) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  Gate m0_load(false), m1_load(false);
  h.loader.set_model_gate("m0", &m0_load);
  h.loader.set_model_gate("m1", &m1_load);
  auto first = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json");
    return res ? res->status : -1;
  });
  for (int tries = 0; tries < 400 && h.model_entry("m0")["state"] != "loading"; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // m1's request waits at the gate while m0's first load runs; it holds m1, whose load queues.
  auto second = std::async(std::launch::async, [&h] {
    auto res = h.client()->Post("/v2/models/m1/infer", infer_body({2}), "application/json");
    return res ? res->status : -1;
  });
  for (int tries = 0; tries < 400 && h.model_entry("m1")["state"] != "loading"; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(h.model_entry("m1")["state"], "loading");
  h.loader.exec_gate.close();  // m0's inference, once it runs, stays inside the backend
  m0_load.open();
  for (int tries = 0; tries < 400 && h.loader.executing.load() == 0; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.loader.executing.load(), 1) << "m0's ready request did not start";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(h.loader.loads("m1"), 0) << "m1's isolated load started before m0's ready request";
  h.loader.exec_gate.open();
  EXPECT_EQ(first.get(), 200);
  m1_load.open();
  EXPECT_EQ(second.get(), 200);
  EXPECT_EQ(h.loader.loads("m1"), 1);
  h.loader.set_model_gate("m0", nullptr);
  h.loader.set_model_gate("m1", nullptr);
}

// First loads in a chain: requests for m1 and m2 arrive during m0's first load and wait at the
// gate, holding their models (their loads queue). Once m1 is ready, its request is submitted and
// runs before m2's isolated load, as the simulator, which admits a request at its arrival, runs
// it at m1's ready time (docs/fidelity.md, "Requests a first load readies"). Before, the loader
// took the gate again as soon as m1's load was done, and m1's request waited, unparsed, through
// m2's whole load (and every first load queued behind it).
TEST(ServeScheduler, ARequestHeldThroughFirstLoadsRunsOnceItsModelIsReady) {
  Harness h(fake_models(3, kMiB), options_with(6 * kMiB));
  Gate m0_load(false), m1_load(false), m2_load(false);
  h.loader.set_model_gate("m0", &m0_load);
  h.loader.set_model_gate("m1", &m1_load);
  h.loader.set_model_gate("m2", &m2_load);
  const auto post = [&h](const std::string& model, float value) {
    return std::async(std::launch::async, [&h, model, value] {
      auto res = h.client()->Post("/v2/models/" + model + "/infer", infer_body({value}),
                                  "application/json");
      return res ? res->status : -1;
    });
  };
  const auto wait_for = [&h](const std::string& model, const char* key, const json& value) {
    for (int tries = 0; tries < 400 && h.model_entry(model)[key] != value; ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return h.model_entry(model)[key] == value;
  };
  auto first = post("m0", 1);
  ASSERT_TRUE(wait_for("m0", "state", "loading"));
  auto second = post("m1", 2);
  ASSERT_TRUE(wait_for("m1", "held", 1)) << "m1's request is not held at the gate";
  auto third = post("m2", 3);
  ASSERT_TRUE(wait_for("m2", "held", 1)) << "m2's request is not held at the gate";
  m0_load.open();
  m1_load.open();
  // m2's load waits on its own gate: m1's request must not wait for it.
  EXPECT_EQ(first.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(second.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "m1's held request waited through m2's isolated load";
  m2_load.open();
  EXPECT_EQ(first.get(), 200);
  EXPECT_EQ(second.get(), 200);
  EXPECT_EQ(third.get(), 200);
  for (const char* model : {"m0", "m1", "m2"}) EXPECT_EQ(h.loader.loads(model), 1) << model;
  for (const char* model : {"m0", "m1", "m2"}) h.loader.set_model_gate(model, nullptr);
}

TEST(ServeScheduler, EvictsUnderSmallBudgetAndNeverExceedsIt) {
  // Room for two of the four models.
  Harness h(fake_models(4, 3 * kMiB), options_with(7 * kMiB));
  auto c = h.client();
  for (int round = 0; round < 3; ++round) {
    for (int m = 0; m < 4; ++m) {
      auto res = c->Post("/v2/models/m" + std::to_string(m) + "/infer", infer_body({1.0f}),
                         "application/json");
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
      const json cache = h.cache();
      EXPECT_LE(cache["used_bytes"].get<std::uint64_t>(),
                cache["capacity_bytes"].get<std::uint64_t>());
      int resident = 0;
      for (const auto& model : cache["models"]) resident += model["resident"].get<bool>() ? 1 : 0;
      EXPECT_LE(resident, 2);
    }
  }
  std::uint64_t evictions = 0;
  const json final_cache = h.cache();
  for (const auto& model : final_cache["models"])
    evictions += model["evictions"].get<std::uint64_t>();
  EXPECT_GE(evictions, 10u);  // LRU over a cyclic pattern of 4 models in room for 2
  EXPECT_EQ(h.cache()["policy"], "lru");
  auto metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("brulee_evictions_total{model=\"m0\"}"), std::string::npos);
  EXPECT_NE(
      metrics->body.find("brulee_request_duration_seconds_bucket{model=\"m0\",le=\"+Inf\"} 3"),
      std::string::npos);
}

TEST(ServeScheduler, PinnedModelIsNeverEvicted) {
  // Room for two models. m0 executes (held at the gate) while m1 then m2 are requested: m2 must
  // evict m1 (idle), never m0 (pinned by its executing request).
  Harness h(fake_models(3, 3 * kMiB), options_with(6 * kMiB, "lru"));
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m1/infer", infer_body({1}), "application/json")->status, 200);
  // Make m0 the LRU choice: touch m1 last, then hold m0 executing.
  h.loader.exec_gate.close();
  auto held = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m0/infer", infer_body({5}), "application/json")->status;
  });
  h.loader.exec_gate.await_waiters(1);
  auto other = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m1/infer", infer_body({1}), "application/json")->status;
  });
  // m1's request waits at the gate too (another handle) ...
  h.loader.exec_gate.await_waiters(2);
  // ... so both are pinned: m2 cannot find room and waits.
  auto third = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m2/infer", infer_body({1}), "application/json")->status;
  });
  for (int tries = 0; tries < 400 && h.model_entry("m2")["state"] != "waiting"; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.model_entry("m2")["state"], "waiting");
  EXPECT_EQ(h.model_entry("m0")["state"], "ready");
  EXPECT_EQ(h.model_entry("m1")["state"], "ready");
  h.loader.exec_gate.open();
  EXPECT_EQ(held.get(), 200);
  EXPECT_EQ(other.get(), 200);
  EXPECT_EQ(third.get(), 200);
  EXPECT_EQ(h.model_entry("m2")["state"], "ready");
  const json cache = h.cache();
  EXPECT_LE(cache["used_bytes"].get<std::uint64_t>(), 6 * kMiB);
}

TEST(ServeScheduler, MeasuredSizeReplacesEstimate) {
  Harness h(fake_models(3, kMiB), options_with(8 * kMiB));
  h.loader.measured["m0"] = 5 * kMiB;  // the estimate (1 MiB) was low
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/models/m1/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m2/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  const json m0 = h.model_entry("m0");
  EXPECT_EQ(m0["resident_bytes"], 5 * kMiB);
  EXPECT_EQ(m0["size_bytes"], 5 * kMiB);
  const json cache = h.cache();
  EXPECT_EQ(cache["used_bytes"], 7 * kMiB);
  // Another 5 MiB model must now evict to fit; the budget still holds.
  h.loader.measured["m1"] = 5 * kMiB;
  ASSERT_EQ(c->Post("/v2/repository/models/m1/unload", "", "application/json")->status, 200);
  ASSERT_EQ(c->Post("/v2/models/m1/infer", infer_body({1}), "application/json")->status, 200);
  EXPECT_LE(h.cache()["used_bytes"].get<std::uint64_t>(), 8 * kMiB);
  EXPECT_EQ(h.model_entry("m1")["resident_bytes"], 5 * kMiB);
}

TEST(ServeErrors, EveryStatusHasAJsonError) {
  auto models = fake_models(3, kMiB);
  models[1].path = "corrupt";
  models[2].estimate_bytes = 64 * kMiB;  // larger than the budget
  HttpOptions http;
  http.max_body_bytes = 4096;
  Harness h(models, options_with(4 * kMiB), http);
  auto c = h.client();
  auto expect_error = [&](const httplib::Result& res, int status) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    const json body = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << res->body;
    EXPECT_TRUE(body["error"].is_string()) << res->body;
    EXPECT_TRUE(h.alive());
  };
  expect_error(c->Post("/v2/models/nope/infer", infer_body({1}), "application/json"), 404);
  expect_error(c->Get("/v2/models/nope"), 404);
  expect_error(c->Post("/v2/models/m0/infer", "{not json", "application/json"), 400);
  const json wrong_dtype{
      {"inputs", {{{"name", "x"}, {"shape", {1}}, {"datatype", "INT32"}, {"data", {1}}}}}};
  expect_error(c->Post("/v2/models/m0/infer", wrong_dtype.dump(), "application/json"), 400);
  const json wrong_count{
      {"inputs", {{{"name", "x"}, {"shape", {3}}, {"datatype", "FP32"}, {"data", {1, 2}}}}}};
  expect_error(c->Post("/v2/models/m0/infer", wrong_count.dump(), "application/json"), 400);
  const json wrong_rank{
      {"inputs", {{{"name", "x"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {1, 2}}}}}};
  expect_error(c->Post("/v2/models/m0/infer", wrong_rank.dump(), "application/json"), 400);
  const json bytes_type{
      {"inputs", {{{"name", "x"}, {"shape", {1}}, {"datatype", "BYTES"}, {"data", {"a"}}}}}};
  expect_error(c->Post("/v2/models/m0/infer", bytes_type.dump(), "application/json"), 400);
  expect_error(c->Post("/v2/models/m0/infer", std::string(10000, ' '), "application/json"), 413);
  auto failed = c->Post("/v2/models/m1/infer", infer_body({1}), "application/json");
  expect_error(failed, 500);
  EXPECT_NE(failed->body.find("corrupt file"), std::string::npos);  // the backend's reason
  expect_error(c->Post("/v2/repository/models/m1/load", "", "application/json"), 500);
  expect_error(c->Post("/v2/models/m2/infer", infer_body({1}), "application/json"), 500);
  expect_error(c->Get("/v2/no/such/route"), 404);
  expect_error(c->Post("/v2/models/m0/explain", "{}", "application/json"), 404);
  EXPECT_EQ(h.model_entry("m1")["load_failures"], 2);  // the infer and the explicit load
}

TEST(ServeErrors, FullQueueAnswers503WithRetryAfter) {
  SchedulerOptions options = options_with(4 * kMiB);
  options.max_queue_per_model = 1;
  options.exec_threads = 1;
  Harness h(fake_models(1, kMiB), options);
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  h.loader.exec_gate.close();
  auto executing = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status;
  });
  h.loader.exec_gate.await_waiters(1);
  auto queued = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status;
  });
  for (int tries = 0; tries < 400 && h.model_entry("m0")["queue_depth"] != 1; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto rejected = c->Post("/v2/models/m0/infer", infer_body({1}), "application/json");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 503);
  EXPECT_EQ(rejected->get_header_value("Retry-After"), "1");
  h.loader.exec_gate.open();
  EXPECT_EQ(executing.get(), 200);
  EXPECT_EQ(queued.get(), 200);
}

TEST(ServeErrors, RequestTimeoutAnswers504) {
  HttpOptions http;
  http.request_timeout_s = 0.2;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  h.loader.load_gate.close();
  auto res = h.client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  h.loader.load_gate.open();
  EXPECT_TRUE(h.alive());
}

TEST(ServeRepository, IndexLoadUnload) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  auto c = h.client();
  auto index = c->Post("/v2/repository/index", "", "application/json");
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200);
  json body = json::parse(index->body);
  ASSERT_EQ(body.size(), 2u);
  EXPECT_EQ(body[0]["name"], "m0");
  EXPECT_EQ(body[0]["version"], "1");
  EXPECT_EQ(body[0]["state"], "UNAVAILABLE");
  EXPECT_TRUE(body[0]["reason"].is_string());
  ASSERT_EQ(c->Post("/v2/repository/models/m1/load", "", "application/json")->status, 200);
  body =
      json::parse(c->Post("/v2/repository/index", R"({"ready":true})", "application/json")->body);
  ASSERT_EQ(body.size(), 1u);
  EXPECT_EQ(body[0]["name"], "m1");
  EXPECT_EQ(body[0]["state"], "READY");
  ASSERT_EQ(c->Post("/v2/repository/models/m1/unload", "", "application/json")->status, 200);
  EXPECT_EQ(h.model_entry("m1")["state"], "absent");
  EXPECT_EQ(h.cache()["used_bytes"], 0);
  EXPECT_EQ(c->Post("/v2/repository/models/zz/load", "", "application/json")->status, 404);
}

TEST(ServeShutdown, DrainsInFlightRequests) {
  auto h = std::make_unique<Harness>(fake_models(1, kMiB), options_with(4 * kMiB));
  ASSERT_EQ(h->client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status,
            200);
  h->loader.exec_gate.close();
  auto in_flight = std::async(std::launch::async, [&h] {
    auto res = h->client()->Post("/v2/models/m0/infer", infer_body({21}), "application/json");
    return res ? res->body : std::string("no answer");
  });
  h->loader.exec_gate.await_waiters(1);
  auto stopping =
      std::async(std::launch::async, [&h] { h->http->shutdown(std::chrono::seconds(10)); });
  // While draining, new work is refused with 503 and readiness is withdrawn.
  for (int tries = 0; tries < 400; ++tries) {
    auto ready = h->client()->Get("/v2/health/ready");
    if (ready && ready->status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto refused = h->client()->Post("/v2/models/m0/infer", infer_body({1}), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  h->loader.exec_gate.open();
  const json answer = json::parse(in_flight.get());
  EXPECT_EQ(answer["outputs"][0]["data"], json({42.0}));
  stopping.get();
  EXPECT_FALSE(h->client()->Get("/v2/health/live"));  // no longer listening
}

TEST(ServeBadInput, PathTraversalAndOddNames) {
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB));
  for (const std::string path : {"/v2/models/..%2F..%2Fetc%2Fpasswd/infer",
                                 "/v2/models/../m0/infer", "/v2/models/%2e%2e/infer",
                                 "/v2/models/m0%00/infer", "/v2/repository/models/..%2Fm0/load"}) {
    const std::string raw = "POST " + path +
                            " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                            "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    const int status = status_of(raw_exchange(h.port, raw));
    EXPECT_TRUE(status == 404 || status == 400) << path << " -> " << status;
    EXPECT_TRUE(h.alive());
  }
  EXPECT_EQ(h.loader.loads("m0"), 0);
}

TEST(ServeBadInput, GarbageAndSlowClients) {
  HttpOptions http;
  http.header_timeout_s = 1;
  http.body_timeout_s = 1;
  Harness h(fake_models(1, kMiB), options_with(4 * kMiB), http);
  // Not HTTP at all.
  raw_exchange(h.port, "\x01\x02 garbage\r\n\r\n");
  EXPECT_TRUE(h.alive());
  // A header claiming a body larger than the limit.
  const int big = status_of(raw_exchange(
      h.port,
      "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n"));
  EXPECT_EQ(big, 413);
  EXPECT_TRUE(h.alive());
  // A client sending its request one byte at a time is answered correctly ...
  const std::string body = infer_body({3});
  const std::string raw =
      "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  auto slow = std::async(std::launch::async, [&] {
    return raw_exchange(h.port, raw, 1, std::chrono::milliseconds(1));
  });
  // ... while the server keeps answering others.
  EXPECT_TRUE(h.alive());
  const std::string answer = slow.get();
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_NE(answer.find("\"data\":[6.0]"), std::string::npos) << answer;
  // A client that stops mid-request is dropped after the read timeout.
  const std::string stalled = raw_exchange(
      h.port, "POST /v2/models/m0/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"in");
  EXPECT_EQ(status_of(stalled), -1) << stalled;  // closed after the body deadline
  EXPECT_TRUE(h.alive());
}

TEST(ServeScheduler, ManyModelsManyRequestsBoundedAndCorrect) {
  // 8 models, room for 3, 4 exec threads, 160 concurrent requests across them.
  SchedulerOptions options = options_with(3 * kMiB, "cremebrulee");
  options.exec_threads = 4;
  Harness h(fake_models(8, kMiB), options);
  std::vector<std::future<bool>> answers;
  for (int i = 0; i < 160; ++i) {
    answers.push_back(std::async(std::launch::async, [&h, i] {
      const float value = static_cast<float>(i);
      auto res = h.client()->Post("/v2/models/m" + std::to_string(i % 8) + "/infer",
                                  infer_body({value}), "application/json");
      if (!res) ADD_FAILURE() << "no answer: " << httplib::to_string(res.error());
      if (!res || res->status != 200) {
        if (res) ADD_FAILURE() << res->status << " " << res->body;
        return false;
      }
      return json::parse(res->body)["outputs"][0]["data"][0].get<double>() == 2.0 * value;
    }));
  }
  int ok = 0;
  for (auto& answer : answers) ok += answer.get() ? 1 : 0;
  EXPECT_EQ(ok, 160);
  if (ok != 160) {
    auto m = h.client()->Get("/metrics");
    if (m) std::fprintf(stderr, "%s\n", m->body.substr(m->body.find("brulee_http")).c_str());
  }
  const json cache = h.cache();
  EXPECT_LE(cache["used_bytes"].get<std::uint64_t>(), 3 * kMiB);
  EXPECT_EQ(cache["queued"], 0);
  EXPECT_EQ(cache["policy"], "cremebrulee");
  for (const auto& m : cache["models"]) EXPECT_EQ(m["pins"], 0) << m.dump();
}

TEST(ServeScheduler, OraclePoliciesUseTheReplayedFuture) {
  // Room for two of three models. Each request names its trace index and its model's next one
  // (as brulee replay sends them). At m2, belady must evict m1 (never requested again), not m0
  // (needed next), although m0 is the least recently used.
  Harness h(fake_models(3, 3 * kMiB), options_with(7 * kMiB, "belady"));
  auto c = h.client();
  const auto send = [&](int model, json parameters) {
    json body = json::parse(infer_body({1.0f}));
    body["parameters"] = std::move(parameters);
    return c->Post("/v2/models/m" + std::to_string(model) + "/infer", body.dump(),
                   "application/json");
  };
  for (const auto& [model, parameters] :
       std::vector<std::pair<int, json>>{{0, {{"request_index", 0}, {"next_request_index", 3}}},
                                         {1, {{"request_index", 1}}},
                                         {2, {{"request_index", 2}, {"next_request_index", 4}}},
                                         {0, {{"request_index", 3}}}}) {
    auto res = send(model, parameters);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }
  EXPECT_FALSE(h.model_entry("m1")["resident"].get<bool>());
  EXPECT_TRUE(h.model_entry("m0")["resident"].get<bool>());
  EXPECT_EQ(h.model_entry("m0")["hits"], 1);
  // Malformed hints are a 400 with a reason, and the server carries on.
  for (const json& bad : {json{{"request_index", -1}}, json{{"request_index", "x"}},
                          json{{"request_index", 5}, {"next_request_index", 5}}}) {
    auto res = send(0, bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_NE(res->body.find("request_index"), std::string::npos) << res->body;
  }
  // A trace time must be a number of seconds from 0 to 1e12.
  for (const json& bad : {json{{"request_index", 6}, {"request_time_s", -1.0}},
                          json{{"request_index", 6}, {"request_time_s", 1e300}},
                          json{{"request_index", 6}, {"request_time_s", "soon"}}}) {
    auto res = send(0, bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_NE(res->body.find("request_time_s"), std::string::npos) << res->body;
  }
  auto fine = send(0, json{{"request_index", 6}, {"request_time_s", 1e12}});
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200) << fine->body;
  EXPECT_TRUE(h.alive());
}

// Polls /v2/cache until `done` holds for it (at most ~10 s); returns whether it did.
template <typename Done>
bool cache_becomes(const Harness& h, Done done) {
  for (int i = 0; i < 1000; ++i) {
    if (done(h.cache())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ServeRepository, UnloadIsRefusedWhileTheModelServesOrLoads) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  // A request executing on m0 pins it: the unload is a conflict, and m0 stays.
  h.loader.exec_gate.close();
  auto running = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m0/infer", infer_body({3}), "application/json");
  });
  h.loader.exec_gate.await_waiters(1);
  auto refused = c->Post("/v2/repository/models/m0/unload", "", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409) << refused->body;
  const json error = json::parse(refused->body, nullptr, false);
  ASSERT_TRUE(error.is_object()) << refused->body;
  EXPECT_NE(error["error"].get<std::string>().find("serving requests"), std::string::npos)
      << refused->body;
  EXPECT_EQ(h.model_entry("m0")["state"], "ready");
  h.loader.exec_gate.open();
  auto answer = running.get();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  // Idle again: the same unload goes through.
  EXPECT_EQ(c->Post("/v2/repository/models/m0/unload", "", "application/json")->status, 200);
  EXPECT_EQ(h.model_entry("m0")["state"], "absent");

  // A model still loading cannot be unloaded either.
  h.loader.load_gate.close();
  auto loading = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m1/infer", infer_body({1}), "application/json");
  });
  h.loader.load_gate.await_waiters(1);
  auto during_load = c->Post("/v2/repository/models/m1/unload", "", "application/json");
  ASSERT_TRUE(during_load);
  EXPECT_EQ(during_load->status, 409) << during_load->body;
  EXPECT_NE(during_load->body.find("loading"), std::string::npos) << during_load->body;
  h.loader.load_gate.open();
  auto loaded = loading.get();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->status, 200) << loaded->body;
}

TEST(ServeRepository, ARequestArrivingDuringAnUnloadIsServedByAFreshLoad) {
  Harness h(fake_models(2, kMiB), options_with(4 * kMiB));
  auto c = h.client();
  ASSERT_EQ(c->Post("/v2/models/m0/infer", infer_body({1}), "application/json")->status, 200);
  ASSERT_EQ(h.loader.loads("m0"), 1);
  // The unload holds in the middle (the model is being dropped) ... It is asked over HTTP: a
  // loader thread drops the model, so the network threads go on serving (the request below and
  // the test's polls of /v2/cache are answered while the unload holds).
  h.loader.unload_gate.close();
  auto unloading = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/repository/models/m0/unload", "", "application/json");
  });
  h.loader.unload_gate.await_waiters(1);
  EXPECT_EQ(h.model_entry("m0")["state"], "unloading");
  // ... when a request for the model arrives: it waits, it is neither lost nor failed.
  auto request = std::async(std::launch::async, [&h] {
    return h.client()->Post("/v2/models/m0/infer", infer_body({4, -1}), "application/json");
  });
  ASSERT_TRUE(cache_becomes(h, [](const json& cache) {
    return cache.is_object() && cache["queued"].get<std::uint64_t>() >= 1;
  }));
  EXPECT_EQ(h.loader.loads("m0"), 1);  // no load of a model still being dropped
  h.loader.unload_gate.open();
  auto unloaded = unloading.get();
  ASSERT_TRUE(unloaded);
  EXPECT_EQ(unloaded->status, 200) << unloaded->body;
  auto answer = request.get();
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200) << answer->body;
  const json body = json::parse(answer->body);
  EXPECT_EQ(body["parameters"]["hit"], false);  // it paid for the new load
  EXPECT_EQ(body["outputs"][0]["data"], json({8.0, -2.0}));
  EXPECT_EQ(h.loader.loads("m0"), 2);
  EXPECT_EQ(h.model_entry("m0")["state"], "ready");
}

}  // namespace
}  // namespace brulee::serve::testing
