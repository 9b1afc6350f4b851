// Trace statistics in one streaming pass.
#include "workload/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.hpp"
#include "core/units.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {
namespace {

// Log-binned histogram of non-negative values: 200 bins per decade from 1e-9 to 1e9, plus a
// bin for zero. Percentiles are reported at the geometric middle of their bin.
class LogHistogram {
 public:
  static constexpr int kBinsPerDecade = 200;
  static constexpr int kMinExp = -9, kMaxExp = 9;
  LogHistogram() : bins_((kMaxExp - kMinExp) * kBinsPerDecade + 1, 0) {}
  void add(double value) {
    ++count_;
    sum_ += value;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
    if (value <= 0) {
      ++zero_;
      return;
    }
    const double position = (std::log10(value) - kMinExp) * kBinsPerDecade;
    const auto bin =
        static_cast<std::size_t>(std::clamp(position, 0.0, static_cast<double>(bins_.size() - 1)));
    ++bins_[bin];
  }
  double quantile(double q) const {
    const auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = zero_;
    if (seen >= std::max<std::uint64_t>(target, 1)) return 0.0;
    for (std::size_t b = 0; b < bins_.size(); ++b) {
      seen += bins_[b];
      if (seen >= target) {
        const double middle =
            std::pow(10.0, kMinExp + (static_cast<double>(b) + 0.5) / kBinsPerDecade);
        return std::clamp(middle, min_, max_);
      }
    }
    return max_;
  }
  Distribution summary() const {
    Distribution d;
    d.count = count_;
    if (count_ == 0) return d;
    d.mean = sum_ / static_cast<double>(count_);
    d.min = min_;
    d.max = max_;
    d.p50 = quantile(0.5);
    d.p90 = quantile(0.9);
    d.p99 = quantile(0.99);
    d.p999 = quantile(0.999);
    return d;
  }

 private:
  std::vector<std::uint64_t> bins_;
  std::uint64_t zero_ = 0, count_ = 0;
  double sum_ = 0, min_ = INFINITY, max_ = -INFINITY;
};

// Exact distribution of a list of values.
Distribution exact(std::vector<double> values) {
  Distribution d;
  d.count = values.size();
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  const auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  d.min = values.front();
  d.max = values.back();
  d.p50 = at(0.5);
  d.p90 = at(0.9);
  d.p99 = at(0.99);
  d.p999 = at(0.999);
  return d;
}

// Exact distribution from integer counts: histogram[v] = how many times value v occurred.
Distribution from_histogram(const std::vector<std::uint64_t>& histogram) {
  Distribution d;
  double sum = 0;
  for (std::size_t v = 0; v < histogram.size(); ++v) {
    d.count += histogram[v];
    sum += static_cast<double>(v) * static_cast<double>(histogram[v]);
  }
  if (d.count == 0) return d;
  d.mean = sum / static_cast<double>(d.count);
  const auto at = [&](double q) {
    const auto target = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(d.count))));
    std::uint64_t seen = 0;
    for (std::size_t v = 0; v < histogram.size(); ++v) {
      seen += histogram[v];
      if (seen >= target) return static_cast<double>(v);
    }
    return static_cast<double>(histogram.size() - 1);
  };
  std::size_t lo = 0;
  while (histogram[lo] == 0) ++lo;
  std::size_t hi = histogram.size() - 1;
  while (histogram[hi] == 0) --hi;
  d.min = static_cast<double>(lo);
  d.max = static_cast<double>(hi);
  d.p50 = at(0.5);
  d.p90 = at(0.9);
  d.p99 = at(0.99);
  d.p999 = at(0.999);
  return d;
}

// LRU stack distances with a Fenwick tree over "last access" slots. Each model holds one
// marker at the slot of its latest request; the distance of a reuse is the number of markers
// after the model's own. Slots are renumbered when they run out, so memory is O(models).
class StackDistance {
 public:
  // Returns the distance, or -1 for a first request.
  std::int64_t access(ModelId model) {
    if (model >= slot_of_.size()) slot_of_.resize(model + 1, kNone);
    if (next_slot_ == tree_.size()) compact();
    std::int64_t distance = -1;
    const std::uint64_t old = slot_of_[model];
    if (old != kNone) {
      distance = static_cast<std::int64_t>(active_ - prefix(old + 1));
      update(old, -1);
      --active_;
    }
    slot_of_[model] = next_slot_;
    update(next_slot_++, +1);
    ++active_;
    return distance;
  }

 private:
  static constexpr std::uint64_t kNone = ~std::uint64_t{0};
  void update(std::uint64_t slot, std::int64_t delta) {
    for (std::uint64_t i = slot + 1; i <= tree_.size(); i += i & (~i + 1)) tree_[i - 1] += delta;
  }
  std::uint64_t prefix(std::uint64_t count) const {  // markers in slots [0, count)
    std::int64_t sum = 0;
    for (std::uint64_t i = count; i > 0; i -= i & (~i + 1)) sum += tree_[i - 1];
    return static_cast<std::uint64_t>(sum);
  }
  void compact() {
    std::vector<std::pair<std::uint64_t, ModelId>> live;
    for (ModelId m = 0; m < slot_of_.size(); ++m) {
      if (slot_of_[m] != kNone) live.emplace_back(slot_of_[m], m);
    }
    std::sort(live.begin(), live.end());
    tree_.assign(std::max<std::size_t>(1024, 4 * (live.size() + 1)), 0);
    next_slot_ = 0;
    for (const auto& [slot, m] : live) {
      slot_of_[m] = next_slot_;
      update(next_slot_++, +1);
    }
  }
  std::vector<std::int64_t> tree_;
  std::vector<std::uint64_t> slot_of_;
  std::uint64_t next_slot_ = 0;
  std::uint64_t active_ = 0;
};

nlohmann::json to_json(const Distribution& d) {
  return {{"count", d.count}, {"mean", d.mean}, {"min", d.min},   {"p50", d.p50},
          {"p90", d.p90},     {"p99", d.p99},   {"p999", d.p999}, {"max", d.max}};
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string seconds(double value) {
  if (value == 0) return "0 s";
  if (value < 1e-3) return format("%.3g us", value * 1e6);
  if (value < 1) return format("%.3g ms", value * 1e3);
  return format("%.4g s", value);
}

}  // namespace

namespace {

// Everything compute_stats learns from the requests, one at a time (add), then the summary
// figures (finish).
class StatsAccumulator {
 public:
  StatsAccumulator(const StatsOptions& options, std::vector<std::uint64_t> sizes, TraceStats& stats)
      : options_(options), sizes_(std::move(sizes)), stats_(stats) {}

  void add(const TraceRecord& r) {
    if (stats_.requests == 0) {
      stats_.first_time_s = r.time_s;
      first_minute_ = static_cast<std::uint64_t>(std::floor(r.time_s / 60.0));
      next_sample_s_ = r.time_s + options_.window_s;
    } else {
      interarrival_.add(r.time_s - previous_s_);
    }
    while (r.time_s > next_sample_s_) {  // working set at each step boundary before this request
      sample(next_sample_s_);
      next_sample_s_ += options_.window_s;
    }
    previous_s_ = r.time_s;
    ++stats_.requests;
    ++counts_[r.model];
    const auto minute = static_cast<std::uint64_t>(std::floor(r.time_s / 60.0)) - first_minute_;
    if (last_minute_[r.model] != minute) {
      last_minute_[r.model] = minute;
      ++busy_minutes_[r.model];
    }
    last_access_s_[r.model] = r.time_s;
    const std::int64_t distance = stack_.access(r.model);
    if (distance < 0) {
      ++stats_.cold_requests;
    } else {
      const auto d = static_cast<std::size_t>(distance);
      if (d >= reuse_histogram_.size()) reuse_histogram_.resize(d + 1, 0);
      ++reuse_histogram_[d];
    }
  }

  // Room for `n` models (the reader's table grows as it meets new names).
  void grow(std::size_t n) {
    if (counts_.size() >= n) return;
    counts_.resize(n, 0);
    busy_minutes_.resize(n, 0);
    last_minute_.resize(n, ~std::uint64_t{0});
    last_access_s_.resize(n, -INFINITY);
  }

  void finish(const std::vector<std::string>& names) {
    grow(names.size());
    if (stats_.requests > 0) sample(previous_s_);  // the end of the trace
    stats_.last_time_s = previous_s_;
    const double span_s = stats_.last_time_s - stats_.first_time_s;
    stats_.mean_rate_per_s = span_s > 0 ? static_cast<double>(stats_.requests) / span_s : 0;
    stats_.models_in_table = names.size();
    stats_.minutes =
        stats_.requests == 0
            ? 0
            : static_cast<std::uint64_t>(std::floor(stats_.last_time_s / 60.0)) - first_minute_ + 1;
    finish_models(names);
    stats_.interarrival_s = interarrival_.summary();
    if (!reuse_histogram_.empty()) stats_.reuse_distance = from_histogram(reuse_histogram_);
    finish_working_set();
  }

 private:
  void sample(double at_s) {
    if (series_.size() >= 20'000'000) {
      throw UsageError("--window " + std::to_string(options_.window_s) +
                       " s is too small for this trace (over 20M steps)");
    }
    WorkingSetPoint point;
    point.time_s = at_s;
    for (std::size_t m = 0; m < last_access_s_.size(); ++m) {
      if (last_access_s_[m] > at_s - options_.window_s) {
        ++point.models;
        if (!sizes_.empty()) point.bytes += sizes_[m];
      }
    }
    series_.push_back(point);
    ws_models_.push_back(static_cast<double>(point.models));
    ws_bytes_.push_back(static_cast<double>(point.bytes));
  }

  // Per-model rows, popularity concentration (top shares, Gini) and idleness.
  void finish_models(const std::vector<std::string>& names) {
    std::vector<double> used, idle;
    stats_.models.resize(names.size());
    for (std::size_t m = 0; m < names.size(); ++m) {
      auto& model = stats_.models[m];
      model.name = names[m];
      model.requests = counts_[m];
      model.size_bytes = sizes_.empty() ? 0 : sizes_[m];
      model.idle_fraction = stats_.minutes == 0 ? 1.0
                                                : 1.0 - static_cast<double>(busy_minutes_[m]) /
                                                            static_cast<double>(stats_.minutes);
      idle.push_back(model.idle_fraction);
      if (counts_[m] > 0) used.push_back(static_cast<double>(counts_[m]));
    }
    stats_.models_used = used.size();
    stats_.requests_per_model = exact(used);
    if (!used.empty()) {
      std::sort(used.begin(), used.end(), std::greater<>());
      const double total = static_cast<double>(stats_.requests);
      stats_.top1_share = used[0] / total;
      const std::size_t top = std::max<std::size_t>(1, (used.size() + 9) / 10);
      stats_.top10pct_share =
          std::accumulate(used.begin(), used.begin() + static_cast<long>(top), 0.0) / total;
      const auto k = static_cast<double>(used.size());
      double weighted = 0;
      for (std::size_t i = 0; i < used.size(); ++i)
        weighted += (2 * (k - static_cast<double>(i)) - k - 1) * used[i];
      stats_.gini = weighted / (k * total);
    }
    stats_.idle_fraction = exact(idle);
    if (!idle.empty()) {
      const auto share = [&](double threshold) {
        return static_cast<double>(std::count_if(idle.begin(), idle.end(),
                                                 [&](double v) { return v >= threshold; })) /
               static_cast<double>(idle.size());
      };
      stats_.share_idle_90pct = share(0.9);
      stats_.share_idle_99pct = share(0.99);
    }
  }

  // The working-set distributions, and its series thinned to series_points.
  void finish_working_set() {
    stats_.working_set_models = exact(ws_models_);
    if (stats_.has_sizes) stats_.working_set_bytes = exact(ws_bytes_);
    if (series_.size() > options_.series_points && options_.series_points > 0) {
      std::vector<WorkingSetPoint> thinned;
      for (std::size_t k = 0; k < options_.series_points; ++k) {
        thinned.push_back(series_[k * (series_.size() - 1) /
                                  std::max<std::size_t>(1, options_.series_points - 1)]);
      }
      series_ = std::move(thinned);
    }
    stats_.working_set = std::move(series_);
  }

  const StatsOptions& options_;
  const std::vector<std::uint64_t> sizes_;  // by model id; empty without a catalog
  TraceStats& stats_;
  std::vector<std::uint64_t> counts_, busy_minutes_, last_minute_;
  std::vector<double> last_access_s_;
  std::vector<std::uint64_t> reuse_histogram_;
  LogHistogram interarrival_;
  StackDistance stack_;
  std::vector<WorkingSetPoint> series_;
  std::vector<double> ws_models_, ws_bytes_;
  double previous_s_ = 0;
  double next_sample_s_ = 0;
  std::uint64_t first_minute_ = 0;
};

}  // namespace

TraceStats compute_stats(const std::string& trace_path, const StatsOptions& options) {
  if (!(options.window_s > 0) || !std::isfinite(options.window_s))
    throw UsageError("--window must be > 0");
  TraceReader reader(trace_path);
  TraceStats stats;
  stats.path = trace_path;
  stats.window_s = options.window_s;
  std::vector<std::uint64_t> sizes;
  if (options.catalog) {
    std::vector<std::string> names;
    for (const auto& model : options.catalog->models) {
      names.push_back(model.name);
      sizes.push_back(model.size_bytes);
    }
    reader.restrict_models(names);
    stats.has_sizes = true;
    stats.catalog_bytes = options.catalog->total_bytes();
  }
  StatsAccumulator accumulator(options, std::move(sizes), stats);
  std::vector<TraceRecord> block(1 << 16);
  while (const std::size_t n = reader.read(block)) {
    accumulator.grow(reader.model_names().size());
    for (std::size_t i = 0; i < n; ++i) accumulator.add(block[i]);
  }
  accumulator.finish(reader.model_names());
  return stats;
}

std::string stats_json(const TraceStats& stats) {
  nlohmann::json doc;
  doc["trace"] = stats.path;
  doc["requests"] = stats.requests;
  doc["models_in_table"] = stats.models_in_table;
  doc["models_used"] = stats.models_used;
  doc["first_time_s"] = stats.first_time_s;
  doc["last_time_s"] = stats.last_time_s;
  doc["mean_rate_per_s"] = stats.mean_rate_per_s;
  doc["requests_per_model"] = to_json(stats.requests_per_model);
  doc["popularity"] = {{"top1_share", stats.top1_share},
                       {"top10pct_share", stats.top10pct_share},
                       {"gini", stats.gini}};
  doc["interarrival_s"] = to_json(stats.interarrival_s);
  doc["reuse_distance"] = to_json(stats.reuse_distance);
  doc["reuse_distance"]["cold_requests"] = stats.cold_requests;
  doc["idle"] = {{"minutes", stats.minutes},
                 {"idle_fraction", to_json(stats.idle_fraction)},
                 {"share_idle_90pct", stats.share_idle_90pct},
                 {"share_idle_99pct", stats.share_idle_99pct}};
  nlohmann::json working_set = {{"window_s", stats.window_s},
                                {"models", to_json(stats.working_set_models)}};
  if (stats.has_sizes) {
    working_set["bytes"] = to_json(stats.working_set_bytes);
    working_set["catalog_bytes"] = stats.catalog_bytes;
  }
  nlohmann::json series = nlohmann::json::array();
  for (const auto& point : stats.working_set) {
    nlohmann::json p = {{"time_s", point.time_s}, {"models", point.models}};
    if (stats.has_sizes) p["bytes"] = point.bytes;
    series.push_back(std::move(p));
  }
  working_set["series"] = std::move(series);
  doc["working_set"] = std::move(working_set);
  nlohmann::json models = nlohmann::json::array();
  for (const auto& model : stats.models) {
    nlohmann::json m = {
        {"name", model.name}, {"requests", model.requests}, {"idle_fraction", model.idle_fraction}};
    if (stats.has_sizes) m["size_bytes"] = model.size_bytes;
    models.push_back(std::move(m));
  }
  doc["models"] = std::move(models);
  return doc.dump(2) + "\n";
}

std::string stats_table(const TraceStats& s) {
  std::string out;
  char line[256];
  const auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  const auto llu = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  add("trace        %s\n", s.path.c_str());
  add("requests     %llu over %s (%.4g req/s), %llu of %llu models used\n", llu(s.requests),
      seconds(s.last_time_s - s.first_time_s).c_str(), s.mean_rate_per_s, llu(s.models_used),
      llu(s.models_in_table));
  const auto& c = s.requests_per_model;
  add("per model    requests min %.0f  p50 %.0f  p90 %.0f  p99 %.0f  max %.0f  (mean %.1f)\n",
      c.min, c.p50, c.p90, c.p99, c.max, c.mean);
  add("popularity   top model %.1f%%, top 10%% of models %.1f%% of requests, Gini %.3f\n",
      100 * s.top1_share, 100 * s.top10pct_share, s.gini);
  const auto& ia = s.interarrival_s;
  add("inter-arrival p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", seconds(ia.p50).c_str(),
      seconds(ia.p90).c_str(), seconds(ia.p99).c_str(), seconds(ia.p999).c_str(),
      seconds(ia.max).c_str());
  const auto& rd = s.reuse_distance;
  add("reuse dist.  p50 %.0f  p90 %.0f  p99 %.0f  max %.0f distinct models between reuses (%llu "
      "cold)\n",
      rd.p50, rd.p90, rd.p99, rd.max, llu(s.cold_requests));
  add("idle         over %llu minutes: mean idle %.1f%%, median %.1f%%; %.1f%% of models idle >= "
      "90%%, %.1f%% >= 99%%\n",
      llu(s.minutes), 100 * s.idle_fraction.mean, 100 * s.idle_fraction.p50,
      100 * s.share_idle_90pct, 100 * s.share_idle_99pct);
  const auto& wm = s.working_set_models;
  add("working set  W=%s: models p50 %.0f  p90 %.0f  max %.0f (mean %.1f)\n",
      seconds(s.window_s).c_str(), wm.p50, wm.p90, wm.max, wm.mean);
  if (s.has_sizes) {
    const auto& wb = s.working_set_bytes;
    add("             bytes p50 %s  p90 %s  max %s  (catalog %s)\n",
        format_bytes(static_cast<std::uint64_t>(wb.p50)).c_str(),
        format_bytes(static_cast<std::uint64_t>(wb.p90)).c_str(),
        format_bytes(static_cast<std::uint64_t>(wb.max)).c_str(),
        format_bytes(s.catalog_bytes).c_str());
  }
  std::vector<std::size_t> order(s.models.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return s.models[a].requests > s.models[b].requests;
  });
  const std::size_t shown = std::min<std::size_t>(10, order.size());
  add("\n%-32s %12s %8s %9s\n", "model (top 10 by requests)", "requests", "share", "idle");
  for (std::size_t k = 0; k < shown; ++k) {
    const auto& m = s.models[order[k]];
    add("%-32.32s %12llu %7.2f%% %8.1f%%\n", m.name.c_str(), llu(m.requests),
        s.requests ? 100.0 * static_cast<double>(m.requests) / static_cast<double>(s.requests)
                   : 0.0,
        100 * m.idle_fraction);
  }
  if (order.size() > shown) add("... %zu more models (--json lists all)\n", order.size() - shown);
  return out;
}

}  // namespace brulee::workload
