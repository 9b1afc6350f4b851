// Generators: Azure Functions 2019/2021 traces mapped onto a catalog, and synthetic workloads.
#include "workload/generators.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "workload/line_reader.hpp"

namespace brulee::workload {
namespace {

constexpr std::uint32_t kMinutesPerDay = 1440;
constexpr std::size_t kWriteBlock = 1 << 16;

void split(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t start = 0;
  for (;;) {
    const auto comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return;
    }
    fields.push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

// Buffers records and hands them to a TraceWriter in blocks; keeps per-model counts.
class BlockWriter {
 public:
  BlockWriter(const std::string& path, std::vector<std::string> names,
              const ProgressFn* progress = nullptr, std::uint64_t expected = 0)
      : writer_(path, format_for_path(path), names),
        counts_(names.size(), 0),
        progress_(progress && *progress ? progress : nullptr),
        expected_(expected) {
    block_.reserve(kWriteBlock);
  }
  void add(double time_s, ModelId model) {
    block_.push_back(TraceRecord{next_id_++, time_s, model});
    ++counts_[model];
    last_time_s_ = time_s;
    if (block_.size() == kWriteBlock) flush();
  }
  void close() {
    flush();
    writer_.close();
  }
  std::uint64_t requests() const { return next_id_; }
  double last_time_s() const { return last_time_s_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }

 private:
  void flush() {
    writer_.write(block_);
    block_.clear();
    if (progress_) (*progress_)(next_id_, expected_, "requests written");
  }
  TraceWriter writer_;
  std::vector<TraceRecord> block_;
  std::vector<std::uint64_t> counts_;
  const ProgressFn* progress_;
  std::uint64_t expected_;
  std::uint64_t next_id_ = 0;
  double last_time_s_ = 0.0;
};

std::vector<std::string> names_of(const Catalog& catalog) {
  std::vector<std::string> names;
  names.reserve(catalog.models.size());
  for (const auto& model : catalog.models) names.push_back(model.name);
  return names;
}

void fill_popularity(WorkloadSummary& summary, const std::vector<std::uint64_t>& counts) {
  std::vector<std::uint64_t> used;
  for (const auto count : counts) {
    if (count > 0) used.push_back(count);
  }
  summary.models = counts.size();
  summary.models_used = used.size();
  if (used.empty() || summary.requests == 0) return;
  std::sort(used.begin(), used.end(), std::greater<>());
  const double total = static_cast<double>(summary.requests);
  summary.top1_share = static_cast<double>(used[0]) / total;
  const std::size_t top = std::max<std::size_t>(1, (used.size() + 9) / 10);
  summary.top10pct_share =
      static_cast<double>(
          std::accumulate(used.begin(), used.begin() + static_cast<long>(top), std::uint64_t{0})) /
      total;
  // Gini over ascending counts: sum_i (2i - n - 1) x_i / (n sum x), i = 1..n.
  const auto n = static_cast<double>(used.size());
  double weighted = 0;
  for (std::size_t i = 0; i < used.size(); ++i) {
    const double rank_ascending = n - static_cast<double>(i);  // used is descending
    weighted += (2 * rank_ascending - n - 1) * static_cast<double>(used[i]);
  }
  summary.gini = weighted / (n * total);
}

// Rank functions by popularity, filter them, and map the kept ones to models.
// Returns function index -> model id (kNoModel when dropped); fills out_catalog.
std::vector<ModelId> plan_functions(const std::vector<std::uint64_t>& totals,
                                    const std::vector<std::string>& keys,
                                    const FunctionFilter& filter, const Catalog& catalog,
                                    Catalog& out_catalog, WorkloadSummary& summary) {
  if (filter.min_quantile < 0 || filter.max_quantile > 1 ||
      filter.min_quantile > filter.max_quantile) {
    throw UsageError("popularity quantiles must satisfy 0 <= min <= max <= 1");
  }
  if (!(filter.sample_fraction > 0 && filter.sample_fraction <= 1)) {
    throw UsageError("--sample must be in (0, 1]");
  }
  if (catalog.models.empty()) throw UsageError("the catalog has no models");
  std::vector<std::uint32_t> order;
  for (std::uint32_t f = 0; f < totals.size(); ++f) {
    if (totals[f] == 0) continue;
    if (filter.drop_one_hit && totals[f] == 1) continue;
    order.push_back(f);
  }
  // Ascending popularity (ties broken by key so the result does not depend on input order).
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (totals[a] != totals[b]) return totals[a] < totals[b];
    return keys[a] > keys[b];
  });
  std::vector<std::uint32_t> kept;  // most popular first
  const auto n = order.size();
  for (std::size_t i = n; i-- > 0;) {
    const double quantile = n == 1 ? 1.0 : static_cast<double>(i) / static_cast<double>(n - 1);
    if (quantile >= filter.min_quantile && quantile <= filter.max_quantile)
      kept.push_back(order[i]);
  }
  summary.functions_read = totals.size();
  summary.functions_kept = kept.size();
  if (kept.empty())
    throw UsageError("no function is left after the trigger, minute and popularity filters");

  std::vector<ModelId> ordered(catalog.models.size());
  std::iota(ordered.begin(), ordered.end(), ModelId{0});
  if (filter.cost_order != CostOrder::kCatalog) {
    std::stable_sort(ordered.begin(), ordered.end(), [&](ModelId a, ModelId b) {
      const double la = catalog.models[a].load_latency_s, lb = catalog.models[b].load_latency_s;
      return filter.cost_order == CostOrder::kCheapFirst ? la < lb : la > lb;
    });
  }
  Rng rng(filter.seed ^ 0x6d617070696e67ULL);  // "mapping"
  std::vector<ModelId> function_model(totals.size(), kNoModel);
  const auto models = static_cast<std::uint64_t>(catalog.models.size());
  const auto k = static_cast<std::uint64_t>(kept.size());
  if (filter.mapping == Mapping::kPerFunction) {
    out_catalog = Catalog{};
    const int width = static_cast<int>(std::to_string(k - 1).size());
    for (std::uint64_t r = 0; r < k; ++r) {
      ModelInfo model = catalog.models[ordered[rng.below(models)]];
      std::string rank = std::to_string(r);
      rank.insert(0, static_cast<std::size_t>(width) - rank.size(), '0');
      model.name = "fn" + rank + "-" + model.name;
      function_model[kept[r]] = out_catalog.add(std::move(model));
    }
    return function_model;
  }
  out_catalog = catalog;
  for (std::uint64_t r = 0; r < k; ++r) {
    std::uint64_t slot = 0;
    switch (filter.mapping) {
      case Mapping::kRandom:
        slot = rng.below(models);
        break;
      case Mapping::kRoundRobin:
        slot = r % models;
        break;
      case Mapping::kQuantiles:
        slot = r * models / k;
        break;
      case Mapping::kPerFunction:
        break;
    }
    function_model[kept[r]] = ordered[slot];
  }
  return function_model;
}

// Inverse of the standard normal CDF by bisection on erfc (exact to ~1e-12; called n times).
double normal_quantile(double p) {
  double low = -40, high = 40;
  for (int i = 0; i < 200 && high - low > 1e-13; ++i) {
    const double mid = 0.5 * (low + high);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) {
      low = mid;
    } else {
      high = mid;
    }
  }
  return 0.5 * (low + high);
}

bool parse_count(std::string_view field, std::uint32_t& value) {
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  return ec == std::errc() && end == field.data() + field.size() && !field.empty();
}

bool parse_double(std::string_view field, double& value) {
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  return ec == std::errc() && end == field.data() + field.size() && std::isfinite(value);
}

}  // namespace

Mapping parse_mapping(const std::string& text) {
  if (text == "random") return Mapping::kRandom;
  if (text == "round-robin") return Mapping::kRoundRobin;
  if (text == "quantiles") return Mapping::kQuantiles;
  if (text == "per-function") return Mapping::kPerFunction;
  throw UsageError("unknown mapping '" + text + "' (random, round-robin, quantiles, per-function)");
}

CostOrder parse_cost_order(const std::string& text) {
  if (text == "catalog") return CostOrder::kCatalog;
  if (text == "cheap-first") return CostOrder::kCheapFirst;
  if (text == "costly-first") return CostOrder::kCostlyFirst;
  throw UsageError("unknown cost order '" + text + "' (catalog, cheap-first, costly-first)");
}

ArrivalProcess parse_arrivals(const std::string& text) {
  if (text == "poisson") return ArrivalProcess::kPoisson;
  if (text == "onoff") return ArrivalProcess::kOnOff;
  throw UsageError("unknown arrival process '" + text + "' (poisson, onoff)");
}

Popularity parse_popularity(const std::string& text) {
  if (text == "zipf") return Popularity::kZipf;
  if (text == "azure") return Popularity::kAzure;
  throw UsageError("unknown popularity '" + text + "' (zipf, azure)");
}

AliasTable::AliasTable(const std::vector<double>& weights) {
  const std::size_t n = weights.size();
  if (n == 0 || n > kNoModel) throw UsageError("alias table: need 1 .. 2^32-1 weights");
  double sum = 0;
  for (const double w : weights) {
    if (!(w >= 0) || !std::isfinite(w))
      throw UsageError("alias table: weights must be finite and >= 0");
    sum += w;
  }
  if (!(sum > 0)) throw UsageError("alias table: all weights are zero");
  probability_.assign(n, 1.0);
  alias_.resize(n);
  std::iota(alias_.begin(), alias_.end(), std::uint32_t{0});
  std::vector<double> scaled(n);
  std::vector<std::uint32_t> small, large;
  for (std::size_t i = 0; i < n; ++i) {
    scaled[i] = weights[i] * static_cast<double>(n) / sum;
    (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    const auto s = small.back();
    small.pop_back();
    const auto l = large.back();
    probability_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are 1 up to rounding.
  for (const auto i : small) probability_[i] = 1.0;
  for (const auto i : large) probability_[i] = 1.0;
}

std::vector<double> azure_calibrated_rates_per_min(std::uint64_t n) {
  std::vector<double> rates(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    // Most popular first: quantile 1 - (i + 0.5) / n.
    const double p = 1.0 - (static_cast<double>(i) + 0.5) / static_cast<double>(n);
    rates[i] = std::pow(10.0, kAzureLog10RateMean + kAzureLog10RateSd * normal_quantile(p));
  }
  return rates;
}

// ---------------------------------------------------------------------------------------------
// Azure Functions 2019: invocations_per_function_md.anon.dNN.csv

namespace {

// The minutes of the day files to use, 1-based and inclusive, checked against the files given.
struct MinuteWindow {
  std::uint32_t days;
  std::uint32_t first;
  std::uint32_t last;
  std::uint32_t minutes() const { return last - first + 1; }
};

MinuteWindow azure2019_window(const Azure2019Options& options) {
  if (options.inputs.empty()) throw UsageError("azure2019: give at least one --input day file");
  MinuteWindow window;
  window.days = static_cast<std::uint32_t>(options.inputs.size());
  window.first = options.first_minute;
  window.last = options.last_minute == 0 ? window.days * kMinutesPerDay : options.last_minute;
  if (window.first < 1 || window.first > window.last ||
      window.last > window.days * kMinutesPerDay) {
    throw UsageError("--minutes " + std::to_string(window.first) + "-" +
                     std::to_string(window.last) + " is outside 1-" +
                     std::to_string(window.days * kMinutesPerDay) + " (" +
                     std::to_string(window.days) + " day file(s))");
  }
  return window;
}

// Every function's non-zero per-minute counts inside the window, functions numbered in order
// of first appearance.
struct FunctionCounts {
  struct Entry {
    std::uint32_t minute;  // 0-based within the window
    std::uint32_t count;
  };
  std::vector<std::string> keys;  // "owner,app,function"
  std::vector<std::vector<Entry>> entries;
  std::vector<std::uint64_t> totals;
};

constexpr std::size_t kAzure2019Columns = 4 + kMinutesPerDay;
constexpr const char* kAzure2019Keys[] = {"HashOwner", "HashApp", "HashFunction", "Trigger"};

void check_azure2019_header(const std::string& path, const std::vector<std::string_view>& fields) {
  bool header_ok = fields.size() == kAzure2019Columns;
  for (std::size_t c = 0; header_ok && c < 4; ++c) header_ok = fields[c] == kAzure2019Keys[c];
  for (std::size_t c = 4; header_ok && c < kAzure2019Columns; ++c) {
    header_ok = fields[c] == std::to_string(c - 3);
  }
  if (!header_ok) {
    throw InputError(
        path, 1,
        "expected the header HashOwner,HashApp,HashFunction,Trigger,1,...,1440 (found " +
            std::to_string(fields.size()) + " columns)");
  }
}

// Reads one day file into `counts`. Every row is checked, also rows outside the window or of
// other triggers: a malformed file is never used silently.
void read_azure2019_day(const Azure2019Options& options, const MinuteWindow& window,
                        std::uint32_t day, FunctionCounts& counts,
                        std::unordered_map<std::string, std::uint32_t>& function_index) {
  const std::string& path = options.inputs[day];
  detail::LineReader reader(path);
  std::string_view line;
  if (!reader.next(line)) throw InputError(path, 0, "empty file");
  std::vector<std::string_view> fields;
  split(line, fields);
  check_azure2019_header(path, fields);
  // Columns of this day inside the window.
  const std::uint32_t day_start = day * kMinutesPerDay + 1;  // global minute of column "1"
  const std::uint32_t lo = std::max(window.first, day_start);
  const std::uint32_t hi = std::min(window.last, day_start + kMinutesPerDay - 1);
  std::string key;
  while (reader.next(line)) {
    if (line.empty()) throw InputError(path, reader.line_number(), "empty line");
    split(line, fields);
    if (fields.size() != kAzure2019Columns) {
      throw InputError(path, reader.line_number(),
                       "expected " + std::to_string(kAzure2019Columns) + " columns, found " +
                           std::to_string(fields.size()));
    }
    for (std::size_t c = 0; c < 4; ++c) {
      if (fields[c].empty()) {
        throw InputError(path, reader.line_number(), std::string("empty ") + kAzure2019Keys[c]);
      }
    }
    std::uint32_t minute_counts[kMinutesPerDay];
    for (std::size_t c = 0; c < kMinutesPerDay; ++c) {
      if (!parse_count(fields[4 + c], minute_counts[c])) {
        throw InputError(path, reader.line_number(),
                         "minute " + std::to_string(c + 1) + ": count '" +
                             std::string(fields[4 + c]) + "' is not a non-negative integer");
      }
    }
    if (options.http_only && fields[3] != "http") continue;
    if (lo > hi) continue;
    key.assign(fields[0]).append(",").append(fields[1]).append(",").append(fields[2]);
    auto [it, inserted] =
        function_index.emplace(key, static_cast<std::uint32_t>(counts.keys.size()));
    if (inserted) {
      counts.keys.push_back(key);
      counts.entries.emplace_back();
      counts.totals.push_back(0);
    }
    const std::uint32_t f = it->second;
    for (std::uint32_t minute = lo; minute <= hi; ++minute) {
      const std::uint32_t count = minute_counts[minute - day_start];
      if (count == 0) continue;
      counts.entries[f].push_back({minute - window.first, count});
      counts.totals[f] += count;
    }
  }
}

// One function's invocations in one minute.
struct MinuteCount {
  std::uint32_t function;
  std::uint32_t count;
};

// The counts of the kept functions (mapped to a model), bucketed by minute; within a minute,
// functions in index order (deterministic). Frees the per-function entries as it goes.
std::vector<std::vector<MinuteCount>> bucket_by_minute(FunctionCounts& counts,
                                                       const std::vector<ModelId>& function_model,
                                                       std::uint32_t minutes) {
  std::vector<std::vector<MinuteCount>> by_minute(minutes);
  for (std::uint32_t f = 0; f < counts.entries.size(); ++f) {
    if (function_model[f] == kNoModel) continue;
    for (const auto& entry : counts.entries[f]) {
      by_minute[entry.minute].push_back(MinuteCount{f, entry.count});
    }
  }
  counts.entries.clear();
  counts.entries.shrink_to_fit();
  return by_minute;
}

// Spreads each minute's invocations over the minute (evenly, or uniformly at random with
// --poisson), keeps each with probability sample_fraction, and writes them in time order.
void write_minute_events(const std::vector<std::vector<MinuteCount>>& by_minute,
                         const std::vector<ModelId>& function_model,
                         const Azure2019Options& options, BlockWriter& writer) {
  Rng rng(options.filter.seed);
  const double fraction = options.filter.sample_fraction;
  struct Event {
    double time_s;
    std::uint32_t function;
  };
  std::vector<Event> events;
  for (std::uint32_t minute = 0; minute < by_minute.size(); ++minute) {
    events.clear();
    const double start_s = 60.0 * minute;
    for (const auto& bucket : by_minute[minute]) {
      for (std::uint32_t k = 0; k < bucket.count; ++k) {
        const double offset_s =
            options.poisson ? 60.0 * rng.uniform() : 60.0 * (k + 0.5) / bucket.count;
        if (fraction < 1.0 && rng.uniform() >= fraction) continue;
        events.push_back(Event{start_s + offset_s, bucket.function});
      }
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return a.time_s != b.time_s ? a.time_s < b.time_s : a.function < b.function;
    });
    for (const auto& event : events) writer.add(event.time_s, function_model[event.function]);
  }
}

}  // namespace

WorkloadSummary generate_azure2019(const Azure2019Options& options, const Catalog& catalog,
                                   const std::string& out_trace, Catalog& out_catalog) {
  const MinuteWindow window = azure2019_window(options);
  FunctionCounts counts;
  std::unordered_map<std::string, std::uint32_t> function_index;
  for (std::uint32_t day = 0; day < window.days; ++day) {
    if (options.progress) options.progress(day, window.days, "day files read");
    read_azure2019_day(options, window, day, counts, function_index);
  }
  WorkloadSummary summary;
  const auto function_model =
      plan_functions(counts.totals, counts.keys, options.filter, catalog, out_catalog, summary);
  const auto by_minute = bucket_by_minute(counts, function_model, window.minutes());
  BlockWriter writer(out_trace, names_of(out_catalog), &options.progress);
  write_minute_events(by_minute, function_model, options, writer);
  writer.close();
  summary.requests = writer.requests();
  summary.duration_s = 60.0 * window.minutes();
  summary.mean_rate_per_s = static_cast<double>(summary.requests) / summary.duration_s;
  fill_popularity(summary, writer.counts());
  return summary;
}

// ---------------------------------------------------------------------------------------------
// Azure Functions 2021: app,func,end_timestamp,duration (one row per invocation)

WorkloadSummary generate_azure2021(const Azure2021Options& options, const Catalog& catalog,
                                   const std::string& out_trace, Catalog& out_catalog) {
  if (options.input.empty()) throw UsageError("azure2021: give --input FILE");
  detail::LineReader reader(options.input);
  std::string_view line;
  if (!reader.next(line)) throw InputError(options.input, 0, "empty file");
  if (line != "app,func,end_timestamp,duration") {
    throw InputError(options.input, 1, "expected the header app,func,end_timestamp,duration");
  }
  struct Invocation {
    double arrival_s;
    std::uint32_t function;
  };
  std::vector<Invocation> invocations;
  std::unordered_map<std::string, std::uint32_t> function_index;
  std::vector<std::string> keys;
  std::vector<std::uint64_t> totals;
  std::vector<std::string_view> fields;
  std::string key;
  double earliest_s = INFINITY;
  while (reader.next(line)) {
    const auto at = reader.line_number();
    if (options.progress && at % kWriteBlock == 0) [[unlikely]]
      options.progress(at, 0, "lines read");
    if (line.empty()) throw InputError(options.input, at, "empty line");
    split(line, fields);
    if (fields.size() != 4) {
      throw InputError(options.input, at,
                       "expected 4 columns (app,func,end_timestamp,duration), found " +
                           std::to_string(fields.size()));
    }
    if (fields[0].empty() || fields[1].empty())
      throw InputError(options.input, at, "empty app or func");
    double end_s = 0, duration_s = 0;
    if (!parse_double(fields[2], end_s)) {
      throw InputError(options.input, at,
                       "end_timestamp '" + std::string(fields[2]) + "' is not a number");
    }
    if (!parse_double(fields[3], duration_s) || duration_s < 0) {
      throw InputError(options.input, at,
                       "duration '" + std::string(fields[3]) + "' is not a non-negative number");
    }
    key.assign(fields[0]).append(",").append(fields[1]);
    auto [it, inserted] = function_index.emplace(key, static_cast<std::uint32_t>(keys.size()));
    if (inserted) {
      keys.push_back(key);
      totals.push_back(0);
    }
    ++totals[it->second];
    const double arrival_s = end_s - duration_s;
    earliest_s = std::min(earliest_s, arrival_s);
    invocations.push_back(Invocation{arrival_s, it->second});
  }
  if (invocations.empty()) throw InputError(options.input, 0, "no invocations after the header");
  WorkloadSummary summary;
  const auto function_model =
      plan_functions(totals, keys, options.filter, catalog, out_catalog, summary);
  std::stable_sort(
      invocations.begin(), invocations.end(),
      [](const Invocation& a, const Invocation& b) { return a.arrival_s < b.arrival_s; });
  BlockWriter writer(out_trace, names_of(out_catalog), &options.progress,
                     options.filter.sample_fraction < 1.0 ? 0 : invocations.size());
  Rng rng(options.filter.seed);
  const double fraction = options.filter.sample_fraction;
  for (const auto& invocation : invocations) {
    const ModelId model = function_model[invocation.function];
    if (model == kNoModel) continue;
    if (fraction < 1.0 && rng.uniform() >= fraction) continue;
    writer.add(invocation.arrival_s - earliest_s, model);
  }
  writer.close();
  summary.requests = writer.requests();
  summary.duration_s = invocations.back().arrival_s - earliest_s;
  summary.mean_rate_per_s =
      summary.duration_s > 0 ? static_cast<double>(summary.requests) / summary.duration_s : 0;
  fill_popularity(summary, writer.counts());
  return summary;
}

// ---------------------------------------------------------------------------------------------
// Synthetic workloads

namespace {

// The periodic (timer-triggered) models of a synthetic workload: which, and their periods.
struct TimerPlan {
  std::vector<ModelId> models;
  std::vector<double> period_s;
  double poisson_share = 1.0;  // the share of the total rate left to the Poisson stream
};

// Makes round(share x n) models timer-triggered: the band of consecutive popularity ranks whose
// share of the total rate is closest to options.timer_request_share (Azure: 16% of functions,
// 2% of invocations). Their weights become 0 and their periods 1 / (their rate, rescaled as the
// whole workload is).
TimerPlan plan_timers(const SynthOptions& options, const std::vector<double>& by_rank,
                      const std::vector<ModelId>& rank_to_model, double rate_per_s,
                      std::vector<double>& weights) {
  TimerPlan plan;
  if (options.timer_share <= 0) return plan;
  const std::uint64_t n = by_rank.size();
  const auto k = std::min<std::uint64_t>(
      n, static_cast<std::uint64_t>(std::llround(options.timer_share * static_cast<double>(n))));
  if (k == 0) return plan;
  const double total = std::accumulate(by_rank.begin(), by_rank.end(), 0.0);
  // Slide a window of k ranks (most popular first); keep the one nearest the wanted share.
  double window = std::accumulate(by_rank.begin(), by_rank.begin() + static_cast<long>(k), 0.0);
  std::uint64_t best = 0;
  double best_gap = std::fabs(window / total - options.timer_request_share);
  for (std::uint64_t first = 1; first + k <= n; ++first) {
    window += by_rank[first + k - 1] - by_rank[first - 1];
    const double gap = std::fabs(window / total - options.timer_request_share);
    if (gap < best_gap) {
      best_gap = gap;
      best = first;
    }
  }
  double timer_weight = 0;
  for (std::uint64_t r = best; r < best + k; ++r) {
    const ModelId model = rank_to_model[r];
    plan.models.push_back(model);
    plan.period_s.push_back(total / (by_rank[r] * rate_per_s));  // 1 / (rescaled rate)
    timer_weight += by_rank[r];
    weights[model] = 0;
  }
  plan.poisson_share = (total - timer_weight) / total;
  return plan;
}

// The timer models' next firings, earliest first: k period + phase + jitter.
class TimerQueue {
 public:
  TimerQueue(const TimerPlan& plan, double jitter_s, std::uint64_t seed)
      : plan_(plan), rng_(seed ^ 0x6669726573ULL) {  // "fires"
    for (std::size_t i = 0; i < plan.models.size(); ++i) {
      const double period = plan.period_s[i];
      jitter_s_.push_back(std::min(jitter_s, 0.25 * period));
      const double base = rng_.uniform() * period + jitter_s_.back();
      base_s_.push_back(base);
      fired_.push_back(0);
      queue_.push({jittered(i, base), static_cast<std::uint32_t>(i)});
    }
  }
  double next_s() const { return queue_.empty() ? INFINITY : queue_.top().first; }
  ModelId pop() {
    const auto i = queue_.top().second;
    queue_.pop();
    const double base = base_s_[i] + static_cast<double>(++fired_[i]) * plan_.period_s[i];
    queue_.push({jittered(i, base), i});
    return plan_.models[i];
  }

 private:
  double jittered(std::size_t i, double base) {
    return base + (2 * rng_.uniform() - 1) * jitter_s_[i];
  }
  const TimerPlan& plan_;
  Rng rng_;
  std::vector<double> jitter_s_, base_s_;
  std::vector<std::uint64_t> fired_;
  using Entry = std::pair<double, std::uint32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_;
};

}  // namespace

WorkloadSummary generate_synth(const SynthOptions& options, const Catalog& catalog,
                               const std::string& out_trace, Catalog& out_catalog) {
  if (catalog.models.empty()) throw UsageError("the catalog has no models");
  if (options.requests == 0 && !(options.duration_s > 0))
    throw UsageError("synth: give --requests N or --duration S");
  if (options.duration_s < 0 || !std::isfinite(options.duration_s))
    throw UsageError("--duration must be >= 0");
  if (options.popularity == Popularity::kZipf &&
      (!(options.zipf_alpha >= 0) || options.zipf_alpha > 10)) {
    throw UsageError("--zipf must be in [0, 10]");
  }
  if (options.rate_per_s < 0 || !std::isfinite(options.rate_per_s))
    throw UsageError("--rate must be >= 0");
  if (!(options.diurnal_amplitude >= 0 && options.diurnal_amplitude <= 1)) {
    throw UsageError("--diurnal must be in [0, 1]");
  }
  if (!(options.diurnal_period_s > 0)) throw UsageError("--diurnal-period must be > 0");
  if (options.arrivals == ArrivalProcess::kOnOff &&
      !(options.on_mean_s > 0 && options.off_mean_s >= 0)) {
    throw UsageError("--on must be > 0 and --off >= 0");
  }
  if (!(options.timer_share >= 0 && options.timer_share <= 1))
    throw UsageError("--timers must be in [0, 1]");
  if (!(options.timer_request_share >= 0 && options.timer_request_share <= 1))
    throw UsageError("--timer-requests must be in [0, 1]");
  if (!(options.timer_jitter_s >= 0) || !std::isfinite(options.timer_jitter_s))
    throw UsageError("--timer-jitter must be >= 0");
  if (options.timer_share > 0 && options.popularity != Popularity::kAzure)
    throw UsageError("--timers needs --popularity azure");
  const std::uint64_t n = options.models == 0 ? catalog.models.size() : options.models;
  if (n >= kNoModel) throw UsageError("--models is too large");
  // The catalog: the first n models; beyond the catalog, copies named <model>-<k>.
  out_catalog = Catalog{};
  for (std::uint64_t m = 0; m < n; ++m) {
    ModelInfo model = catalog.models[m % catalog.models.size()];
    if (m >= catalog.models.size()) model.name += "-" + std::to_string(m / catalog.models.size());
    out_catalog.add(std::move(model));
  }
  Rng rng(options.seed);
  // Popularity by rank, then a seeded permutation decides which model holds which rank, so
  // popularity is independent of catalog order.
  std::vector<double> by_rank(n);
  double natural_rate_per_s = 10.0;
  if (options.popularity == Popularity::kZipf) {
    for (std::uint64_t r = 0; r < n; ++r)
      by_rank[r] = 1.0 / std::pow(static_cast<double>(r + 1), options.zipf_alpha);
  } else {
    by_rank = azure_calibrated_rates_per_min(n);
    natural_rate_per_s = std::accumulate(by_rank.begin(), by_rank.end(), 0.0) / 60.0;
  }
  std::vector<ModelId> rank_to_model(n);
  std::iota(rank_to_model.begin(), rank_to_model.end(), ModelId{0});
  for (std::uint64_t i = n; i > 1; --i)
    std::swap(rank_to_model[i - 1], rank_to_model[rng.below(i)]);
  std::vector<double> weights(n);
  for (std::uint64_t r = 0; r < n; ++r) weights[rank_to_model[r]] = by_rank[r];
  const double rate_per_s = options.rate_per_s > 0 ? options.rate_per_s : natural_rate_per_s;
  // Timer-triggered models leave the Poisson stream (weight 0) and fire periodically instead.
  const TimerPlan timers = plan_timers(options, by_rank, rank_to_model, rate_per_s, weights);
  if (timers.poisson_share <= 0) throw UsageError("--timers leaves no Poisson model");
  const AliasTable table(weights);

  // On/off: each model alternates exponential busy (on) and idle (off) periods; while on it
  // runs at weight / duty so the long-run mean is unchanged. Candidates come at rate / duty
  // and are kept only when their model is on (thinning), as with the diurnal factor.
  const bool on_off = options.arrivals == ArrivalProcess::kOnOff;
  const double duty = on_off ? options.on_mean_s / (options.on_mean_s + options.off_mean_s) : 1.0;
  std::vector<std::uint8_t> is_on;
  std::vector<double> next_switch_s;
  if (on_off) {
    is_on.resize(n);
    next_switch_s.resize(n);
    for (std::uint64_t m = 0; m < n; ++m) {
      is_on[m] = rng.uniform() < duty ? 1 : 0;
      next_switch_s[m] = rng.exponential(
          1.0 / (is_on[m] ? options.on_mean_s : std::max(options.off_mean_s, 1e-12)));
    }
  }
  const double amplitude = options.diurnal_amplitude;
  const double candidate_rate = rate_per_s * timers.poisson_share / duty * (1.0 + amplitude);
  const double angular = 6.283185307179586 / options.diurnal_period_s;
  const double stop_s = options.duration_s > 0 ? options.duration_s : INFINITY;
  const std::uint64_t limit = options.requests > 0 ? options.requests : ~std::uint64_t{0};
  BlockWriter writer(out_trace, names_of(out_catalog), &options.progress, options.requests);
  TimerQueue timer_queue(timers, options.timer_jitter_s, options.seed);
  std::uint64_t timer_requests = 0;
  double t = 0;
  double candidate_s = 0;  // the next Poisson candidate, drawn when the last one is used
  bool drawn = false;      // (in this order the random stream is the same as without timers)
  while (writer.requests() < limit) {
    if (!drawn) {
      candidate_s = t + rng.exponential(candidate_rate);
      drawn = true;
    }
    // A timer firing no later than the next candidate goes first.
    if (timer_queue.next_s() <= candidate_s) {
      const double fire_s = timer_queue.next_s();
      if (fire_s >= stop_s) break;
      writer.add(fire_s, timer_queue.pop());
      ++timer_requests;
      continue;
    }
    t = candidate_s;
    drawn = false;
    if (t >= stop_s) break;
    const ModelId model = table.sample(rng);
    if (amplitude > 0 &&
        rng.uniform() * (1.0 + amplitude) >= 1.0 + amplitude * std::sin(angular * t))
      continue;
    if (on_off) {
      while (next_switch_s[model] <= t) {
        is_on[model] ^= 1;
        next_switch_s[model] += rng.exponential(
            1.0 / (is_on[model] ? options.on_mean_s : std::max(options.off_mean_s, 1e-12)));
      }
      if (!is_on[model]) continue;
    }
    writer.add(t, model);
  }
  writer.close();
  WorkloadSummary summary;
  summary.requests = writer.requests();
  summary.functions_read = n;
  summary.functions_kept = n;
  summary.duration_s = options.duration_s > 0 ? options.duration_s : writer.last_time_s();
  summary.mean_rate_per_s =
      summary.duration_s > 0 ? static_cast<double>(summary.requests) / summary.duration_s : 0;
  fill_popularity(summary, writer.counts());
  summary.timer_models = timers.models.size();
  summary.timer_requests = timer_requests;
  return summary;
}

}  // namespace brulee::workload
