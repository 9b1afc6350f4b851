// Generators: Azure 2019/2021 readers (files written here in the real formats, good and bad),
// the synthetic generator (determinism, popularity, limits), the alias table and calibration.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "azure_files.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "test_util.hpp"
#include "workload/generators.hpp"

namespace brulee::workload {
namespace {

using testing::azure2019_file;
using testing::azure2019_header;
using testing::azure2019_row;
using testing::AzureRow;
using testing::read_file;
using testing::TempDir;

void expect_input_error(const std::function<void()>& action, std::uint64_t line,
                        const std::string& fragment) {
  try {
    action();
    FAIL() << "no error; expected one containing '" << fragment << "'";
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

Catalog three_models() {
  Catalog catalog;
  catalog.add(ModelInfo{"small", 1000, 1.0, 0.1, 0.01});
  catalog.add(ModelInfo{"medium", 2000, 3.0, 0.2, 0.01});
  catalog.add(ModelInfo{"large", 3000, 2.0, 0.3, 0.01});
  return catalog;
}

std::map<std::string, std::uint64_t> per_model(const Trace& trace) {
  std::map<std::string, std::uint64_t> counts;
  for (const auto m : trace.model) ++counts[trace.model_names[m]];
  return counts;
}

std::vector<AzureRow> day_rows() {
  return {
      {"o1", "a1", "hot", "http", {{1, 6}, {2, 3}, {1440, 1}}},  // 10 invocations
      {"o1", "a1", "warm", "http", {{1, 2}, {3, 2}}},            // 4
      {"o2", "a2", "once", "http", {{2, 1}}},                    // 1 (a one-hit wonder)
      {"o2", "a2", "timer", "timer", {{1, 5}}},                  // not http
      {"o3", "a3", "never", "http", {}},                         // no invocations
  };
}

TEST(Azure2019, EvenSpreadHttpOnly) {
  TempDir dir;
  const std::string day = dir.write("d01.csv", azure2019_file(day_rows()));
  Azure2019Options options;
  options.inputs = {day};
  options.filter.mapping = Mapping::kRoundRobin;
  Catalog out_catalog;
  const auto summary = generate_azure2019(options, three_models(), dir.file("t.csv"), out_catalog);
  EXPECT_EQ(summary.requests, 15u);       // 10 + 4 + 1, timer excluded
  EXPECT_EQ(summary.functions_read, 4u);  // http functions, including the idle one
  EXPECT_EQ(summary.functions_kept, 3u);
  EXPECT_DOUBLE_EQ(summary.duration_s, 1440 * 60.0);
  const Trace trace = read_trace(dir.file("t.csv"));
  ASSERT_EQ(trace.size(), 15u);
  // Round robin over popularity rank: hot -> small, warm -> medium, once -> large.
  const auto counts = per_model(trace);
  EXPECT_EQ(counts.at("small"), 10u);
  EXPECT_EQ(counts.at("medium"), 4u);
  EXPECT_EQ(counts.at("large"), 1u);
  // Minute 1: hot x6 at (k + 0.5) * 10 s, warm x2 at 15 s and 45 s, sorted by time.
  EXPECT_DOUBLE_EQ(trace.time_s[0], 5.0);
  EXPECT_DOUBLE_EQ(trace.time_s[1], 15.0);
  EXPECT_EQ(trace.model_names[trace.model[1]], "small");  // ties: more popular function first
  EXPECT_EQ(trace.model_names[trace.model[2]], "medium");
  EXPECT_DOUBLE_EQ(trace.time_s.back(), 1439 * 60.0 + 30.0);
  EXPECT_TRUE(std::is_sorted(trace.time_s.begin(), trace.time_s.end()));
  for (std::size_t i = 0; i < trace.size(); ++i) EXPECT_EQ(trace.request_id[i], i);
}

TEST(Azure2019, FiltersAndMinuteRangesAcrossDays) {
  TempDir dir;
  const std::string d1 = dir.write("d01.csv", azure2019_file(day_rows()));
  const std::string d2 =
      dir.write("d02.csv", azure2019_file({{"o1", "a1", "hot", "http", {{1, 4}}}}));
  Azure2019Options options;
  options.inputs = {d1, d2};
  options.http_only = false;
  options.first_minute = 1440;  // last minute of day 1 and first of day 2
  options.last_minute = 1441;
  Catalog out;
  auto summary = generate_azure2019(options, three_models(), dir.file("t.bin"), out);
  EXPECT_EQ(summary.requests, 5u);  // 1 + 4
  const Trace trace = read_trace(dir.file("t.bin"));
  EXPECT_DOUBLE_EQ(trace.time_s.front(), 30.0);
  EXPECT_DOUBLE_EQ(trace.time_s.back(), 60.0 + 52.5);
  // All triggers, whole day, drop one-hit wonders: hot 10, warm 4, timer 5 -> 19.
  options.inputs = {d1};
  options.first_minute = 1;
  options.last_minute = 0;
  options.filter.drop_one_hit = true;
  summary = generate_azure2019(options, three_models(), dir.file("t.csv"), out);
  EXPECT_EQ(summary.requests, 19u);
  EXPECT_EQ(summary.functions_kept, 3u);
  // Only the most popular third (quantile >= 0.9 of three functions: the top one).
  options.filter.min_quantile = 0.9;
  summary = generate_azure2019(options, three_models(), dir.file("t.csv"), out);
  EXPECT_EQ(summary.requests, 10u);
  EXPECT_THROW(
      {
        options.first_minute = 1000;
        options.last_minute = 1500;  // only one day
        generate_azure2019(options, three_models(), dir.file("t.csv"), out);
      },
      UsageError);
}

TEST(Azure2019, PoissonSpreadSamplingAndDeterminism) {
  TempDir dir;
  std::vector<AzureRow> rows;
  for (int f = 0; f < 40; ++f) {
    AzureRow row{"o", "a", "f" + std::to_string(f), "http", {}};
    for (int minute = 1; minute <= 30; ++minute) row.counts[minute] = (f * 7 + minute) % 13;
    rows.push_back(row);
  }
  const std::string day = dir.write("d.csv", azure2019_file(rows));
  Azure2019Options options;
  options.inputs = {day};
  options.last_minute = 30;
  options.poisson = true;
  options.filter.sample_fraction = 0.5;
  options.filter.seed = 42;
  Catalog out;
  const auto a = generate_azure2019(options, three_models(), dir.file("a.bin"), out);
  generate_azure2019(options, three_models(), dir.file("b.bin"), out);
  EXPECT_EQ(read_file(dir.file("a.bin")), read_file(dir.file("b.bin")));  // same seed, same bytes
  options.filter.seed = 43;
  generate_azure2019(options, three_models(), dir.file("c.bin"), out);
  EXPECT_NE(read_file(dir.file("a.bin")), read_file(dir.file("c.bin")));
  double total = 0;
  for (const auto& row : rows) {
    for (const auto& [minute, count] : row.counts) total += count;
  }
  // Binomial(total, 0.5): within 5 standard deviations.
  EXPECT_NEAR(static_cast<double>(a.requests), total * 0.5, 5 * std::sqrt(total * 0.25));
  const Trace trace = read_trace(dir.file("a.bin"));
  EXPECT_TRUE(std::is_sorted(trace.time_s.begin(), trace.time_s.end()));
  EXPECT_LT(trace.time_s.back(), 30 * 60.0);
}

TEST(Azure2019, MappingsQuantilesAndPerFunction) {
  TempDir dir;
  std::vector<AzureRow> rows;
  for (int f = 0; f < 6; ++f)
    rows.push_back({"o", "a", "f" + std::to_string(f), "http", {{1, 10 * (f + 1)}}});
  const std::string day = dir.write("d.csv", azure2019_file(rows));
  Azure2019Options options;
  options.inputs = {day};
  options.filter.mapping = Mapping::kQuantiles;
  options.filter.cost_order = CostOrder::kCheapFirst;  // load latency: small 1, large 2, medium 3
  Catalog out;
  generate_azure2019(options, three_models(), dir.file("q.csv"), out);
  auto counts = per_model(read_trace(dir.file("q.csv")));
  // Ranks 0,1 (60+50) -> cheapest (small); 2,3 (40+30) -> large; 4,5 (20+10) -> medium.
  EXPECT_EQ(counts.at("small"), 110u);
  EXPECT_EQ(counts.at("large"), 70u);
  EXPECT_EQ(counts.at("medium"), 30u);
  options.filter.mapping = Mapping::kPerFunction;
  generate_azure2019(options, three_models(), dir.file("p.csv"), out);
  ASSERT_EQ(out.models.size(), 6u);
  EXPECT_EQ(out.models[0].name.rfind("fn0-", 0), 0u);
  const Trace trace = read_trace(dir.file("p.csv"));
  counts = per_model(trace);
  EXPECT_EQ(counts.at(out.models[0].name), 60u);  // rank 0 = most popular
  EXPECT_EQ(counts.at(out.models[5].name), 10u);
  // Costs come from the catalog.
  for (const auto& model : out.models) {
    EXPECT_TRUE(model.size_bytes == 1000 || model.size_bytes == 2000 || model.size_bytes == 3000);
  }
  options.filter.mapping = Mapping::kRandom;
  generate_azure2019(options, three_models(), dir.file("r.csv"), out);
  EXPECT_EQ(read_trace(dir.file("r.csv")).size(), 210u);
}

TEST(Azure2019BadInput, EachCaseNamesFileAndLine) {
  TempDir dir;
  Catalog out;
  Azure2019Options options;
  const auto run = [&](const std::string& name, const std::string& content) {
    options.inputs = {dir.write(name, content)};
    generate_azure2019(options, three_models(), dir.file("t.csv"), out);
  };
  const std::string good = azure2019_row({"o", "a", "f", "http", {{1, 1}}});
  expect_input_error([&] { run("empty.csv", ""); }, 0, "empty file");
  options.inputs = {dir.file("missing.csv")};
  expect_input_error([&] { generate_azure2019(options, three_models(), dir.file("t.csv"), out); },
                     0, "no such file");
  expect_input_error([&] { run("header.csv", "HashOwner,HashApp\n" + good); }, 1,
                     "expected the header");
  std::string short_row = good.substr(0, good.rfind(','));
  expect_input_error([&] { run("short.csv", azure2019_header() + good + short_row + "\n"); }, 3,
                     "expected 1444 columns, found 1443");
  std::string negative = good;
  negative.replace(negative.find(",http,") + 6, 1, "-1");
  expect_input_error([&] { run("negative.csv", azure2019_header() + negative); }, 2,
                     "minute 1: count '-1' is not a non-negative integer");
  std::string text = good;
  text.replace(text.find(",http,") + 6, 1, "x");
  expect_input_error([&] { run("text.csv", azure2019_header() + text); }, 2, "count 'x'");
  std::string fraction = good;
  fraction.replace(fraction.find(",http,") + 6, 1, "1.5");
  expect_input_error([&] { run("fraction.csv", azure2019_header() + fraction); }, 2, "count '1.5'");
  expect_input_error([&] { run("blank.csv", azure2019_header() + "\n" + good); }, 2, "empty line");
  std::string no_owner = good.substr(1);
  expect_input_error([&] { run("owner.csv", azure2019_header() + no_owner); }, 2,
                     "empty HashOwner");
  // Only non-http rows, with --trigger http: nothing left is a usage error, not an empty trace.
  EXPECT_THROW(run("timer.csv", azure2019_file({{"o", "a", "f", "timer", {{1, 3}}}})), UsageError);
}

TEST(Azure2021, ArrivalIsEndMinusDuration) {
  TempDir dir;
  const std::string path = dir.write("inv.txt",
                                     "app,func,end_timestamp,duration\n"
                                     "a1,f1,10.5,0.5\n"   // arrives 10.0
                                     "a1,f2,3.25,1.25\n"  // arrives 2.0 (earliest)
                                     "a2,f1,9.0,1.0\n"    // arrives 8.0
                                     "a1,f1,12.0,0\n");   // arrives 12.0
  Azure2021Options options;
  options.input = path;
  options.filter.mapping = Mapping::kRoundRobin;
  Catalog out;
  const auto summary = generate_azure2021(options, three_models(), dir.file("t.csv"), out);
  EXPECT_EQ(summary.requests, 4u);
  const Trace trace = read_trace(dir.file("t.csv"));
  ASSERT_EQ(trace.size(), 4u);
  EXPECT_DOUBLE_EQ(trace.time_s[0], 0.0);  // times relative to the earliest arrival
  EXPECT_DOUBLE_EQ(trace.time_s[1], 6.0);
  EXPECT_DOUBLE_EQ(trace.time_s[2], 8.0);
  EXPECT_DOUBLE_EQ(trace.time_s[3], 10.0);
  // a1/f1 (2 invocations) is most popular -> "small".
  EXPECT_EQ(trace.model_names[trace.model[2]], "small");
  EXPECT_EQ(trace.model_names[trace.model[3]], "small");
}

TEST(Azure2021BadInput, EachCaseNamesFileAndLine) {
  TempDir dir;
  Catalog out;
  Azure2021Options options;
  const auto run = [&](const std::string& name, const std::string& content) {
    options.input = dir.write(name, content);
    generate_azure2021(options, three_models(), dir.file("t.csv"), out);
  };
  const std::string header = "app,func,end_timestamp,duration\n";
  expect_input_error([&] { run("empty.txt", ""); }, 0, "empty file");
  expect_input_error([&] { run("header.txt", "app,func\n"); }, 1, "expected the header");
  expect_input_error([&] { run("columns.txt", header + "a,f,1\n"); }, 2, "expected 4 columns");
  expect_input_error([&] { run("number.txt", header + "a,f,1,0\na,f,abc,0\n"); }, 3,
                     "end_timestamp 'abc'");
  expect_input_error([&] { run("negative.txt", header + "a,f,1,-0.5\n"); }, 2, "duration '-0.5'");
  expect_input_error([&] { run("only.txt", header); }, 0, "no invocations");
}

TEST(Synth, DeterministicAndLimited) {
  TempDir dir;
  SynthOptions options;
  options.requests = 20000;
  options.seed = 9;
  Catalog out;
  const Catalog paper = load_catalog("paper");
  const auto a = generate_synth(options, paper, dir.file("a.bin"), out);
  generate_synth(options, paper, dir.file("b.bin"), out);
  EXPECT_EQ(a.requests, 20000u);
  EXPECT_EQ(read_file(dir.file("a.bin")), read_file(dir.file("b.bin")));
  options.seed = 10;
  generate_synth(options, paper, dir.file("c.bin"), out);
  EXPECT_NE(read_file(dir.file("a.bin")), read_file(dir.file("c.bin")));
  // Mean rate 10/s by default: 20000 requests take about 2000 s.
  EXPECT_NEAR(a.duration_s, 2000.0, 200.0);
  // A duration limit stops earlier.
  options.requests = 0;
  options.duration_s = 100;
  options.rate_per_s = 50;
  const auto d = generate_synth(options, paper, dir.file("d.csv"), out);
  EXPECT_NEAR(static_cast<double>(d.requests), 5000.0, 5 * std::sqrt(5000.0));
  const Trace trace = read_trace(dir.file("d.csv"));
  EXPECT_LT(trace.time_s.back(), 100.0);
}

TEST(Synth, ZipfPopularityMatchesTheory) {
  TempDir dir;
  SynthOptions options;
  options.requests = 200000;
  options.zipf_alpha = 1.0;
  Catalog out;
  generate_synth(options, load_catalog("paper"), dir.file("z.bin"), out);
  const Trace trace = read_trace(dir.file("z.bin"));
  std::vector<double> counts(trace.model_names.size(), 0);
  for (const auto m : trace.model) counts[m] += 1;
  std::sort(counts.begin(), counts.end(), std::greater<>());
  double harmonic = 0;
  for (int r = 1; r <= 26; ++r) harmonic += 1.0 / r;
  for (int r = 0; r < 5; ++r) {
    const double expected = 200000.0 / (r + 1) / harmonic;
    EXPECT_NEAR(counts[static_cast<std::size_t>(r)], expected, 6 * std::sqrt(expected))
        << "rank " << r;
  }
}

TEST(Synth, MoreModelsThanCatalogOnOffAndDiurnal) {
  TempDir dir;
  SynthOptions options;
  options.models = 60;
  options.duration_s = 86400;
  options.rate_per_s = 2;
  options.arrivals = ArrivalProcess::kOnOff;
  options.on_mean_s = 30;
  options.off_mean_s = 300;
  options.diurnal_amplitude = 0.9;
  Catalog out;
  const auto summary = generate_synth(options, load_catalog("paper"), dir.file("o.bin"), out);
  ASSERT_EQ(out.models.size(), 60u);
  EXPECT_EQ(out.models[26].name, out.models[0].name + "-1");
  // Long-run mean rate is preserved by thinning: 2/s over a day (loose: bursts add variance).
  EXPECT_NEAR(summary.mean_rate_per_s, 2.0, 0.4);
  const Trace trace = read_trace(dir.file("o.bin"));
  // Diurnal: the first half-period (sin > 0) carries clearly more than the second.
  const auto half = static_cast<std::size_t>(
      std::lower_bound(trace.time_s.begin(), trace.time_s.end(), 43200.0) - trace.time_s.begin());
  EXPECT_GT(static_cast<double>(half), 1.5 * static_cast<double>(trace.size() - half));
}

TEST(Synth, TimersArePeriodicAndOffMeansUnchanged) {
  TempDir dir;
  const Catalog paper = load_catalog("paper");
  SynthOptions options;
  options.popularity = Popularity::kAzure;
  options.models = 200;
  options.requests = 200000;
  options.rate_per_s = 2;
  options.seed = 4;
  Catalog out;
  // Off (the default), whatever the jitter: byte-identical to a trace made without the option.
  const auto plain = generate_synth(options, paper, dir.file("plain.bin"), out);
  options.timer_jitter_s = 7;
  generate_synth(options, paper, dir.file("off.bin"), out);
  EXPECT_EQ(read_file(dir.file("plain.bin")), read_file(dir.file("off.bin")));
  EXPECT_EQ(plain.timer_models, 0u);
  // On: round(0.16 x 200) = 32 timer models, each firing every period +- the jitter.
  options.timer_share = kAzureTimerShare;
  options.timer_request_share = kAzureTimerRequestShare;
  options.timer_jitter_s = 2;
  const auto timed = generate_synth(options, paper, dir.file("timers.bin"), out);
  EXPECT_EQ(timed.timer_models, 32u);
  generate_synth(options, paper, dir.file("again.bin"), out);
  EXPECT_EQ(read_file(dir.file("timers.bin")), read_file(dir.file("again.bin")));
  // The total rate is kept: the timers' share leaves the Poisson stream.
  EXPECT_NEAR(timed.mean_rate_per_s, 2.0, 0.1);
  const Trace trace = read_trace(dir.file("timers.bin"));
  std::vector<std::vector<double>> times(200);
  for (std::size_t i = 0; i < trace.size(); ++i) times[trace.model[i]].push_back(trace.time_s[i]);
  int periodic = 0;
  std::uint64_t periodic_requests = 0;
  for (const auto& t : times) {
    if (t.size() < 5) continue;
    double low = INFINITY, high = 0;
    for (std::size_t k = 1; k < t.size(); ++k) {
      low = std::min(low, t[k] - t[k - 1]);
      high = std::max(high, t[k] - t[k - 1]);
    }
    if (high - low <= 8.0 + 1e-6) {  // a gap is the period +- two jitters of +-2 s
      ++periodic;
      periodic_requests += t.size();
    }
  }
  // The models whose gaps are all one period (+- the jitters) are timer models, and every timer
  // model is one of them unless it fired fewer than 5 times in the trace.
  EXPECT_GE(periodic, 1);
  EXPECT_LE(periodic, 32);
  EXPECT_LE(periodic_requests, timed.timer_requests);
  EXPECT_LE(timed.timer_requests - periodic_requests, 4u * (32u - periodic));
  // The band of ranks is chosen for the published share of the requests (Azure: ~2%).
  EXPECT_NEAR(static_cast<double>(timed.timer_requests) / static_cast<double>(timed.requests),
              kAzureTimerRequestShare, 0.005);
  // Only with Azure popularity; the share is in [0, 1].
  options.popularity = Popularity::kZipf;
  EXPECT_THROW(generate_synth(options, paper, dir.file("x.bin"), out), UsageError);
  options.popularity = Popularity::kAzure;
  options.timer_share = 1.5;
  EXPECT_THROW(generate_synth(options, paper, dir.file("x.bin"), out), UsageError);
}

TEST(Synth, BadOptions) {
  TempDir dir;
  Catalog out;
  const Catalog paper = load_catalog("paper");
  SynthOptions options;
  EXPECT_THROW(generate_synth(options, paper, dir.file("x.bin"), out), UsageError);  // no limit
  options.requests = 10;
  options.diurnal_amplitude = 2;
  EXPECT_THROW(generate_synth(options, paper, dir.file("x.bin"), out), UsageError);
  options.diurnal_amplitude = 0;
  options.zipf_alpha = -1;
  EXPECT_THROW(generate_synth(options, paper, dir.file("x.bin"), out), UsageError);
}

TEST(AliasTable, SamplesTheGivenDistribution) {
  const std::vector<double> weights = {5, 0, 1, 3, 1};
  const AliasTable table(weights);
  Rng rng(3);
  std::vector<double> seen(weights.size(), 0);
  const int n = 200000;
  for (int i = 0; i < n; ++i) seen[table.sample(rng)] += 1;
  EXPECT_EQ(seen[1], 0);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double expected = n * weights[i] / 10.0;
    EXPECT_NEAR(seen[i], expected, 6 * std::sqrt(expected + 1)) << i;
  }
  EXPECT_THROW(AliasTable({0.0, 0.0}), UsageError);
}

TEST(AzureCalibration, MatchesThePublishedQuantiles) {
  // Shahrad et al. (ATC 2020): 45% invoked at most once per hour, 81% at most once per minute.
  const auto rates = azure_calibrated_rates_per_min(10000);
  const auto share_at_most = [&](double per_min) {
    return static_cast<double>(
               std::count_if(rates.begin(), rates.end(), [&](double r) { return r <= per_min; })) /
           static_cast<double>(rates.size());
  };
  EXPECT_NEAR(share_at_most(1.0 / 60), 0.45, 0.005);
  EXPECT_NEAR(share_at_most(1.0), 0.81, 0.005);
  EXPECT_TRUE(std::is_sorted(rates.begin(), rates.end(), std::greater<>()));
  // Most popular 18.6% carry nearly all invocations (published: 99.6%).
  double total = 0, top = 0;
  for (std::size_t i = 0; i < rates.size(); ++i) {
    total += rates[i];
    if (i < 1860) top += rates[i];
  }
  EXPECT_GT(top / total, 0.99);
}

}  // namespace
}  // namespace brulee::workload
