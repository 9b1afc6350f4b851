// `brulee simulate` end to end, through the real binary: outputs, byte-for-byte determinism,
// and bad input answered with exit code 2 and one line on stderr.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/rng.hpp"
#include "workload/catalog.hpp"
#include "workload/trace.hpp"

using namespace brulee;

namespace {

std::filesystem::path test_dir() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("brulee_sim_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliRun run(const std::string& args) {
  static int counter = 0;
  const auto dir = test_dir();
  const auto out = dir / ("out" + std::to_string(counter) + ".txt");
  const auto err = dir / ("err" + std::to_string(counter++) + ".txt");
  const std::string command =
      std::string(BRULEE_BINARY) + " simulate " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  CliRun result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out);
  result.err = read_file(err);
  return result;
}

// A Zipf-ish trace over the paper's catalog, binary.
std::string paper_trace() {
  const auto path = test_dir() / "paper.bin";
  if (std::filesystem::exists(path)) return path.string();
  const workload::Catalog catalog = workload::paper_catalog();
  std::vector<std::string> names;
  for (const auto& m : catalog.models) names.push_back(m.name);
  workload::TraceWriter writer(path.string(), workload::TraceFormat::kBinary, names);
  Rng rng(11);
  double time_s = 0;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    time_s += rng.exponential(2.0);
    const auto a = rng.below(names.size()), b = rng.below(names.size());
    writer.write({i, time_s, static_cast<ModelId>(std::min(a, b))});
  }
  writer.close();
  return path.string();
}

TEST(SimCli, SingleRunJsonSummary) {
  const CliRun r =
      run("--trace " + paper_trace() + " --catalog paper --memory 25% --policy lru --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["policy"], "lru");
  EXPECT_EQ(json["requests"], 3000);
  EXPECT_EQ(json["hits"].get<std::uint64_t>() + json["misses"].get<std::uint64_t>(), 3000u);
  EXPECT_GT(json["mean_load_delay_s"].get<double>(), 0.0);
  EXPECT_LE(json["bound_load_cost_s"].get<double>(), json["load_cost_s"].get<double>());
  EXPECT_EQ(json["mode"], "queueing");
}

// --prefetch adds its counters to the JSON (consistent with each other); without it, none.
// Pure cache mode: this trace keeps a serial worker busy, so its lane is never idle.
TEST(SimCli, PrefetchReportsItsCounters) {
  const std::string args =
      "--trace " + paper_trace() + " --catalog paper --memory 25% --json --no-queueing";
  const CliRun off = run(args + " --policy predictive");
  const CliRun on = run(args + " --policy predictive --prefetch");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  ASSERT_EQ(on.exit_code, 0) << on.err;
  const auto a = nlohmann::json::parse(off.out);
  const auto b = nlohmann::json::parse(on.out);
  EXPECT_FALSE(a.contains("prefetches"));
  ASSERT_TRUE(b.contains("prefetches"));
  const auto made = b["prefetches"].get<std::uint64_t>();
  EXPECT_GT(made, 0u);
  EXPECT_LE(b["prefetches_used"].get<std::uint64_t>(), made);
  EXPECT_EQ(b["prefetches_cancelled"].get<std::uint64_t>(), 0u);  // no lane to cancel on
  EXPECT_LE(b["prefetch_wasted_s"].get<double>(), b["prefetch_load_s"].get<double>() + 1e-9);
  EXPECT_EQ(a["requests"], b["requests"]);
}

TEST(SimCli, SweepIsByteForByteDeterministicWithReport) {
  const auto dir = test_dir();
  const std::string args = "--trace " + paper_trace() +
                           " --catalog paper --memory 20%,40%,60% --policy lru,random,cremebrulee "
                           "--sweep --seed 4 --latency sampled --threads 2";
  const CliRun a = run(args + " --json --csv " + (dir / "a.csv").string() + " --report " +
                       (dir / "report_a").string());
  const CliRun b = run(args + " --json --csv " + (dir / "b.csv").string() + " --report " +
                       (dir / "report_b").string());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(read_file(dir / "a.csv"), read_file(dir / "b.csv"));
  EXPECT_EQ(read_file(dir / "report_a" / "index.html"), read_file(dir / "report_b" / "index.html"));
  const auto json = nlohmann::json::parse(a.out);
  EXPECT_EQ(json["results"].size(), 9u);
  const CliRun other_seed = run(args + " --json --seed 5");
  EXPECT_NE(other_seed.out, a.out);
}

TEST(SimCli, RequestsOutHasOneRowPerRequest) {
  const auto path = test_dir() / "requests.csv";
  const CliRun r = run("--trace " + paper_trace() +
                       " --memory 2GiB --policy cremebrulee "
                       "--parallel-load --requests-out " +
                       path.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  // The columns `brulee replay --out` writes too (core/timeline_csv.hpp), then the worker.
  EXPECT_EQ(line,
            "index,model,hit,arrival_s,load_start_s,ready_s,start_s,end_s,load_delay_s,"
            "queue_delay_s,exec_s,latency_s,worker");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 3000);
  EXPECT_NE(r.out.find("hit ratio"), std::string::npos);
}

TEST(SimCli, ParallelLoadUsesTheCatalogsInterferenceFigures) {
  // The paper's catalog, then the same with every model's inference 2x slower beside a load.
  const auto dir = test_dir();
  workload::Catalog catalog = workload::load_catalog("paper");
  workload::write_catalog((dir / "plain.json").string(), catalog);
  for (std::size_t m = 0; m < catalog.models.size(); ++m) {
    catalog.interference[m].exec_beside_load_s = 2 * catalog.models[m].exec_latency_s;
  }
  workload::write_catalog((dir / "slowed.json").string(), catalog);
  const std::string args = "--trace " + paper_trace() + " --memory 30% --policy lru --json ";
  const auto mean_exec = [&](const std::string& more) {
    const CliRun r = run(args + more);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["mean_exec_s"].get<double>();
  };
  const double plain = mean_exec("--parallel-load --catalog " + (dir / "plain.json").string());
  EXPECT_EQ(plain, mean_exec("--parallel-load --catalog paper"));  // no figures: as before
  EXPECT_GT(mean_exec("--parallel-load --catalog " + (dir / "slowed.json").string()), plain);
  // The serial worker never loads beside an inference: the figures change nothing there.
  EXPECT_EQ(mean_exec("--catalog " + (dir / "slowed.json").string()),
            mean_exec("--catalog " + (dir / "plain.json").string()));
}

TEST(SimCli, BoundFlagNamesTheBoundInEveryOutput) {
  const auto dir = test_dir();
  const std::string args = "--trace " + paper_trace() + " --catalog paper --policy lru ";
  const auto bound_of = [&](const std::string& more) {
    const CliRun r = run(args + "--memory 30% --json " + more);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  // 3,000 requests: the default is the flow bound.
  const auto by_default = bound_of("");
  EXPECT_EQ(by_default["bound"], "flow");
  const auto flow = bound_of("--bound flow");
  const auto interval = bound_of("--bound interval");
  EXPECT_EQ(flow, by_default);
  EXPECT_EQ(interval["bound"], "interval");
  EXPECT_GE(flow["bound_load_cost_s"].get<double>(),
            interval["bound_load_cost_s"].get<double>() * (1 - 1e-9));
  EXPECT_LE(flow["bound_load_cost_s"].get<double>(), flow["load_cost_s"].get<double>());
  // The flow bound's schedule bounds the optimum from above; the other bounds have none.
  EXPECT_GE(flow["schedule_load_cost_s"].get<double>(), flow["bound_load_cost_s"].get<double>());
  EXPECT_NEAR(flow["cost_over_schedule"].get<double>(),
              flow["load_cost_s"].get<double>() / flow["schedule_load_cost_s"].get<double>(), 1e-9);
  EXPECT_FALSE(interval.contains("schedule_load_cost_s"));
  const auto none = bound_of("--bound none");
  EXPECT_EQ(none["bound"], "none");
  EXPECT_TRUE(none["bound_load_cost_s"].is_null());
  EXPECT_EQ(bound_of("--no-bound"), none);
  // Text, CSV and the sweep's JSON say it too.
  const CliRun text = run(args + "--memory 30% --bound interval");
  EXPECT_NE(text.out.find("\nbound                        interval"), std::string::npos)
      << text.out;
  const CliRun sweep = run(args + "--sweep --memory 20%,40% --bound flow --json --csv " +
                           (dir / "bound.csv").string());
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const auto json = nlohmann::json::parse(sweep.out);
  EXPECT_EQ(json["bound"], "flow");
  for (const auto& result : json["results"]) EXPECT_EQ(result["bound"], "flow");
  const std::string csv = read_file(dir / "bound.csv");
  EXPECT_NE(csv.find(",cost_over_bound,bound,schedule_load_cost_s,cost_over_schedule\n"),
            std::string::npos)
      << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find(",flow,"), std::string::npos) << csv;
  // Without the flow bound the columns are as they were.
  const CliRun plain = run(args + "--sweep --memory 20%,40% --bound interval --csv " +
                           (dir / "interval.csv").string());
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const std::string interval_csv = read_file(dir / "interval.csv");
  EXPECT_NE(interval_csv.find(",cost_over_bound,bound\n"), std::string::npos) << interval_csv;
  EXPECT_NE(interval_csv.find(",interval\n"), std::string::npos) << interval_csv;
}

void expect_usage_error(const std::string& args, const std::string& mention) {
  const CliRun r = run(args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(mention), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// The progress line is for terminals only: with stderr a file, a sweep prints nothing there.
TEST(SimCli, NoProgressLineWhenStderrIsNotATerminal) {
  const CliRun r = run("--trace " + paper_trace() +
                       " --catalog paper --memory 20%,40% --policy lru,cremebrulee --sweep "
                       "--bound none");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(r.out.empty());
}

// On a terminal (a pseudo-terminal here) the same sweep draws its progress line on stderr and
// erases it at the end; stdout goes elsewhere and is unchanged.
TEST(SimCli, ProgressLineOnATerminal) {
  const std::string trace = paper_trace();
  int terminal = -1;
  const pid_t child = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    // Through a shell that keeps the terminal open a moment after brulee exits: Linux may
    // answer a read of the master with EIO, dropping unread output, once the slave closes.
    const std::string command = std::string(BRULEE_BINARY) + " simulate --trace " + trace +
                                " --catalog paper --memory 20%,40% --policy lru,cremebrulee "
                                "--sweep --bound none; status=$?; sleep 1; exit $status";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string seen;
  char buffer[4096];
  int status = 0;
  bool reaped = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const ssize_t n = ::read(terminal, buffer, sizeof buffer);
    if (n > 0) {
      seen.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EIO: no slave side open (the child has exited and closed it, or a read raced it). Done
    // once the child has exited and nothing more arrives.
    if (reaped || std::chrono::steady_clock::now() > give_up) break;
    reaped = ::waitpid(child, &status, WNOHANG) == child;
    if (!reaped) ::usleep(10'000);
  }
  ::close(terminal);
  if (!reaped) {
    ASSERT_EQ(::waitpid(child, &status, 0), child);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << seen;
  EXPECT_NE(seen.find("simulate: "), std::string::npos) << seen;
  EXPECT_NE(seen.find("/4 runs"), std::string::npos) << seen;
  EXPECT_NE(seen.find("requests/s"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\r\033[K"), std::string::npos) << "erased at the end: " << seen;
}

// --costs-catalog: the catalog itself as costs changes nothing; every load figure doubled keeps
// a cost-ranking policy's decisions (it ranks by --catalog's) and doubles the load cost, where the
// doubled catalog given as --catalog ranks alike (a uniform scale) but so do its loads; a costs
// catalog that lacks one of --catalog's models is a usage error.
TEST(SimCli, CostsCatalogTimesTheRunAndLeavesTheRanking) {
  const auto dir = test_dir();
  workload::Catalog catalog = workload::load_catalog("paper");
  workload::write_catalog((dir / "costs_plain.json").string(), catalog);
  // Costs that would rank otherwise: every load twice as long, the least requested model's
  // (the trace draws the lower of two ids) made the dearest by far.
  workload::Catalog reordered = catalog;
  for (auto& m : reordered.models) m.load_latency_s *= 2;
  reordered.models.back().load_latency_s *= 50;
  workload::write_catalog((dir / "costs_reordered.json").string(), reordered);
  const std::string args = "--trace " + paper_trace() + " --catalog " +
                           (dir / "costs_plain.json").string() +
                           " --memory 30% --policy cremebrulee --no-queueing --no-bound --json";
  const auto summary = [&](const std::string& more) {
    const CliRun r = run(args + more);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  };
  const auto plain = summary("");
  const auto same = summary(" --costs-catalog " + (dir / "costs_plain.json").string());
  EXPECT_EQ(same["hits"], plain["hits"]);
  EXPECT_EQ(same["load_cost_s"], plain["load_cost_s"]);
  EXPECT_EQ(same["latency_mean_s"], plain["latency_mean_s"]);
  const auto timed = summary(" --costs-catalog " + (dir / "costs_reordered.json").string());
  EXPECT_EQ(timed["hits"], plain["hits"]);  // ranked by --catalog's figures: the same decisions
  EXPECT_EQ(timed["loads"], plain["loads"]);
  EXPECT_GT(timed["load_cost_s"].get<double>(), 2 * plain["load_cost_s"].get<double>());
  // Ranked by the reordered figures themselves, the decisions change.
  const CliRun ranked =
      run("--trace " + paper_trace() + " --catalog " + (dir / "costs_reordered.json").string() +
          " --memory 30% --policy cremebrulee --no-queueing --no-bound --json");
  ASSERT_EQ(ranked.exit_code, 0) << ranked.err;
  EXPECT_NE(nlohmann::json::parse(ranked.out)["loads"], plain["loads"]);
  // Not the same models.
  workload::Catalog fewer;
  for (std::size_t m = 1; m < catalog.models.size(); ++m) fewer.add(catalog.models[m]);
  workload::write_catalog((dir / "costs_fewer.json").string(), fewer);
  expect_usage_error(args + " --costs-catalog " + (dir / "costs_fewer.json").string(),
                     "costs_fewer.json");
  workload::Catalog renamed = catalog;
  renamed.models[0].name = "NotInTheCatalog";
  workload::write_catalog((dir / "costs_renamed.json").string(), renamed);
  expect_usage_error(args + " --costs-catalog " + (dir / "costs_renamed.json").string(),
                     catalog.models[0].name);
}

TEST(SimCli, BadInputExitsTwoWithOneLine) {
  const std::string trace = paper_trace();
  expect_usage_error("--trace /nonexistent/t.bin --memory 1GiB", "/nonexistent/t.bin");
  expect_usage_error("--trace " + trace + " --memory 1GiB --policy nope", "nope");
  expect_usage_error("--trace " + trace + " --memory 12XB", "12XB");
  expect_usage_error("--trace " + trace + " --memory 1GiB --catalog /nonexistent/c.json",
                     "/nonexistent/c.json");
  expect_usage_error("--trace " + trace + " --memory 1GiB --no-queueing --parallel-load",
                     "--parallel-load");
  expect_usage_error("--trace " + trace + " --memory 1GiB,2GiB", "--sweep");
  expect_usage_error("--trace " + trace + " --memory 1KiB", "more than the memory");
  expect_usage_error("--trace " + trace + " --memory 1GiB --latency wobbly", "wobbly");
  expect_usage_error("--trace " + trace + " --memory 1GiB --prefetch --workers 2", "--prefetch");
  expect_usage_error("--trace " + trace + " --memory 1GiB --bound tight", "tight");
  expect_usage_error("--trace " + trace + " --memory 1GiB --no-bound --bound flow", "--no-bound");
  // A trace naming a model the catalog lacks.
  const auto unknown = test_dir() / "unknown.csv";
  std::ofstream(unknown) << "request_id,time_s,model\n0,0.5,NoSuchNet\n";
  expect_usage_error("--trace " + unknown.string() + " --memory 1GiB", "NoSuchNet");
  // A catalog that is not JSON.
  const auto bad_catalog = test_dir() / "bad.json";
  std::ofstream(bad_catalog) << "{ not json";
  expect_usage_error("--trace " + trace + " --memory 1GiB --catalog " + bad_catalog.string(),
                     bad_catalog.string());
}

}  // namespace
