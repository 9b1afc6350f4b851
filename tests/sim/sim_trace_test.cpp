// The simulator's inputs and plumbing: next-use indices, trace loading through the workload
// reader (CSV and binary, name mapping, errors), the latency histogram, and sweep determinism.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "sim/latency_histogram.hpp"
#include "sim/output.hpp"
#include "sim/read_ahead.hpp"
#include "sim/sweep.hpp"
#include "sim_test_util.hpp"
#include "workload/trace.hpp"

using namespace brulee;
using namespace brulee::sim;
using namespace brulee::sim::testing;

namespace {

std::string temp_path(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("brulee_sim_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(SimTrace, NextUseIsTheModelsNextRequest) {
  CompactTrace trace;
  for (ModelId m : {0u, 1u, 0u, 2u, 1u, 0u}) trace.push_back(m, 0.0);
  compute_next_use(trace, 3);
  const Column<std::uint32_t> expected = {2, 4, 5, kNoNextUse, kNoNextUse, kNoNextUse};
  EXPECT_EQ(trace.next_use, expected);
  CompactTrace bad;
  bad.push_back(7, 0.0);
  EXPECT_THROW(compute_next_use(bad, 3), UsageError);
}

TEST(SimTrace, ValidateNamesTheBadRequest) {
  CompactTrace trace;
  trace.push_back(0, 1.0);
  trace.push_back(1, 0.5);
  try {
    validate_trace(trace, 2, "t.csv");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("request 1"), std::string::npos) << e.what();
  }
}

TEST(SimTrace, LoadsCsvAndBinaryMappingNamesToCatalogIds) {
  // The trace names models in its own order; the catalog orders them differently.
  const ModelTable models = {model("alpha", 1, 1, 1), model("beta", 1, 1, 1),
                             model("gamma", 1, 1, 1)};
  for (auto format : {workload::TraceFormat::kCsv, workload::TraceFormat::kBinary}) {
    const std::string path =
        temp_path(format == workload::TraceFormat::kCsv ? "mapped.csv" : "mapped.bin");
    {
      workload::TraceWriter writer(path, format, {"gamma", "alpha"});
      writer.write({0, 0.5, 0});
      writer.write({1, 1.0, 1});
      writer.write({2, 1.5, 0});
      writer.close();
    }
    const CompactTrace trace = load_trace(path, models);
    ASSERT_EQ(trace.size(), 3u);
    EXPECT_EQ(trace.model, (Column<ModelId>{2, 0, 2}));
    EXPECT_EQ(trace.time_s, (Column<double>{0.5, 1.0, 1.5}));
    EXPECT_EQ(trace.next_use, (Column<std::uint32_t>{2, kNoNextUse, kNoNextUse}));
  }
}

TEST(SimTrace, UnknownModelsMissingAndEmptyFilesAreInputErrors) {
  const ModelTable models = {model("alpha", 1, 1, 1)};
  const std::string path = temp_path("unknown.csv");
  {
    workload::TraceWriter writer(path, workload::TraceFormat::kCsv, {"alpha", "zeta"});
    writer.write({0, 0.5, 0});
    writer.write({1, 1.0, 1});
    writer.close();
  }
  try {
    load_trace(path, models);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("zeta"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
  EXPECT_THROW(load_trace(temp_path("does_not_exist.csv"), models), UsageError);
  const std::string empty = temp_path("empty.csv");
  std::ofstream(empty) << "request_id,time_s,model\n";
  EXPECT_THROW(load_trace(empty, models), UsageError);
}

// A run over a TraceStream (a block at a time, read in the loop or on a thread of its own) is
// the run over the loaded trace: every outcome, every sum, bit for bit, across the stream's
// block boundaries (traces of several blocks, of whole blocks, and shorter than one).
TEST(SimTrace, StreamingRunEqualsTheRunOverTheLoadedTrace) {
  Rng rng(11);
  ModelTable models;
  for (int m = 0; m < 40; ++m) {
    models.push_back(model("m" + std::to_string(m), 10 + rng.below(90), 0.5 + rng.uniform() * 5,
                           0.1 + rng.uniform() * 0.3, 0.01));
  }
  std::vector<std::string> names;
  for (const auto& info : models) names.push_back(info.name);
  for (std::uint64_t length :
       {std::uint64_t{50'003}, std::uint64_t{2} * ReadAhead::kBlock, std::uint64_t{5}}) {
    const std::string path = temp_path("stream" + std::to_string(length) + ".bin");
    {
      workload::TraceWriter writer(path, workload::TraceFormat::kBinary, names);
      double time_s = 0;
      for (std::uint64_t i = 0; i < length; ++i) {
        time_s += rng.exponential(4.0);
        writer.write({i, time_s, static_cast<ModelId>(std::min(rng.below(40), rng.below(40)))});
      }
      writer.close();
    }
    const CompactTrace trace = load_trace(path, models, false);
    const std::size_t distinct = std::set<ModelId>(trace.model.begin(), trace.model.end()).size();
    for (const char* policy : {"lru", "gdsf", "cremebrulee"}) {
      for (int mode = 0; mode < 6; ++mode) {
        SimConfig c = config(policy, 400, mode % 3 != 0);
        c.parallel_load = mode % 3 == 2;
        c.read_ahead = mode >= 3;
        c.latency_mode = LatencyMode::kSampled;
        CollectingSink whole_sink;
        CollectingSink stream_sink;
        const SimSummary whole = simulate(models, trace, c, &whole_sink);
        TraceStream stream(path, models);
        const SimSummary streamed = simulate(models, stream, c, &stream_sink);
        SCOPED_TRACE(std::string(policy) + " mode " + std::to_string(mode) + " length " +
                     std::to_string(length));
        EXPECT_EQ(stream.requests_read(), trace.size());
        EXPECT_EQ(stream.models_requested(), distinct);
        EXPECT_EQ(streamed.requests, whole.requests);
        EXPECT_EQ(streamed.hits, whole.hits);
        EXPECT_EQ(streamed.loads, whole.loads);
        EXPECT_EQ(streamed.evictions, whole.evictions);
        EXPECT_EQ(streamed.total_load_delay_s, whole.total_load_delay_s);  // bit for bit
        EXPECT_EQ(streamed.total_queue_delay_s, whole.total_queue_delay_s);
        EXPECT_EQ(streamed.total_exec_s, whole.total_exec_s);
        EXPECT_EQ(streamed.latency_cdf, whole.latency_cdf);
        // Without a sink, a pure cache run read ahead is tallied on the reader's thread
        // (run_blocks' kTallyAfter): the same sums, bit for bit.
        TraceStream bare_stream(path, models);
        const SimSummary bare = simulate(models, bare_stream, c, nullptr);
        EXPECT_EQ(bare.hits, whole.hits);
        EXPECT_EQ(bare.loads, whole.loads);
        EXPECT_EQ(bare.evictions, whole.evictions);
        EXPECT_EQ(bare.total_load_delay_s, whole.total_load_delay_s);
        EXPECT_EQ(bare.total_queue_delay_s, whole.total_queue_delay_s);
        EXPECT_EQ(bare.total_exec_s, whole.total_exec_s);
        EXPECT_EQ(bare.latency_mean_s, whole.latency_mean_s);
        EXPECT_EQ(bare.latency_p99_s, whole.latency_p99_s);
        EXPECT_EQ(bare.latency_max_s, whole.latency_max_s);
        EXPECT_EQ(bare.latency_cdf, whole.latency_cdf);
        ASSERT_EQ(stream_sink.outcomes.size(), whole_sink.outcomes.size());
        for (std::size_t i = 0; i < whole_sink.outcomes.size(); ++i) {
          const RequestOutcome& a = whole_sink.outcomes[i];
          const RequestOutcome& b = stream_sink.outcomes[i];
          ASSERT_EQ(b.index, a.index);
          ASSERT_EQ(b.model, a.model);
          ASSERT_EQ(b.timeline.hit, a.timeline.hit);
          ASSERT_EQ(b.timeline.end_s, a.timeline.end_s);
          ASSERT_EQ(b.delays.latency_s, a.delays.latency_s);
        }
      }
    }
    // An oracle policy needs the whole trace.
    TraceStream stream(path, models);
    EXPECT_THROW(simulate(models, stream, config("belady", 400, false)), std::logic_error);
  }
}

// ReadAhead's `after` sees every block given back, once, in order, with the range the consumer
// named and the marks it wrote, threaded or not, for traces shorter than a block, of whole
// blocks and of several; finish() returns once the last block's `after` is done.
TEST(SimTrace, ReadAheadPassesEveryBlockGivenBackToAfterInOrder) {
  const ModelTable models = {model("alpha", 1, 1, 1), model("beta", 1, 1, 1)};
  for (std::uint64_t length : {std::uint64_t{5}, 2 * ReadAhead::kBlock, 3 * ReadAhead::kBlock + 7,
                               5 * ReadAhead::kBlock - 1}) {
    const std::string path = temp_path("after" + std::to_string(length) + ".bin");
    {
      workload::TraceWriter writer(path, workload::TraceFormat::kBinary, {"alpha", "beta"});
      for (std::uint64_t i = 0; i < length; ++i) {
        writer.write({i, static_cast<double>(i), static_cast<ModelId>((i / 3) % 2)});
      }
      writer.close();
    }
    for (bool threaded : {false, true}) {
      SCOPED_TRACE(std::to_string(length) + (threaded ? " threaded" : " in the caller"));
      std::vector<double> seen;  // the times `after` saw, in order
      std::size_t wrong_marks = 0;
      constexpr std::size_t kFront = 3;
      TraceStream stream(path, models);
      ReadAhead reader(
          stream, kFront, threaded,
          [&](const ReadAhead::Block& block, std::size_t from, std::size_t count) {
            for (std::size_t k = from; k < from + count; ++k) {
              seen.push_back(block.time_s[k]);
              // The consumer marked each request with its time's parity.
              if (block.mark[k] !=
                  static_cast<std::uint8_t>(static_cast<std::uint64_t>(block.time_s[k]) % 2))
                ++wrong_marks;
            }
          });
      std::size_t from = 0;
      std::size_t count = 0;
      std::uint64_t blocks = 0;
      for (;;) {
        const ReadAhead::Block block = reader.next(from, count);
        ++blocks;
        // Give back a range that skips one request at the front of every other block, as a
        // consumer's own bookkeeping might: `after` must see exactly what is named.
        from = kFront + (blocks % 2);
        count = block.got > from - kFront ? block.got - (from - kFront) : 0;
        for (std::size_t k = from; k < from + count; ++k) {
          block.mark[k] =
              static_cast<std::uint8_t>(static_cast<std::uint64_t>(block.time_s[k]) % 2);
        }
        if (block.got < ReadAhead::kBlock) {
          reader.finish(from, count);
          break;
        }
      }
      EXPECT_EQ(blocks, length / ReadAhead::kBlock + 1);
      EXPECT_EQ(wrong_marks, 0u);
      // Every request but those skipped (the first of every odd-numbered block), in order.
      std::vector<double> expected;
      for (std::uint64_t i = 0; i < length; ++i) {
        if ((i / ReadAhead::kBlock) % 2 == 0 && i % ReadAhead::kBlock == 0) continue;
        expected.push_back(static_cast<double>(i));
      }
      EXPECT_EQ(seen, expected);
    }
  }
}

// A model the catalog does not know, three blocks into a streamed trace, stops the run with the
// reader's error naming it, whether the loop reads the blocks or a thread of their own does.
TEST(SimTrace, StreamingStopsAtAnUnknownModelWithOrWithoutReadAhead) {
  const ModelTable models = {model("alpha", 1, 1, 1), model("beta", 1, 1, 1)};
  const std::string path = temp_path("stream_unknown.bin");
  const std::uint64_t bad = 3 * ReadAhead::kBlock + 17;
  {
    workload::TraceWriter writer(path, workload::TraceFormat::kBinary, {"alpha", "beta", "zeta"});
    for (std::uint64_t i = 0; i < bad + 100; ++i) {
      writer.write({i, 0.5 * static_cast<double>(i), static_cast<ModelId>(i == bad ? 2 : i % 2)});
    }
    writer.close();
  }
  for (bool read_ahead : {false, true}) {
    SCOPED_TRACE(read_ahead ? "read ahead" : "in the loop");
    SimConfig c = config("lru", 1, false);
    c.read_ahead = read_ahead;
    CollectingSink sink;
    TraceStream stream(path, models);
    try {
      simulate(models, stream, c, &sink);
      FAIL() << "no error";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("zeta"), std::string::npos) << what;
      EXPECT_NE(what.find("request " + std::to_string(bad)), std::string::npos) << what;
    }
    // The requests of the blocks before the bad one's ran, in order, and none after it.
    EXPECT_GE(sink.outcomes.size(), bad - ReadAhead::kBlock);
    EXPECT_LE(sink.outcomes.size(), bad);
    for (std::size_t i = 0; i < sink.outcomes.size(); ++i) ASSERT_EQ(sink.outcomes[i].index, i);
  }
}

TEST(SimHistogram, QuantilesWithinBucketPrecision) {
  LatencyHistogram histogram;
  for (int i = 1; i <= 1000; ++i) histogram.add(i * 0.001);  // 1 ms .. 1 s
  EXPECT_EQ(histogram.count(), 1000u);
  EXPECT_NEAR(histogram.mean(), 0.5005, 1e-12);
  EXPECT_NEAR(histogram.quantile(0.5), 0.5, 0.5 * 0.004);
  EXPECT_NEAR(histogram.quantile(0.99), 0.99, 0.99 * 0.004);
  EXPECT_DOUBLE_EQ(histogram.quantile(1.0), 1.0);
  EXPECT_DOUBLE_EQ(histogram.quantile(0.0), 0.001);
  const auto cdf = histogram.cdf(50);
  ASSERT_FALSE(cdf.empty());
  EXPECT_LE(cdf.size(), 51u);
  EXPECT_DOUBLE_EQ(cdf.back().second, 1.0);
  for (std::size_t i = 1; i < cdf.size(); ++i) {
    EXPECT_GT(cdf[i].first, cdf[i - 1].first);
    EXPECT_GT(cdf[i].second, cdf[i - 1].second);
  }
  LatencyHistogram zeros;
  zeros.add(0.0);
  zeros.add(0.0);
  EXPECT_DOUBLE_EQ(zeros.quantile(0.5), 0.0);
  LatencyHistogram empty;
  EXPECT_DOUBLE_EQ(empty.quantile(0.5), 0.0);
}

TEST(SimSweep, SameResultsWhateverTheThreadCount) {
  Rng rng(5);
  ModelTable models;
  std::uint64_t footprint = 0;
  for (int m = 0; m < 30; ++m) {
    models.push_back(model("m" + std::to_string(m), 10 + rng.below(90), 0.5 + rng.uniform() * 5,
                           0.1 + rng.uniform() * 0.3, 0.01));
    footprint += models.back().size_bytes;
  }
  CompactTrace trace;
  double time_s = 0;
  for (int i = 0; i < 5000; ++i) {
    time_s += rng.exponential(4.0);
    trace.push_back(static_cast<ModelId>(std::min(rng.below(30), rng.below(30))), time_s);
  }
  compute_next_use(trace, models.size());
  SweepSpec spec;
  spec.policies = {"lru", "random", "cremebrulee", "belady"};
  spec.memory_bytes = {footprint / 10, footprint / 4, footprint / 2};
  spec.base.seed = 3;
  spec.threads = 1;
  const auto one = run_sweep(models, trace, spec);
  spec.threads = 3;
  const auto three = run_sweep(models, trace, spec);
  RunInfo info;
  info.footprint_bytes = footprint;
  EXPECT_EQ(sweep_csv(one, info), sweep_csv(three, info));
  EXPECT_EQ(sweep_json(one, info).dump(), sweep_json(three, info).dump());
  ASSERT_EQ(one.size(), 12u);
  // Policy-major order; each run knows its bound, which lies below its cost.
  EXPECT_EQ(one[0].policy, "lru");
  EXPECT_EQ(one[11].policy, "belady");
  EXPECT_EQ(one[1].memory_bytes, footprint / 4);
  for (const auto& s : one) {
    EXPECT_GE(s.bound_load_cost_s, 0.0);
    EXPECT_LE(s.bound_load_cost_s, s.load_cost_s * (1 + 1e-12));
  }
  spec.policies = {"lru", "nope"};
  EXPECT_THROW(run_sweep(models, trace, spec), UsageError);
}

TEST(SimReport, WritesHtmlWithFiguresCsvAndJson) {
  const ModelTable models = {model("A", 1, 1.0, 0.1), model("B", 1, 10.0, 0.1),
                             model("C", 1, 5.0, 0.1)};
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 0, 2, 1, 0, 2}, models.size());
  SweepSpec spec;
  spec.policies = {"lru", "cremebrulee"};
  spec.memory_bytes = {1, 2};
  spec.base.queueing = false;
  const auto results = run_sweep(models, trace, spec);
  RunInfo info;
  info.trace = "tiny<&>";
  info.footprint_bytes = 3;
  const std::string dir = temp_path("report");
  write_report(dir, results, info);
  std::ifstream html_file(dir + "/index.html");
  const std::string html((std::istreambuf_iterator<char>(html_file)), {});
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("tiny<&>"), std::string::npos);  // escaped
  EXPECT_NE(html.find("tiny&lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(html.find("Latency CDF"), std::string::npos);
  EXPECT_NE(html.find("cremebrulee"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/results.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/results.json"));
  std::ifstream csv(dir + "/results.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 5);  // header + 4 runs
}

}  // namespace
