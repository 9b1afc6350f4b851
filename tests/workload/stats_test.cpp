// Trace statistics on small traces whose answers are worked out by hand.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "test_util.hpp"
#include "workload/stats.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {
namespace {

using testing::TempDir;

// a at 0, b at 10, a at 20, c at 30, b at 40, a at 200 (seconds)
const char* kTrace = "request_id,time_s,model\n0,0,a\n1,10,b\n2,20,a\n3,30,c\n4,40,b\n5,200,a\n";

TEST(Stats, HandComputedSmallTrace) {
  TempDir dir;
  const std::string path = dir.write("t.csv", kTrace);
  StatsOptions options;
  options.window_s = 60;
  const TraceStats s = compute_stats(path, options);
  EXPECT_EQ(s.requests, 6u);
  EXPECT_EQ(s.models_used, 3u);
  EXPECT_DOUBLE_EQ(s.last_time_s, 200.0);
  EXPECT_DOUBLE_EQ(s.mean_rate_per_s, 6.0 / 200.0);
  EXPECT_DOUBLE_EQ(s.requests_per_model.max, 3.0);
  EXPECT_DOUBLE_EQ(s.requests_per_model.min, 1.0);
  EXPECT_DOUBLE_EQ(s.top1_share, 0.5);
  // Reuse distances: a@20 saw {b} -> 1; b@40 saw {a, c} -> 2; a@200 saw {c, b} -> 2. 3 cold.
  EXPECT_EQ(s.cold_requests, 3u);
  EXPECT_EQ(s.reuse_distance.count, 3u);
  EXPECT_DOUBLE_EQ(s.reuse_distance.min, 1.0);
  EXPECT_DOUBLE_EQ(s.reuse_distance.max, 2.0);
  EXPECT_DOUBLE_EQ(s.reuse_distance.p50, 2.0);
  // Inter-arrivals 10,10,10,10,160: p50 ~ 10 (log-binned, within 0.6%), max exact.
  EXPECT_NEAR(s.interarrival_s.p50, 10.0, 0.06);
  EXPECT_DOUBLE_EQ(s.interarrival_s.max, 160.0);
  // Minutes 0..3 (4 minutes): a busy in minutes 0 and 3, b and c in minute 0 only.
  EXPECT_EQ(s.minutes, 4u);
  EXPECT_DOUBLE_EQ(s.models[0].idle_fraction, 0.5);   // a
  EXPECT_DOUBLE_EQ(s.models[1].idle_fraction, 0.75);  // b
  EXPECT_DOUBLE_EQ(s.share_idle_90pct, 0.0);
  // Working set with W = 60 s sampled at 60, 120, 180 and at the end (200):
  // {a,b,c} at 60 (a@20 > 0), {} at 120 (b@40 is not > 60), {} at 180, {a} at 200.
  ASSERT_EQ(s.working_set.size(), 4u);
  EXPECT_EQ(s.working_set[0].models, 3u);
  EXPECT_EQ(s.working_set[1].models, 0u);
  EXPECT_EQ(s.working_set[2].models, 0u);
  EXPECT_EQ(s.working_set[3].models, 1u);
  EXPECT_FALSE(s.has_sizes);
}

TEST(Stats, WorkingSetBytesWithACatalog) {
  TempDir dir;
  const std::string path = dir.write("t.csv", kTrace);
  StatsOptions options;
  Catalog catalog;
  catalog.add(ModelInfo{"c", 300, 1, 1, 0});
  catalog.add(ModelInfo{"b", 20, 1, 1, 0});
  catalog.add(ModelInfo{"a", 1, 1, 1, 0});
  catalog.add(ModelInfo{"unused", 4000, 1, 1, 0});
  options.catalog = catalog;
  const TraceStats s = compute_stats(path, options);
  EXPECT_TRUE(s.has_sizes);
  EXPECT_EQ(s.models_in_table, 4u);
  EXPECT_EQ(s.models[3].requests, 0u);
  EXPECT_DOUBLE_EQ(s.models[3].idle_fraction, 1.0);
  EXPECT_EQ(s.working_set[0].bytes, 321u);
  EXPECT_EQ(s.working_set[3].bytes, 1u);
  EXPECT_DOUBLE_EQ(s.working_set_bytes.max, 321.0);
  EXPECT_EQ(s.catalog_bytes, 4321u);
  const std::string json = stats_json(s);
  EXPECT_NE(json.find("\"working_set\""), std::string::npos);
  EXPECT_NE(json.find("\"idle_fraction\""), std::string::npos);
  const std::string table = stats_table(s);
  EXPECT_NE(table.find("requests     6"), std::string::npos) << table;
}

TEST(Stats, UnknownModelAgainstCatalogNamesTheLine) {
  TempDir dir;
  const std::string path = dir.write("t.csv", kTrace);
  StatsOptions options;
  Catalog catalog;
  catalog.add(ModelInfo{"a", 1, 1, 1, 0});
  catalog.add(ModelInfo{"b", 1, 1, 1, 0});
  options.catalog = catalog;
  try {
    compute_stats(path, options);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 5u);  // c at line 5
    EXPECT_NE(std::string(e.what()).find("unknown model 'c'"), std::string::npos);
  }
}

TEST(Stats, StackDistanceSurvivesSlotCompaction) {
  // Many requests over few models force the slot table to be renumbered many times; a cyclic
  // pattern over k models has reuse distance exactly k - 1 every time.
  TempDir dir;
  const std::vector<std::string> names = {"m0", "m1", "m2", "m3", "m4"};
  {
    TraceWriter writer(dir.file("t.bin"), TraceFormat::kBinary, names);
    for (std::uint64_t i = 0; i < 50000; ++i)
      writer.write(TraceRecord{i, static_cast<double>(i), static_cast<ModelId>(i % 5)});
    writer.close();
  }
  const TraceStats s = compute_stats(dir.file("t.bin"), StatsOptions{});
  EXPECT_EQ(s.cold_requests, 5u);
  EXPECT_DOUBLE_EQ(s.reuse_distance.min, 4.0);
  EXPECT_DOUBLE_EQ(s.reuse_distance.max, 4.0);
}

}  // namespace
}  // namespace brulee::workload
