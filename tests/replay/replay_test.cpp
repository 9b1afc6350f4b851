// brulee replay against a real HTTP server on 127.0.0.1 that speaks the KServe v2 routes the
// replay uses (metadata and infer), and reports hit / load / queue / exec like brulee serve.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.hpp"
#include "replay/replay.hpp"
#include "workload/trace.hpp"

using namespace brulee;
using json = nlohmann::json;

namespace {

class FakeKServe {
 public:
  FakeKServe() {
    server_.Get(R"(/v2/models/([A-Za-z0-9_]+))", [this](const httplib::Request& req,
                                                        httplib::Response& res) {
      const std::string model = req.matches[1];
      if (model == "missing") {
        res.status = 404;
        res.set_content(R"({"error":"unknown model"})", "application/json");
        return;
      }
      json meta = {{"name", model},
                   {"platform", "onnx"},
                   {"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 3, -1}}}}},
                   {"outputs", {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {1, 2}}}}}};
      res.set_content(meta.dump(), "application/json");
    });
    server_.Post(R"(/v2/models/([A-Za-z0-9_]+)/infer)", [this](const httplib::Request& req,
                                                               httplib::Response& res) {
      const std::string model = req.matches[1];
      // JSON values, or the binary data extension: a JSON part of the length the header says,
      // then each input's raw bytes (FP32 here).
      std::vector<float> values;
      json body;
      if (req.has_header("Inference-Header-Content-Length")) {
        const auto json_bytes = std::stoul(req.get_header_value("Inference-Header-Content-Length"));
        body = json::parse(req.body.substr(0, json_bytes));
        const std::string raw = req.body.substr(json_bytes);
        if (body["inputs"][0]["parameters"]["binary_data_size"].get<std::size_t>() != raw.size() ||
            raw.size() % sizeof(float) != 0) {
          res.status = 400;
          return;
        }
        values.resize(raw.size() / sizeof(float));
        std::memcpy(values.data(), raw.data(), raw.size());
      } else {
        body = json::parse(req.body);
        for (const auto& v : body["inputs"][0]["data"]) values.push_back(v.get<float>());
      }
      std::lock_guard lock(mutex_);
      ++counts_[model];
      inputs_seen_.push_back(body["inputs"][0]["shape"]);
      parameters_seen_.push_back(body["parameters"]);
      values_seen_[body["parameters"]["request_index"].get<int>()] = values;
      if (model == "broken") {
        res.status = 500;
        res.set_content(R"({"error":"load failed: corrupt file"})", "application/json");
        return;
      }
      const bool hit = counts_[model] > 1;
      // brulee's report: the timeline from the request's arrival and the delays derived from
      // it. A miss waits 0.05 s for room, loads 0.05..0.30, waits 0.01, executes 0.31..0.36.
      json params = {{"hit", hit},
                     {"load_s", hit ? 0.0 : 0.25},
                     {"queue_s", hit ? 0.01 : 0.06},
                     {"exec_s", 0.05}};
      if (model != "legacy") {  // an older server reports the three figures only
        params["ready_s"] = hit ? 0.0 : 0.30;
        params["start_s"] = hit ? 0.01 : 0.31;
        params["end_s"] = hit ? 0.06 : 0.36;
        if (!hit) params["load_start_s"] = 0.05;
        params["parse_s"] = 0.02;
      }
      json answer = {
          {"model_name", model},
          {"outputs",
           {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {1, 2}}, {"data", {0.5, 0.5}}}}},
          {"parameters", params}};
      res.set_content(answer.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeKServe() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int count(const std::string& model) {
    std::lock_guard lock(mutex_);
    return counts_[model];
  }
  std::vector<json> inputs_seen() {
    std::lock_guard lock(mutex_);
    return inputs_seen_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::map<std::string, int> counts_;
  std::vector<json> inputs_seen_;
  std::vector<json> parameters_seen_;
  std::map<int, std::vector<float>> values_seen_;  // by request_index

 public:
  std::map<int, std::vector<float>> values_seen() {
    std::lock_guard lock(mutex_);
    return values_seen_;
  }
  std::vector<json> parameters_seen() {
    std::lock_guard lock(mutex_);
    return parameters_seen_;
  }
};

std::string write_trace(const std::string& name, const std::vector<std::string>& models,
                        const std::vector<std::pair<double, int>>& rows) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("brulee_replay_" + std::to_string(::getpid()) + "_" + name + ".csv");
  workload::TraceWriter writer(path.string(), workload::TraceFormat::kCsv, models);
  std::uint64_t id = 0;
  for (const auto& [time, model] : rows) writer.write({id++, time, static_cast<ModelId>(model)});
  writer.close();
  return path.string();
}

// Options replaying `trace` against `server`.
replay::ReplayOptions options_for(const FakeKServe& server, const std::string& trace) {
  replay::ReplayOptions options;
  options.url = server.url();
  options.trace_path = trace;
  return options;
}

}  // namespace

TEST(Replay, OpenLoopSendsEveryRequestAndReadsServerReports) {
  FakeKServe server;
  const std::string trace =
      write_trace("open", {"resnet", "vgg"}, {{0.0, 0}, {0.1, 1}, {0.2, 0}, {0.3, 0}, {0.4, 1}});
  replay::ReplayOptions options;
  options.url = server.url();
  options.trace_path = trace;
  options.speed = 4.0;
  options.concurrency = 2;
  options.out_csv = trace + ".out.csv";
  std::vector<replay::RequestResult> results;
  const auto summary = replay::run_replay(options, &results);
  EXPECT_EQ(summary.requests, 5u);
  EXPECT_EQ(summary.ok, 5u);
  EXPECT_EQ(summary.errors, 0u);
  EXPECT_EQ(server.count("resnet"), 3);
  EXPECT_EQ(server.count("vgg"), 2);
  EXPECT_EQ(summary.misses, 2u);  // the first request of each model
  EXPECT_EQ(summary.hits, 3u);
  EXPECT_NEAR(summary.mean_load_s, 2 * 0.25 / 5, 1e-9);
  EXPECT_NEAR(summary.mean_queue_s, (2 * 0.06 + 3 * 0.01) / 5, 1e-9);
  EXPECT_NEAR(summary.mean_exec_s, 0.05, 1e-9);
  EXPECT_NEAR(summary.mean_server_latency_s, (2 * 0.36 + 3 * 0.06) / 5, 1e-9);
  ASSERT_EQ(results.size(), 5u);
  // Open loop: request 4 is scheduled at 0.4 s / 4 = 0.1 s and not sent before its time.
  EXPECT_DOUBLE_EQ(results[4].scheduled_s, 0.1);
  EXPECT_GE(results[4].sent_s, 0.1);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    EXPECT_EQ(r.index, i);
    EXPECT_GT(r.latency_s, 0.0);
    ASSERT_TRUE(r.timed) << i;
    // The server's timeline sits on the replay's clock, between the send and the answer (the
    // fake answers at once, faster than the latency it reports: then it arrives at the send).
    EXPECT_GE(r.timeline.arrival_s, r.sent_s);
    EXPECT_LE(r.timeline.end_s,
              std::max(r.sent_s + r.latency_s, r.timeline.arrival_s + 0.36 + 1e-9));
    EXPECT_NEAR(r.timeline.end_s - r.timeline.arrival_s, r.delays.latency_s, 1e-9);
  }
  // A miss: load start 0.05 after arrival, ready at 0.30: load delay 0.25, queue 0.05 + 0.01.
  EXPECT_FALSE(results[0].timeline.hit);
  EXPECT_NEAR(results[0].timeline.load_start_s - results[0].timeline.arrival_s, 0.05, 1e-9);
  EXPECT_NEAR(results[0].delays.load_delay_s, 0.25, 1e-9);
  EXPECT_NEAR(results[0].delays.queue_delay_s, 0.06, 1e-9);
  EXPECT_TRUE(results[2].timeline.hit);
  EXPECT_TRUE(std::isnan(results[2].timeline.load_start_s));
  EXPECT_DOUBLE_EQ(results[2].parse_s, 0.02);  // the server's reading and parsing
  EXPECT_LE(summary.latency_p50_s, summary.latency_p99_s);
  // Inputs follow the model's metadata, dynamic dimensions as 1.
  for (const auto& shape : server.inputs_seen()) EXPECT_EQ(shape, json({1, 3, 1}));
  // Each request names its trace position and its model's next one (for oracle policies).
  std::map<int, json> by_index;
  for (const auto& params : server.parameters_seen())
    by_index[params["request_index"].get<int>()] = params;
  ASSERT_EQ(by_index.size(), 5u);
  EXPECT_EQ(by_index[0]["next_request_index"], 2);
  EXPECT_EQ(by_index[1]["next_request_index"], 4);
  EXPECT_EQ(by_index[2]["next_request_index"], 3);
  EXPECT_FALSE(by_index[3].contains("next_request_index"));
  // The per-request CSV has a header and one row per request; its first columns are the ones
  // `brulee simulate --requests-out` writes.
  std::ifstream csv(options.out_csv);
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line.rfind("index,model,hit,arrival_s,load_start_s,ready_s,start_s,end_s,load_delay_s,"
                       "queue_delay_s,exec_s,latency_s,",
                       0),
            0u)
      << line;
  EXPECT_NE(line.find(",client_latency_s,parse_s,error"), std::string::npos) << line;
  int lines = 0;
  while (std::getline(csv, line)) {
    ++lines;
    EXPECT_NE(line.find(",0.020000,"), std::string::npos) << line;  // parse_s
  }
  EXPECT_EQ(lines, 5);
  std::filesystem::remove(trace);
  std::filesystem::remove(options.out_csv);
}

TEST(Replay, BinaryDataSendsTheSameValuesAsRawBytes) {
  const std::string trace = write_trace("binary", {"a", "b"}, {{0.0, 0}, {0.0, 1}, {0.0, 0}});
  std::map<int, std::vector<float>> sent[2];
  for (const bool binary : {false, true}) {
    FakeKServe server;
    replay::ReplayOptions options = options_for(server, trace);
    options.closed_loop = true;
    options.concurrency = 1;
    options.binary_data = binary;
    const auto summary = replay::run_replay(options, nullptr);
    EXPECT_EQ(summary.ok, 3u) << binary;  // the fake answers 400 to a wrong binary_data_size
    sent[binary] = server.values_seen();
    for (const auto& shape : server.inputs_seen()) EXPECT_EQ(shape, json({1, 3, 1}));
  }
  ASSERT_EQ(sent[0].size(), 3u);
  EXPECT_EQ(sent[0], sent[1]);  // the same seeded values, however they travel
  EXPECT_EQ(sent[1].at(0).size(), 3u);
  EXPECT_NE(sent[1].at(0), sent[1].at(1));  // each model has its own values
  std::filesystem::remove(trace);
}

TEST(Replay, AnOlderServersThreeFiguresBecomeTheTimelineTheyDescribe) {
  FakeKServe server;
  const std::string trace = write_trace("legacy", {"legacy"}, {{0.0, 0}, {0.01, 0}});
  replay::ReplayOptions options = options_for(server, trace);
  options.concurrency = 1;
  std::vector<replay::RequestResult> results;
  const auto summary = replay::run_replay(options, &results);
  ASSERT_EQ(summary.ok, 2u);
  // load_s (arrival -> ready) is all load delay; queue_s the rest of the wait.
  EXPECT_NEAR(results[0].delays.load_delay_s, 0.25, 1e-9);
  EXPECT_NEAR(results[0].delays.queue_delay_s, 0.06, 1e-9);
  EXPECT_NEAR(results[0].delays.latency_s, 0.36, 1e-9);
  EXPECT_TRUE(results[1].timeline.hit);
  EXPECT_NEAR(results[1].delays.queue_delay_s, 0.01, 1e-9);
  EXPECT_TRUE(std::isnan(results[1].parse_s));  // not reported
  std::filesystem::remove(trace);
}

TEST(Replay, ReadsTheTimelineFromParametersWithDeriveDelays) {
  RequestTimeline t;
  // A miss that arrived while its model's load (started 0.2 s earlier) ran: only the rest counts.
  ASSERT_TRUE(replay::timeline_from_parameters(
      R"({"hit":false,"load_start_s":-0.2,"ready_s":0.3,"start_s":0.5,"end_s":0.6})", t));
  const RequestDelays d = derive_delays(t);
  EXPECT_FALSE(t.hit);
  EXPECT_DOUBLE_EQ(d.load_delay_s, 0.3);
  EXPECT_DOUBLE_EQ(d.queue_delay_s, 0.2);
  EXPECT_NEAR(d.exec_s, 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(d.latency_s, 0.6);
  EXPECT_FALSE(replay::timeline_from_parameters(R"({"request_index":3})", t));
  EXPECT_FALSE(replay::timeline_from_parameters("not json", t));
}

TEST(Replay, ClosedLoopIgnoresTimestamps) {
  FakeKServe server;
  // Ten requests an hour apart: open loop would take ten hours.
  std::vector<std::pair<double, int>> rows;
  for (int i = 0; i < 10; ++i) rows.push_back({3600.0 * i, i % 2});
  const std::string trace = write_trace("closed", {"a", "b"}, rows);
  replay::ReplayOptions options;
  options.url = server.url();
  options.trace_path = trace;
  options.closed_loop = true;
  options.concurrency = 3;
  const auto summary = replay::run_replay(options, nullptr);
  EXPECT_EQ(summary.ok, 10u);
  EXPECT_EQ(server.count("a") + server.count("b"), 10);
  EXPECT_LT(summary.duration_s, 60.0);
  std::filesystem::remove(trace);
}

TEST(Replay, CountsServerErrorsWithTheirReason) {
  FakeKServe server;
  const std::string trace = write_trace("errors", {"ok", "broken"}, {{0, 0}, {0, 1}, {0, 1}});
  replay::ReplayOptions options = options_for(server, trace);
  options.speed = 100;
  std::vector<replay::RequestResult> results;
  const auto summary = replay::run_replay(options, &results);
  EXPECT_EQ(summary.ok, 1u);
  EXPECT_EQ(summary.errors, 2u);
  EXPECT_EQ(results[1].status, 500);
  EXPECT_NE(results[1].error.find("corrupt"), std::string::npos);
  std::filesystem::remove(trace);
}

TEST(Replay, RejectsBadInputClearly) {
  FakeKServe server;
  const std::string trace = write_trace("missing", {"missing"}, {{0, 0}});
  replay::ReplayOptions options;
  options.trace_path = trace;
  for (const char* bad : {"127.0.0.1:80", "http://", "http://127.0.0.1:notaport", "ftp://x"}) {
    options.url = bad;
    EXPECT_THROW(replay::run_replay(options, nullptr), UsageError) << bad;
  }
  options.url = server.url();
  try {
    replay::run_replay(options, nullptr);
    ADD_FAILURE() << "replayed a model the server does not have";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  options.url = "http://127.0.0.1:1";  // nothing listens there
  options.trace_path = write_trace("unreachable", {"a"}, {{0, 0}});
  EXPECT_THROW(replay::run_replay(options, nullptr), UsageError);
  options.trace_path = "/nonexistent/trace.csv";
  EXPECT_THROW(replay::run_replay(options, nullptr), UsageError);
  options.speed = 0;
  EXPECT_THROW(replay::run_replay(options, nullptr), UsageError);
  std::filesystem::remove(trace);
}
