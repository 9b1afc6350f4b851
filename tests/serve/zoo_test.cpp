// Integration: the real `brulee serve` binary as a child process over the runtime's tiny zoo
// (CTest fixture tiny_zoo), real models, real sockets on 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "run_binary.hpp"
#include "runtime/cpus.hpp"
#include "task_cpus.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace test_support = brulee::test_support;

// One `brulee serve` child; stderr (the log) goes to a file.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& extra) {
    log_path_ = fs::temp_directory_path() / ("brulee_serve_test_" + std::to_string(::getpid()) +
                                             "_" + std::to_string(counter_++) + ".log");
    int out[2];
    if (::pipe(out) != 0) return;
    std::vector<std::string> args{BRULEE_BINARY, "serve",  "--repo", BRULEE_TINY_ZOO_DIR, "--host",
                                  "127.0.0.1",   "--port", "0",      "--grpc-port",       "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 2);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    stdout_fd_ = out[0];
    const auto colon = line.rfind(':');
    if (line.rfind("listening on ", 0) == 0 && colon != std::string::npos) {
      port_ = std::stoi(line.substr(colon + 1));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    std::error_code ignored;
    fs::remove(log_path_, ignored);
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, then the exit status.
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }

 private:
  static inline int counter_ = 0;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = -1;
  bool waited_ = false;
  fs::path log_path_;
};

std::vector<std::string> zoo_models() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(BRULEE_TINY_ZOO_DIR)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string body_for(const json& metadata) {
  json inputs = json::array();
  for (const auto& input : metadata["inputs"]) {
    std::vector<std::int64_t> shape;
    std::size_t count = 1;
    for (const auto& dim : input["shape"]) {
      shape.push_back(std::max<std::int64_t>(1, dim.get<std::int64_t>()));
      count *= static_cast<std::size_t>(shape.back());
    }
    std::vector<double> data(count);
    for (std::size_t i = 0; i < count; ++i) data[i] = static_cast<double>(i % 5) * 0.2;
    inputs.push_back({{"name", input["name"]},
                      {"shape", shape},
                      {"datatype", input["datatype"]},
                      {"data", data}});
  }
  return json{{"inputs", inputs}}.dump();
}

TEST(ServeZoo, ServesEveryTinyModelAndShutsDownGracefully) {
  const auto names = zoo_models();
  ASSERT_GE(names.size(), 2u);
  ServerProcess server({"--memory", "1GiB", "--policy", "cremebrulee"});
  ASSERT_GT(server.port(), 0) << server.log();
  auto c = server.client();
  for (const auto& name : names) {
    auto meta = c.Get(("/v2/models/" + name).c_str());
    ASSERT_TRUE(meta);
    ASSERT_EQ(meta->status, 200) << name << ": " << meta->body;
    const json metadata = json::parse(meta->body);
    EXPECT_EQ(metadata["name"], name);
    ASSERT_FALSE(metadata["inputs"].empty());
    auto res =
        c.Post(("/v2/models/" + name + "/infer").c_str(), body_for(metadata), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << name << ": " << res->body;
    const json answer = json::parse(res->body);
    EXPECT_EQ(answer["model_name"], name);
    ASSERT_FALSE(answer["outputs"].empty());
    EXPECT_FALSE(answer["outputs"][0]["data"].empty());
  }
  const json cache = json::parse(c.Get("/v2/cache")->body);
  for (const auto& m : cache["models"]) {
    EXPECT_EQ(m["state"], "ready") << m.dump();
    EXPECT_GT(m["resident_bytes"].get<std::uint64_t>(), 0u) << m.dump();  // measured
    EXPECT_EQ(m["loads"], 1) << m.dump();
  }
  // A wrong shape for a real model is a 400 from the backend, and the server stays up.
  const json wrong{
      {"inputs", {{{"name", "input"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {1, 2}}}}}};
  auto bad =
      c.Post(("/v2/models/" + names[0] + "/infer").c_str(), wrong.dump(), "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  EXPECT_EQ(server.terminate(), 0) << server.log();
  EXPECT_NE(server.log().find("drained"), std::string::npos) << server.log();
}

// The runtimes' one-time setup is done before the server takes requests (the smallest model of
// each backend loaded and dropped), so the first model loaded is measured without it: libtorch's
// setup alone is several MiB, more than any tiny model (docs/server.md, "Measured bytes under
// load").
TEST(ServeZoo, TheFirstModelLoadedIsMeasuredWithoutTheRuntimesSetup) {
  ServerProcess server({"--memory", "1GiB"});
  ASSERT_GT(server.port(), 0) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("runtime primed backend=onnx"), std::string::npos) << log;
  EXPECT_NE(log.find("runtime primed backend=torchscript"), std::string::npos) << log;
  auto c = server.client();
  for (const auto& name : zoo_models()) {
    auto res = c.Post(("/v2/repository/models/" + name + "/load").c_str(), "", "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << name << ": " << res->body;
    const json cache = json::parse(c.Get("/v2/cache")->body);
    for (const auto& m : cache["models"]) {
      if (m["name"] != name) continue;
      // Each tiny model takes under 1 MiB; its first load is its first measurement.
      EXPECT_LT(m["resident_bytes"].get<std::uint64_t>(), 2u << 20) << m.dump();
    }
  }
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

TEST(ServeZoo, EvictsUnderABudgetSmallerThanTheZoo) {
  const auto names = zoo_models();
  // Learn each model's measured size and metadata with room for all.
  std::vector<std::string> bodies;
  std::uint64_t largest = 0, total = 0;
  {
    ServerProcess probe({"--memory", "1GiB"});
    ASSERT_GT(probe.port(), 0) << probe.log();
    auto c = probe.client();
    for (const auto& name : names) {
      auto meta = c.Get(("/v2/models/" + name).c_str());
      ASSERT_TRUE(meta && meta->status == 200);
      bodies.push_back(body_for(json::parse(meta->body)));
      // Metadata comes from config.json without a load: load it to measure it.
      auto load =
          c.Post(("/v2/repository/models/" + name + "/load").c_str(), "", "application/json");
      ASSERT_TRUE(load && load->status == 200);
    }
    const json probed = json::parse(c.Get("/v2/cache")->body);
    for (const auto& m : probed["models"]) {
      largest = std::max(largest, m["resident_bytes"].get<std::uint64_t>());
      total += m["resident_bytes"].get<std::uint64_t>();
    }
  }
  // Room for roughly half the zoo, at least the largest model.
  const std::uint64_t budget = std::max(largest + largest / 2, total / 2);
  ASSERT_LT(budget, total);
  ServerProcess server({"--memory", std::to_string(budget), "--policy", "lru"});
  ASSERT_GT(server.port(), 0) << server.log();
  std::vector<std::future<int>> answers;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t m = 0; m < names.size(); ++m) {
      answers.push_back(std::async(std::launch::async, [&, m] {
        auto c = server.client();
        auto res =
            c.Post(("/v2/models/" + names[m] + "/infer").c_str(), bodies[m], "application/json");
        return res ? res->status : -1;
      }));
    }
    for (auto& answer : answers) EXPECT_EQ(answer.get(), 200);
    answers.clear();
    const json cache = json::parse(server.client().Get("/v2/cache")->body);
    EXPECT_LE(cache["used_bytes"].get<std::uint64_t>(), budget);
  }
  const json cache = json::parse(server.client().Get("/v2/cache")->body);
  std::uint64_t evictions = 0;
  for (const auto& m : cache["models"]) evictions += m["evictions"].get<std::uint64_t>();
  EXPECT_GT(evictions, 0u);
  EXPECT_NE(server.log().find("evicted"), std::string::npos);
  EXPECT_EQ(server.terminate(), 0);
}

std::uint64_t rss_of(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// docs/server.md, "Process memory": what the server may hold beyond --process-memory (memory
// nobody charges: allocator free lists, thread stacks, libraries' caches; measured there).
constexpr std::uint64_t kProcessSlackBytes = 32ull << 20;

TEST(ServeZoo, AProcessLimitHoldsUnderABurst) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine and adds shadow memory: "
                  "RSS cannot be held to a limit";
#endif
  const auto names = zoo_models();
  ServerProcess server({"--memory", "1GiB", "--process-memory", "+24MiB", "--policy", "lru",
                        "--log-format", "json"});
  ASSERT_GT(server.port(), 0) << server.log();
  const json idle = json::parse(server.client().Get("/v2/cache")->body)["process_memory"];
  const std::uint64_t limit = idle["limit_bytes"].get<std::uint64_t>();
  const std::uint64_t baseline = idle["baseline_bytes"].get<std::uint64_t>();
  ASSERT_EQ(limit, baseline + (24ull << 20));
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> peak{0};
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max<std::uint64_t>(peak.load(), rss_of(server.pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::string> bodies;
  for (const auto& name : names) {
    auto meta = server.client().Get(("/v2/models/" + name).c_str());
    ASSERT_TRUE(meta && meta->status == 200) << name;
    bodies.push_back(body_for(json::parse(meta->body)));
  }
  std::vector<std::future<std::pair<int, bool>>> answers;
  for (int i = 0; i < 64; ++i) {
    const std::size_t m = static_cast<std::size_t>(i) % names.size();
    answers.push_back(std::async(std::launch::async, [&, m] {
      auto c = server.client();
      auto res =
          c.Post(("/v2/models/" + names[m] + "/infer").c_str(), bodies[m], "application/json");
      if (!res) return std::pair{-1, false};
      return std::pair{res->status, res->has_header("Retry-After")};
    }));
  }
  int ok = 0;
  for (auto& answer : answers) {
    const auto [status, retry] = answer.get();
    EXPECT_TRUE(status == 200 || (status == 503 && retry)) << status;
    ok += status == 200;
  }
  EXPECT_GT(ok, 0);
  done = true;
  sampler.join();
  EXPECT_LE(peak.load(), limit + kProcessSlackBytes)
      << "peak RSS " << peak.load() << ", limit " << limit << "\n"
      << server.client().Get("/v2/cache")->body;
  for (const auto& name : names) {
    EXPECT_EQ(
        server.client()
            .Post(("/v2/repository/models/" + name + "/unload").c_str(), "", "application/json")
            ->status,
        200);
  }
  // Every charge went back. RSS does not return to the idle baseline: libraries keep what they
  // initialised at their first load (libtorch's thread pools and allocator caches; docs/results.md,
  // "Process memory"), so it is held to the limit, not to the baseline.
  const json after = json::parse(server.client().Get("/v2/cache")->body)["process_memory"];
  EXPECT_EQ(after["charged"]["resting"].get<std::uint64_t>(), 0u) << after.dump();
  // The room kept for uncharged memory: at most half the buffers' quarter of the 24 MiB.
  EXPECT_LE(after["reserve_bytes"].get<std::uint64_t>(), (24ull << 20) / 8) << after.dump();
  EXPECT_LE(after["rss_bytes"].get<std::uint64_t>(), limit + kProcessSlackBytes) << after.dump();
  EXPECT_EQ(server.terminate(), 0);
}

// --learn-rate 0 keeps the catalog's load time for the policy to rank by (the simulator's); by
// default a measured load moves it. The catalog says 7.5 s, far from a tiny model's real load.
TEST(ServeZoo, LearnRateZeroKeepsTheCatalogsCosts) {
  const auto names = zoo_models();
  ASSERT_FALSE(names.empty());
  const fs::path catalog =
      fs::temp_directory_path() / ("brulee_learn_catalog_" + std::to_string(::getpid()) + ".json");
  json models = json::array();
  for (const auto& name : names) {
    models.push_back({{"name", name},
                      {"size_bytes", 1 << 20},
                      {"load_latency_s", 7.5},
                      {"exec_latency_s", 0.25},
                      {"unload_latency_s", 0.5}});
  }
  std::ofstream(catalog) << json{{"models", models}}.dump();
  for (const bool keep : {true, false}) {
    SCOPED_TRACE(keep ? "--learn-rate 0" : "default learn rate");
    std::vector<std::string> args{"--memory", "1GiB", "--catalog", catalog.string()};
    if (keep) args.insert(args.end(), {"--learn-rate", "0"});
    ServerProcess server(args);
    ASSERT_GT(server.port(), 0) << server.log();
    auto c = server.client();
    const std::string target = "/v2/repository/models/" + names.front() + "/load";
    auto load = c.Post(target.c_str(), "", "application/json");
    ASSERT_TRUE(load && load->status == 200) << server.log();
    const json cache = json::parse(c.Get("/v2/cache")->body);
    bool found = false;
    for (const auto& m : cache["models"]) {
      if (m["name"] != names.front()) continue;
      found = true;
      EXPECT_TRUE(m["resident"].get<bool>());
      const double learned = m["load_latency_s"].get<double>();
      if (keep) {
        EXPECT_EQ(learned, 7.5);
      } else {
        EXPECT_LT(learned, 7.5);  // 0.8 x 7.5 + 0.2 x a load of well under a second
        EXPECT_GT(learned, 0.0);
      }
    }
    EXPECT_TRUE(found) << cache.dump();
    EXPECT_EQ(server.terminate(), 0);
  }
  std::error_code ignored;
  fs::remove(catalog, ignored);
}

TEST(ServeZoo, ClassifiesAPngImage) {
  ServerProcess server({"--memory", "1GiB"});
  ASSERT_GT(server.port(), 0) << server.log();
  auto c = server.client();
  // The first model with one rank-4 3-channel FP32 input is an image classifier.
  std::string image_model;
  for (const auto& name : zoo_models()) {
    const json meta = json::parse(c.Get(("/v2/models/" + name).c_str())->body);
    if (meta["inputs"].size() == 1 && meta["inputs"][0]["shape"].size() == 4 &&
        meta["inputs"][0]["shape"][1] == 3) {
      image_model = name;
      break;
    }
  }
  ASSERT_FALSE(image_model.empty());
  cv::Mat image(48, 64, CV_8UC3, cv::Scalar(10, 120, 240));
  std::vector<unsigned char> png;
  ASSERT_TRUE(cv::imencode(".png", image, png));
  auto res = c.Post(("/v2/models/" + image_model + "/classify?top_k=3").c_str(),
                    std::string(png.begin(), png.end()), "image/png");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  ASSERT_EQ(body["classes"].size(), 3u);
  double previous = 1.0;
  for (const auto& cls : body["classes"]) {
    const double p = cls["probability"].get<double>();
    EXPECT_LE(p, previous);
    EXPECT_GE(p, 0.0);
    EXPECT_EQ(cls["label"], "class_" + std::to_string(cls["index"].get<int>()));  // config.json
    previous = p;
  }
  auto garbage =
      c.Post(("/v2/models/" + image_model + "/classify").c_str(), "not an image", "image/png");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
  EXPECT_EQ(server.terminate(), 0);
}

// The first CPU this process may not run on.
int cpu_outside_the_process() {
  const std::vector<int> allowed = brulee::runtime::allowed_cpus();
  int outside = 0;
  while (std::binary_search(allowed.begin(), allowed.end(), outside)) ++outside;
  return outside;
}

// --exec-cpus and --load-cpus place the real server's threads (every thread but the execution
// threads with the loaders), and it serves a real model so.
TEST(ServeZoo, ExecutionAndLoaderThreadsRunOnTheCpusGiven) {
  const auto names = zoo_models();
  ASSERT_FALSE(names.empty());
  const std::vector<int> allowed = brulee::runtime::allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  const std::string exec = std::to_string(allowed.back());
  const std::string load = std::to_string(allowed.front());
  ServerProcess server({"--memory", "1GiB", "--exec-cpus", exec, "--load-cpus", load});
  ASSERT_GT(server.port(), 0) << server.log();
  auto c = server.client();
  auto meta = c.Get(("/v2/models/" + names.front()).c_str());
  ASSERT_TRUE(meta && meta->status == 200) << server.log();
  auto res = c.Post(("/v2/models/" + names.front() + "/infer").c_str(),
                    body_for(json::parse(meta->body)), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  const auto found = test_support::task_cpus(std::to_string(server.pid()));
  long first_exec = -1;
  for (const auto& t : found) {
    if (t.name == "brulee-exec" && (first_exec < 0 || t.id < first_exec)) first_exec = t.id;
  }
  ASSERT_GT(first_exec, 0);
  int execs = 0, loaders = 0;
  for (const auto& t : found) {
    if (t.name == "brulee-exec") {
      ++execs;
      EXPECT_EQ(t.cpus, exec);
    } else if (t.id > first_exec) {
      // The loader, and every thread started after the scheduler's (network, gRPC, signals):
      // the execution threads keep their CPU to themselves. Threads the libraries start when
      // they are loaded, before the command line is read (OpenBLAS's pool), are not placed.
      loaders += t.name == "brulee-load" ? 1 : 0;
      EXPECT_EQ(t.cpus, load) << t.name;
    }
  }
  EXPECT_EQ(execs, 2);  // the defaults: two execution threads, one loader
  EXPECT_EQ(loaders, 1);
  EXPECT_NE(server.log().find(" exec_cpus=" + exec + " load_cpus=" + load), std::string::npos)
      << server.log();
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

TEST(ServeZoo, BadCommandLinesExitTwo) {
  const std::string binary = BRULEE_BINARY;
  const std::string zoo = BRULEE_TINY_ZOO_DIR;
  for (const std::string& args : std::vector<std::string>{
           " serve --repo /nonexistent/dir",
           " serve --repo " + zoo + " --policy nope",
           " serve --repo " + zoo + " --memory 12XB",
           " serve --repo " + zoo + " --log-format xml",
           " serve --repo " + zoo + " --request-timeout nan",
           " serve --repo " + zoo + " --request-timeout inf",
           " serve --repo " + zoo + " --request-timeout 1e10",
           " serve --repo " + zoo + " --drain-timeout -1",
           " serve --repo " + zoo + " --host 999.1.1.1",
           " serve --repo " + zoo + " --http-threads 0",
           " serve --repo " + zoo + " --max-inflight-bytes 1KiB",
           " serve --repo " + zoo + " --process-memory 50%",
           " serve --repo " + zoo + " --prefetch --process-memory +64MiB",
           " serve --repo " + zoo + " --learn-rate 1.5",
           " serve --repo " + zoo + " --learn-rate nan",
           " serve --repo " + zoo + " --exec-cpus 0 --intra-op-threads 0",
           " serve --repo " + zoo + " --load-cpus 0 --intra-op-threads 2",
           " serve --repo " + zoo + " --exec-cpus 0 --inline-exec-max-ms 1",
           " serve --repo " + zoo + " --exec-cpus 1-0",
           " serve --repo " + zoo + " --load-cpus x",
           " serve --repo " + zoo + " --exec-cpus " + std::to_string(cpu_outside_the_process()),
           " serve --repo " + zoo + " --load-cpus 0,"}) {
    EXPECT_EQ(test_support::run_binary(test_support::words(binary + args)).exit_code, 2) << args;
  }
}

TEST(ServeZoo, ASecondServerOnAPortInUseExitsOne) {
  const std::string zoo = BRULEE_TINY_ZOO_DIR;
  ServerProcess first({"--memory", "64MiB"});
  ASSERT_GT(first.port(), 0);
  const auto second = test_support::run_binary({BRULEE_BINARY, "serve", "--repo", zoo, "--port",
                                                std::to_string(first.port()), "--grpc-port", "0"});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_EQ(first.terminate(), 0);
}

}  // namespace
