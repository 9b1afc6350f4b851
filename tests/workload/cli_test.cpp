// `brulee workload ...` end to end: the real binary, its exit codes and its one-line errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "azure_files.hpp"
#include "run_binary.hpp"
#include "test_util.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {
namespace {

using testing::read_file;
using testing::TempDir;

using CliResult = test_support::RunResult;

CliResult run(const TempDir&, const std::string& args) {
  return test_support::run_binary(
      test_support::words(std::string(BRULEE_BINARY) + " workload " + args));
}

void expect_usage_error(const CliResult& r, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
}

TEST(WorkloadCli, SynthStatsConvertRoundTrip) {
  TempDir dir;
  CliResult r = run(dir, "synth --requests 5000 --zipf 0.8 --seed 3 --out " + dir.file("t.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("requests    5000"), std::string::npos) << r.out;
  EXPECT_FALSE(read_file(dir.file("t.catalog.json")).empty());
  r = run(dir, "convert " + dir.file("t.bin") + " " + dir.file("t.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run(dir, "convert --catalog " + dir.file("t.catalog.json") + " " + dir.file("t.csv") + " " +
                   dir.file("u.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dir.file("t.bin")),
            read_file(dir.file("u.bin")));  // byte-identical round trip
  r = run(dir, "stats --json --catalog " + dir.file("t.catalog.json") + " " + dir.file("t.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"requests\": 5000"), std::string::npos);
  r = run(dir, "stats " + dir.file("t.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("working set"), std::string::npos);
  r = run(dir, "check --catalog paper " + dir.file("t.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ok, 5000 requests"), std::string::npos);
}

// The converters' progress line is for terminals only: with stderr a file they print nothing
// there.
TEST(WorkloadCli, NoProgressLineWhenStderrIsNotATerminal) {
  TempDir dir;
  CliResult r = run(
      dir, "synth --requests 200000 --popularity azure --timers 0.16 --out " + dir.file("t.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("timers"), std::string::npos) << r.out;
  r = run(dir, "convert " + dir.file("t.bin") + " " + dir.file("t.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string day =
      dir.write("d01.csv", testing::azure2019_file({{"o", "a", "f1", "http", {{1, 3}, {2, 1}}}}));
  r = run(dir, "azure2019 --input " + day + " --out " + dir.file("a.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(WorkloadCli, Azure2019EndToEnd) {
  TempDir dir;
  const std::string day =
      dir.write("d01.csv", testing::azure2019_file({{"o", "a", "f1", "http", {{1, 3}, {2, 1}}},
                                                    {"o", "a", "f2", "queue", {{1, 2}}}}));
  const CliResult r =
      run(dir, "azure2019 --input " + day +
                   " --trigger all --minutes 1-2 --mapping quantiles --catalog paper --out " +
                   dir.file("t.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("requests    6"), std::string::npos) << r.out;
  EXPECT_EQ(read_trace(dir.file("t.csv")).size(), 6u);
}

TEST(WorkloadCli, BadInputExitsTwoWithOneLine) {
  TempDir dir;
  expect_usage_error(run(dir, "stats " + dir.file("missing.csv")), "missing.csv: no such file");
  dir.write("empty.csv", "");
  expect_usage_error(run(dir, "stats " + dir.file("empty.csv")), "empty.csv: empty file");
  dir.write("unsorted.csv", "request_id,time_s,model\n0,5,a\n1,4,a\n");
  expect_usage_error(run(dir, "check " + dir.file("unsorted.csv")),
                     "unsorted.csv:3: trace is not sorted");
  dir.write("cols.csv", "request_id,time_s,model\n0,5\n");
  expect_usage_error(run(dir, "check " + dir.file("cols.csv")), "cols.csv:2: expected 3 columns");
  dir.write("num.csv", "request_id,time_s,model\n0,five,a\n");
  expect_usage_error(run(dir, "convert " + dir.file("num.csv") + " " + dir.file("out.bin")),
                     "num.csv:2:");
  dir.write("unknown.csv", "request_id,time_s,model\n0,1,ResNet50\n1,2,NoSuchNet\n");
  expect_usage_error(run(dir, "stats --catalog paper " + dir.file("unknown.csv")),
                     "unknown.csv:3: unknown model 'NoSuchNet'");
  std::string bad_day =
      testing::azure2019_header() + testing::azure2019_row({"o", "a", "f", "http", {{5, 1}}});
  bad_day.insert(bad_day.rfind(",http,") + 6 + 8, "-");  // minute 5: "-1"
  dir.write("bad_day.csv", bad_day);
  expect_usage_error(
      run(dir, "azure2019 --input " + dir.file("bad_day.csv") + " --out " + dir.file("t.csv")),
      "bad_day.csv:2: minute 5: count '-1'");
  expect_usage_error(run(dir, "azure2019 --input " + dir.file("bad_day.csv") +
                                  " --minutes 5-2 --out " + dir.file("t.csv")),
                     "--minutes");
  expect_usage_error(run(dir, "synth --out " + dir.file("t.bin")), "--requests");
  expect_usage_error(run(dir, "synth --requests lots --out " + dir.file("t.bin")),
                     "--requests: 'lots'");
  expect_usage_error(run(dir, "synth --requests 10 --catalog " + dir.file("nope.json") + " --out " +
                                  dir.file("t.bin")),
                     "no such file");
  expect_usage_error(run(dir, "synth --requests 10 --mapping x --out " + dir.file("t.bin")), "");
  dir.write("in.txt", "app,func,end_timestamp,duration\na,f,1,x\n");
  expect_usage_error(
      run(dir, "azure2021 --input " + dir.file("in.txt") + " --out " + dir.file("t.csv")),
      "in.txt:2: duration 'x'");
}

}  // namespace
}  // namespace brulee::workload
