// `brulee zoo` and `brulee profile` as a user runs them: exit codes, one-line errors, the catalog.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_binary.hpp"
#include "runtime/cpus.hpp"
#include "runtime/zoo_locator.hpp"
#include "test_util.hpp"
#include "workload/catalog.hpp"

namespace brulee::runtime {
namespace {

using test_support::RunResult;

RunResult brulee(std::vector<std::string> args) {
  args.insert(args.begin(), BRULEE_BINARY);
  return test_support::run_binary(args);
}

void expect_one_line_error(const RunResult& result, const std::string& needle) {
  EXPECT_EQ(result.exit_code, 2) << result.err;
  ASSERT_FALSE(result.err.empty());
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
  EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
}

// The runtime commands live in a plugin beside the binary (src/cli/CMakeLists.txt). A copy of
// the binary alone still runs every other command, and a runtime command fails in one line.
RunResult capture(const std::filesystem::path& binary, const std::string& args) {
  auto argv = test_support::words(args);
  argv.insert(argv.begin(), binary.string());
  return test_support::run_binary(argv);
}

// `policies --demo` simulates every registered policy (pure cache mode) on one generated trace:
// one row per policy, hit ratios in [0, 1]; with the whole footprint as memory every policy
// loads each model once, so all rows agree.
TEST(RuntimeCli, PoliciesDemoHasARowPerPolicy) {
  const auto listing = capture(BRULEE_BINARY, "policies");
  ASSERT_EQ(listing.exit_code, 0) << listing.err;
  std::vector<std::string> names;
  for (std::size_t at = 0; at < listing.out.size();) {
    const auto end = listing.out.find('\n', at);
    const std::string line = listing.out.substr(at, end - at);
    if (!line.empty()) names.push_back(line.substr(0, line.find(' ')));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  ASSERT_GE(names.size(), 15u);
  for (const char* memory : {"0.3", "1"}) {
    const auto demo = capture(BRULEE_BINARY, std::string("policies --demo --requests 3000 "
                                                         "--models 40 --seed 5 --memory ") +
                                                 memory);
    ASSERT_EQ(demo.exit_code, 0) << demo.err;
    EXPECT_NE(demo.out.find("3000 requests, 40 models"), std::string::npos) << demo.out;
    std::set<std::string> rows;
    for (const auto& name : names) {
      const auto at = demo.out.find("\n" + name + " ");
      ASSERT_NE(at, std::string::npos) << name << "\n" << demo.out;
      double hit_ratio = -1, load_s = -1;
      unsigned long long evictions = 0;
      ASSERT_EQ(std::sscanf(demo.out.c_str() + at + 1 + name.size(), "%lf %llu %lf", &hit_ratio,
                            &evictions, &load_s),
                3)
          << name;
      EXPECT_GE(hit_ratio, 0.0);
      EXPECT_LE(hit_ratio, 1.0);
      if (std::string(memory) == "1") {
        EXPECT_EQ(evictions, 0u) << name;
        rows.insert(std::to_string(hit_ratio) + " " + std::to_string(load_s));
      }
    }
    if (std::string(memory) == "1") {
      EXPECT_EQ(rows.size(), 1u);  // every policy alike
    }
  }
  expect_one_line_error(capture(BRULEE_BINARY, "policies --demo --memory 0"), "--memory");
}

TEST(RuntimeCli, OnlyTheRuntimeCommandsNeedThePlugin) {
  testing::TempDir dir;
  const auto lone = dir.path() / "brulee";
  std::filesystem::copy_file(BRULEE_BINARY, lone);
  const auto policies = capture(lone, "policies");
  EXPECT_EQ(policies.exit_code, 0) << policies.err;
  EXPECT_NE(policies.out.find("cremebrulee"), std::string::npos);
  const auto listing = capture(lone, "--help");  // goes on without the runtime commands
  EXPECT_EQ(listing.exit_code, 0) << listing.err;
  EXPECT_NE(listing.out.find("  simulate "), std::string::npos);
  EXPECT_EQ(listing.out.find("  serve "), std::string::npos);
  const auto serve = capture(lone, "serve --help");
  EXPECT_EQ(serve.exit_code, 1);
  EXPECT_EQ(serve.err.find('\n'), serve.err.size() - 1) << serve.err;
  EXPECT_NE(serve.err.find("'serve' needs the runtime plugin"), std::string::npos) << serve.err;
  // Beside the plugin, every command is there.
  const auto full = capture(BRULEE_BINARY, "--help");
  EXPECT_EQ(full.exit_code, 0) << full.err;
  for (const char* command : {"  serve ", "  zoo ", "  profile ", "  simulate "}) {
    EXPECT_NE(full.out.find(command), std::string::npos) << command;
  }
}

TEST(RuntimeCli, ZooRejectsBadOptionsWithOneLine) {
  testing::TempDir dir;
  const auto out = (dir.path() / "zoo").string();
  expect_one_line_error(brulee({"zoo", "--tiny", "--families", "bogus", "--out", out}),
                        "unknown family 'bogus'");
  expect_one_line_error(brulee({"zoo", "--models", "resnet9000", "--out", out}),
                        "unknown architecture 'resnet9000'");
  expect_one_line_error(brulee({"zoo", "--format", "tflite", "--out", out}), "--format");
  expect_one_line_error(brulee({"zoo", "--budget", "lots", "--out", out}), "lots");
  expect_one_line_error(brulee({"zoo", "--tiny"}), "--out");
}

TEST(RuntimeCli, ZooWithoutAnInterpreterFailsClearly) {
  testing::TempDir dir;
  const auto result =
      brulee({"zoo", "--tiny", "--python", "/nonexistent/python3", "--out", dir.path().string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("cannot run /nonexistent/python3"), std::string::npos) << result.err;
}

TEST(RuntimeCli, ZooHonoursTheBudget) {
  testing::TempDir dir;
  // A budget smaller than any tiny model: everything is skipped, nothing written but the catalog.
  const auto out = dir.path() / "zoo";
  const auto result =
      brulee({"zoo", "--tiny", "--budget", "1KiB", "--format", "onnx", "--out", out.string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  std::ifstream in(out / "zoo_catalog.json");
  const auto catalog = nlohmann::json::parse(in);
  EXPECT_TRUE(catalog["models"].empty());
  EXPECT_FALSE(std::filesystem::exists(out / "tiny_cnn-onnx"));
}

TEST(RuntimeCli, ProfileWritesACatalogTheSimulatorReads) {
  testing::TempDir dir;
  const auto out = (dir.path() / "catalog.json").string();
  const auto result = brulee({"profile", "--repo", testing::tiny_zoo(), "--runs", "2", "--execs",
                              "1", "--models", "tiny_resnet-onnx,tiny_densenet-pt", "--format",
                              "paper", "--out", out, "--quiet", "--cold-pause", "0.02"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto catalog = workload::load_catalog(out);
  ASSERT_EQ(catalog.models.size(), 2u);
  for (const auto& model : catalog.models) {
    EXPECT_GT(model.size_bytes, 0u);
    EXPECT_GT(model.load_latency_s, 0);
    EXPECT_GT(model.exec_latency_s, 0);
    EXPECT_GT(model.unload_latency_s, 0);
  }
  ASSERT_TRUE(catalog.find("tiny_resnet-onnx").has_value());
  const auto& percentiles = catalog.percentiles[*catalog.find("tiny_resnet-onnx")];
  EXPECT_TRUE(percentiles.contains("load_latency_p95_s"));
  EXPECT_TRUE(percentiles.contains("exec_latency_p50_s"));
  // Each model's cold inferences, after the other's (docs/fidelity.md).
  for (std::size_t m = 0; m < catalog.models.size(); ++m) {
    EXPECT_GT(catalog.interference[m].exec_cold_s, 0.0) << catalog.models[m].name;
    // With the pause it followed (--cold-pause), which scales it in the simulator.
    EXPECT_DOUBLE_EQ(catalog.interference[m].exec_cold_pause_s, 0.02) << catalog.models[m].name;
  }
  std::ifstream in(out);
  const auto json = nlohmann::json::parse(in);
  EXPECT_TRUE(json["models"][0].contains("avg_load_latency"));
  EXPECT_TRUE(json["models"][0].contains("loaded_size"));
}

TEST(RuntimeCli, ProfileWithDisjointCpusWritesACatalog) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  testing::TempDir dir;
  const auto out = (dir.path() / "catalog.json").string();
  const auto result = brulee({"profile",
                              "--repo",
                              testing::tiny_zoo(),
                              "--runs",
                              "1",
                              "--execs",
                              "1",
                              "--models",
                              "tiny_cnn-onnx,tiny_densenet-pt",
                              "--threads",
                              "1",
                              "--exec-cpus",
                              std::to_string(cpus.back()),
                              "--load-cpus",
                              std::to_string(cpus.front()),
                              "--out",
                              out,
                              "--quiet",
                              "--cold-pause",
                              "0.02"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(workload::load_catalog(out).models.size(), 2u);
}

TEST(RuntimeCli, ProfileRejectsBadInputWithOneLine) {
  expect_one_line_error(brulee({"profile", "--repo", "/nonexistent/repo"}), "not a directory");
  expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), "--models", "../etc"}),
                        "'..'");
  expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), "--models", "nope"}),
                        "no model 'nope'");
  expect_one_line_error(
      brulee({"profile", "--repo", testing::tiny_zoo(), "--models", "tiny_cnn-onnx,,nope"}),
      "empty item in --models list 'tiny_cnn-onnx,,nope'");
  expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), "--runs", "0"}),
                        "--runs");
  expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), "--format", "keras"}),
                        "--format");
  expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), "--exec-cpus", "0"}),
                        "--threads 1");
  expect_one_line_error(
      brulee({"profile", "--repo", testing::tiny_zoo(), "--threads", "1", "--load-cpus", "2-1"}),
      "--load-cpus");
  // A negative count would wrap to a huge unsigned one.
  for (const char* option : {"--runs", "--execs", "--crowd"}) {
    expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), option, "-1"}), option);
  }
  for (const char* pause : {"-1", "61", "nan"}) {
    expect_one_line_error(brulee({"profile", "--repo", testing::tiny_zoo(), "--cold-pause", pause}),
                          "--cold-pause");
  }
}

TEST(RuntimeCli, ProfileOfABrokenModelExitsOneAndStillWritesTheRest) {
  testing::TempDir dir;
  testing::write_file(dir.path() / "repo" / "broken" / "1" / "model.pt", "garbage");
  testing::write_file(dir.path() / "repo" / "fine" / "1" / "model.onnx",
                      testing::read_file(testing::tiny_model_path("tiny_cnn-onnx")));
  const auto out = (dir.path() / "catalog.json").string();
  const auto result = brulee({"profile", "--repo", (dir.path() / "repo").string(), "--runs", "1",
                              "--out", out, "--quiet"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("broken failed"), std::string::npos) << result.err;
  EXPECT_EQ(workload::load_catalog(out).models.size(), 1u);
}

}  // namespace
}  // namespace brulee::runtime
