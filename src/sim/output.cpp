#include "sim/output.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include "core/error.hpp"
#include "core/timeline_csv.hpp"
#include "core/units.hpp"

namespace brulee::sim {
namespace {

std::string number(double value, int digits = 9) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*g", digits, value);
  return text;
}

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double memory_fraction(const SimSummary& s, const RunInfo& info) {
  return info.footprint_bytes ? static_cast<double>(s.memory_bytes) * s.workers /
                                    static_cast<double>(info.footprint_bytes)
                              : 0.0;
}

// What the text outputs say of the bound.
const char* bound_description(BoundKind kind) {
  switch (kind) {
    case BoundKind::kFlow:
      return "flow (min-cost flow LP, FOO; with one worker the optimum lies between it and the "
             "schedule)";
    case BoundKind::kInterval:
      return "interval (relaxation, looser)";
    case BoundKind::kNone:
      break;
  }
  return "none";
}

}  // namespace

nlohmann::ordered_json summary_json(const SimSummary& s, const RunInfo& info) {
  nlohmann::ordered_json j;
  j["policy"] = s.policy;
  j["memory_bytes"] = s.memory_bytes;
  j["memory_fraction"] = memory_fraction(s, info);
  j["workers"] = s.workers;
  j["mode"] = !s.queueing ? "no-queueing" : (s.parallel_load ? "parallel-load" : "queueing");
  if (s.parallel_load) j["first_loads"] = s.isolated_first_loads ? "isolated" : "concurrent";
  j["requests"] = s.requests;
  j["hits"] = s.hits;
  j["misses"] = s.misses;
  j["hit_ratio"] = s.hit_ratio();
  j["cache_hit_ratio"] = s.cache_hit_ratio();
  j["loads"] = s.loads;
  j["evictions"] = s.evictions;
  j["bytes_loaded"] = s.bytes_loaded;
  j["peak_used_bytes"] = s.peak_used_bytes;
  j["total_load_delay_s"] = s.total_load_delay_s;
  j["mean_load_delay_s"] = s.mean_load_delay_s();
  j["mean_exec_s"] = s.mean_exec_s();
  j["load_exec_ratio"] = s.load_exec_ratio();
  j["mean_queue_delay_s"] = s.mean_queue_delay_s();
  j["latency_mean_s"] = s.latency_mean_s;
  j["latency_p50_s"] = s.latency_p50_s;
  j["latency_p95_s"] = s.latency_p95_s;
  j["latency_p99_s"] = s.latency_p99_s;
  j["latency_max_s"] = s.latency_max_s;
  j["load_cost_s"] = s.load_cost_s;
  if (s.bound_load_cost_s >= 0) {
    j["bound_load_cost_s"] = s.bound_load_cost_s;
    j["cost_over_bound"] = s.cost_over_bound();
  } else {
    j["bound_load_cost_s"] = nullptr;
    j["cost_over_bound"] = nullptr;
  }
  j["bound"] = bound_name(s.bound);
  if (s.schedule_load_cost_s >= 0) {  // the flow bound only
    j["schedule_load_cost_s"] = s.schedule_load_cost_s;
    j["cost_over_schedule"] = s.cost_over_schedule();
  }
  if (s.prefetch) {  // only with --prefetch: the outputs without it are unchanged
    j["prefetches"] = s.prefetches;
    j["prefetches_used"] = s.prefetches_used;
    j["prefetches_cancelled"] = s.prefetches_cancelled;
    j["prefetch_load_s"] = s.prefetch_load_s;
    j["prefetch_wasted_s"] = s.prefetch_wasted_s;
  }
  return j;
}

nlohmann::ordered_json sweep_json(const std::vector<SimSummary>& results, const RunInfo& info) {
  nlohmann::ordered_json j;
  j["trace"] = info.trace;
  j["catalog"] = info.catalog;
  j["requests"] = info.requests;
  j["models_requested"] = info.models_requested;
  j["footprint_bytes"] = info.footprint_bytes;
  j["seed"] = info.seed;
  j["bound"] = bound_name(results.empty() ? BoundKind::kNone : results.front().bound);
  j["results"] = nlohmann::ordered_json::array();
  for (const auto& s : results) j["results"].push_back(summary_json(s, info));
  return j;
}

namespace {
bool has_schedule(const std::vector<SimSummary>& results) {
  return std::any_of(results.begin(), results.end(),
                     [](const SimSummary& s) { return s.schedule_load_cost_s >= 0; });
}
}  // namespace

std::string sweep_csv(const std::vector<SimSummary>& results, const RunInfo& info) {
  std::string out =
      "policy,memory_bytes,memory_fraction,workers,mode,requests,hits,misses,hit_ratio,loads,"
      "evictions,bytes_loaded,peak_used_bytes,total_load_delay_s,mean_load_delay_s,mean_exec_s,"
      "load_exec_ratio,mean_queue_delay_s,latency_mean_s,latency_p50_s,latency_p95_s,"
      "latency_p99_s,load_cost_s,bound_load_cost_s,cost_over_bound,bound\n";
  // The flow bound's schedule, and prefetching, add columns only when there: the outputs
  // without them are unchanged.
  const bool schedule = has_schedule(results);
  if (schedule) {
    out.pop_back();
    out += ",schedule_load_cost_s,cost_over_schedule\n";
  }
  const bool prefetch =
      std::any_of(results.begin(), results.end(), [](const SimSummary& s) { return s.prefetch; });
  if (prefetch) {
    out.pop_back();
    out += ",prefetches,prefetches_used,prefetches_cancelled,prefetch_load_s,prefetch_wasted_s\n";
  }
  for (const auto& s : results) {
    out += s.policy + "," + std::to_string(s.memory_bytes) + "," +
           number(memory_fraction(s, info)) + "," + std::to_string(s.workers) + "," +
           (!s.queueing ? "no-queueing" : (s.parallel_load ? "parallel-load" : "queueing")) + "," +
           std::to_string(s.requests) + "," + std::to_string(s.hits) + "," +
           std::to_string(s.misses) + "," + number(s.hit_ratio()) + "," + std::to_string(s.loads) +
           "," + std::to_string(s.evictions) + "," + std::to_string(s.bytes_loaded) + "," +
           std::to_string(s.peak_used_bytes) + "," + number(s.total_load_delay_s, 12) + "," +
           number(s.mean_load_delay_s()) + "," + number(s.mean_exec_s()) + "," +
           number(s.load_exec_ratio()) + "," + number(s.mean_queue_delay_s()) + "," +
           number(s.latency_mean_s) + "," + number(s.latency_p50_s) + "," +
           number(s.latency_p95_s) + "," + number(s.latency_p99_s) + "," +
           number(s.load_cost_s, 12) + "," +
           (s.bound_load_cost_s >= 0 ? number(s.bound_load_cost_s, 12) : "") + "," +
           (s.bound_load_cost_s >= 0 ? number(s.cost_over_bound()) : "") + "," +
           bound_name(s.bound) + "\n";
    if (schedule) {
      out.pop_back();
      out += "," +
             (s.schedule_load_cost_s >= 0
                  ? number(s.schedule_load_cost_s, 12) + "," + number(s.cost_over_schedule())
                  : std::string(",")) +
             "\n";
    }
    if (prefetch) {
      out.pop_back();  // the line's end
      out += "," + std::to_string(s.prefetches) + "," + std::to_string(s.prefetches_used) + "," +
             std::to_string(s.prefetches_cancelled) + "," + number(s.prefetch_load_s, 12) + "," +
             number(s.prefetch_wasted_s, 12) + "\n";
    }
  }
  return out;
}

std::string summary_text(const SimSummary& s, const RunInfo& info) {
  char line[256];
  std::string out;
  auto add = [&](const char* label, const std::string& value) {
    std::snprintf(line, sizeof line, "%-28s %s\n", label, value.c_str());
    out += line;
  };
  add("policy", s.policy);
  add("mode", !s.queueing
                  ? "no-queueing (pure cache)"
                  : (s.parallel_load ? "queueing, parallel load" : "queueing (serial FIFO)"));
  add("workers", std::to_string(s.workers));
  add("memory per worker",
      format_bytes(s.memory_bytes) +
          (info.footprint_bytes
               ? " (" + number(100 * memory_fraction(s, info), 4) + "% of footprint)"
               : ""));
  add("requests", std::to_string(s.requests));
  add("hit ratio", number(s.hit_ratio(), 6));
  add("cache hit ratio (no load)", number(s.cache_hit_ratio(), 6));
  add("misses", std::to_string(s.misses));
  add("loads", std::to_string(s.loads));
  add("evictions", std::to_string(s.evictions));
  add("bytes loaded", format_bytes(s.bytes_loaded));
  add("peak memory used", format_bytes(s.peak_used_bytes));
  add("total load delay (s)", number(s.total_load_delay_s, 9));
  add("mean load delay (s)", number(s.mean_load_delay_s(), 6));
  add("mean exec (s)", number(s.mean_exec_s(), 6));
  add("load delay / exec", number(s.load_exec_ratio(), 6));
  add("mean queue delay (s)", number(s.mean_queue_delay_s(), 6));
  add("latency mean (s)", number(s.latency_mean_s, 6));
  add("latency p50/p95/p99 (s)", number(s.latency_p50_s, 5) + " / " + number(s.latency_p95_s, 5) +
                                     " / " + number(s.latency_p99_s, 5));
  add("load cost (s)", number(s.load_cost_s, 9));
  if (s.bound_load_cost_s >= 0) {
    add("offline bound (s)", number(s.bound_load_cost_s, 9));
    add("cost / bound", number(s.cost_over_bound(), 6));
  }
  if (s.schedule_load_cost_s >= 0) {
    add("offline schedule (s)", number(s.schedule_load_cost_s, 9));
    add("cost / schedule", number(s.cost_over_schedule(), 6));
  }
  add("bound", bound_description(s.bound));
  if (s.prefetch) {
    add("prefetches made / used",
        std::to_string(s.prefetches) + " / " + std::to_string(s.prefetches_used));
    add("prefetches cancelled", std::to_string(s.prefetches_cancelled));
    add("prefetch load time (s)", number(s.prefetch_load_s, 9));
    add("prefetch wasted (s)", number(s.prefetch_wasted_s, 9));
  }
  return out;
}

std::string sweep_text(const std::vector<SimSummary>& results, const RunInfo& info) {
  std::string out;
  char line[320];
  std::snprintf(line, sizeof line, "%-22s %12s %8s %9s %14s %10s %10s %10s %11s\n", "policy",
                "memory", "mem %", "hit ratio", "mean load (s)", "load/exec", "p99 (s)",
                "evictions", "cost/bound");
  out += line;
  const bool schedule = has_schedule(results);
  if (schedule) {  // one more column, only with the flow bound
    out.pop_back();
    std::snprintf(line, sizeof line, " %11s\n", "cost/sched");
    out += line;
  }
  const bool prefetch =
      std::any_of(results.begin(), results.end(), [](const SimSummary& s) { return s.prefetch; });
  if (prefetch) {  // one more column block, only with --prefetch
    out.pop_back();
    std::snprintf(line, sizeof line, " %10s %10s %12s\n", "prefetches", "used", "wasted (s)");
    out += line;
  }
  for (const auto& s : results) {
    std::snprintf(line, sizeof line, "%-22s %12s %8.2f %9.4f %14.6g %10.4g %10.4g %10llu %11s\n",
                  s.policy.c_str(), format_bytes(s.memory_bytes).c_str(),
                  100 * memory_fraction(s, info), s.hit_ratio(), s.mean_load_delay_s(),
                  s.load_exec_ratio(), s.latency_p99_s,
                  static_cast<unsigned long long>(s.evictions),
                  s.bound_load_cost_s >= 0 ? number(s.cost_over_bound(), 5).c_str() : "-");
    out += line;
    if (schedule) {
      out.pop_back();
      std::snprintf(line, sizeof line, " %11s\n",
                    s.schedule_load_cost_s >= 0 ? number(s.cost_over_schedule(), 5).c_str() : "-");
      out += line;
    }
    if (prefetch) {
      out.pop_back();
      std::snprintf(line, sizeof line, " %10llu %10llu %12.6g\n",
                    static_cast<unsigned long long>(s.prefetches),
                    static_cast<unsigned long long>(s.prefetches_used), s.prefetch_wasted_s);
      out += line;
    }
  }
  out += std::string("bound: ") +
         bound_description(results.empty() ? BoundKind::kNone : results.front().bound) + "\n";
  return out;
}

// ---- HTML report with inline SVG ----
namespace {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
};

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                "#393b79", "#637939", "#8c6d31", "#843c39"};

std::vector<double> nice_ticks(double low, double high, int target) {
  std::vector<double> ticks;
  if (!(high > low)) {
    ticks.push_back(low);
    return ticks;
  }
  const double raw = (high - low) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string svg_chart(const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Series>& series, bool log_x) {
  constexpr double kWidth = 640, kHeight = 380, kLeft = 70, kRight = 170, kTop = 36, kBottom = 50;
  double x_low = INFINITY, x_high = -INFINITY, y_low = 0.0, y_high = -INFINITY;
  for (const auto& s : series) {
    for (auto [x, y] : s.points) {
      if (log_x && x <= 0) continue;
      x_low = std::min(x_low, x);
      x_high = std::max(x_high, x);
      y_low = std::min(y_low, y);
      y_high = std::max(y_high, y);
    }
  }
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + number(kWidth) +
                    "\" height=\"" + number(kHeight) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<text x=\"" + number(kWidth / 2 - kRight / 2) +
         "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" + escape_html(title) + "</text>\n";
  if (!std::isfinite(x_low) || !std::isfinite(y_high)) {
    svg += "<text x=\"100\" y=\"100\">no data</text></svg>\n";
    return svg;
  }
  if (y_high <= y_low) y_high = y_low + 1;
  auto fx = [&](double x) { return log_x ? std::log10(x) : x; };
  double x0 = fx(x_low), x1 = fx(x_high);
  if (x1 <= x0) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (fx(x) - x0) / (x1 - x0) * plot_w; };
  auto py = [&](double y) { return kTop + plot_h - (y - y_low) / (y_high - y_low) * plot_h; };
  svg += "<rect x=\"" + number(kLeft) + "\" y=\"" + number(kTop) + "\" width=\"" + number(plot_w) +
         "\" height=\"" + number(plot_h) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double t : nice_ticks(y_low, y_high, 5)) {
    svg += "<line x1=\"" + number(kLeft) + "\" x2=\"" + number(kLeft + plot_w) + "\" y1=\"" +
           number(py(t), 6) + "\" y2=\"" + number(py(t), 6) + "\" stroke=\"#ddd\"/>\n";
    svg += "<text x=\"" + number(kLeft - 6) + "\" y=\"" + number(py(t) + 4, 6) +
           "\" text-anchor=\"end\">" + number(t, 4) + "</text>\n";
  }
  std::vector<double> x_ticks;
  if (log_x) {
    for (double e = std::floor(x0); e <= std::ceil(x1); e += 1) {
      if (e >= x0 - 1e-9 && e <= x1 + 1e-9) x_ticks.push_back(std::pow(10.0, e));
    }
    if (x_ticks.size() < 2) x_ticks = {x_low, x_high};
  } else {
    x_ticks = nice_ticks(x_low, x_high, 6);
  }
  for (double t : x_ticks) {
    svg += "<line x1=\"" + number(px(t), 6) + "\" x2=\"" + number(px(t), 6) + "\" y1=\"" +
           number(kTop) + "\" y2=\"" + number(kTop + plot_h) + "\" stroke=\"#eee\"/>\n";
    svg += "<text x=\"" + number(px(t), 6) + "\" y=\"" + number(kTop + plot_h + 16) +
           "\" text-anchor=\"middle\">" + number(t, 4) + "</text>\n";
  }
  svg += "<text x=\"" + number(kLeft + plot_w / 2) + "\" y=\"" + number(kHeight - 10) +
         "\" text-anchor=\"middle\">" + escape_html(x_label) + "</text>\n";
  svg += "<text transform=\"translate(16," + number(kTop + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + escape_html(y_label) + "</text>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* color = s.dashed ? "#000" : kPalette[k % std::size(kPalette)];
    std::string path;
    for (auto [x, y] : s.points) {
      if (log_x && x <= 0) continue;
      path += (path.empty() ? "" : " ") + number(px(x), 6) + "," + number(py(y), 6);
    }
    svg += "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" stroke-width=\"2\"" +
           (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + path + "\"/>\n";
    const double ly = kTop + 10 + 18 * static_cast<double>(k);
    svg += "<line x1=\"" + number(kWidth - kRight + 12) + "\" x2=\"" +
           number(kWidth - kRight + 36) + "\" y1=\"" + number(ly) + "\" y2=\"" + number(ly) +
           "\" stroke=\"" + color + "\" stroke-width=\"2\"" +
           (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    svg += "<text x=\"" + number(kWidth - kRight + 42) + "\" y=\"" + number(ly + 4) + "\">" +
           escape_html(s.name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

// The report's four figures: one series per policy (first-seen order), x = memory.
struct ReportFigures {
  std::string x_label;
  std::vector<Series> load, hits, over_bound, cdf;
  std::uint64_t cdf_memory = 0;  // the latency CDFs are of this memory (the smallest)
};

ReportFigures report_figures(const std::vector<SimSummary>& results, const RunInfo& info) {
  ReportFigures figures;
  const bool by_fraction = info.footprint_bytes > 0;
  auto x_of = [&](const SimSummary& s) {
    return by_fraction ? 100 * memory_fraction(s, info)
                       : static_cast<double>(s.memory_bytes) * s.workers / (1024.0 * 1024 * 1024);
  };
  figures.x_label = by_fraction ? "memory (% of the catalog's footprint)" : "memory (GiB)";
  std::vector<std::string> policies;
  std::map<std::string, std::vector<const SimSummary*>> by_policy;
  for (const auto& s : results) {
    if (!by_policy.count(s.policy)) policies.push_back(s.policy);
    by_policy[s.policy].push_back(&s);
  }
  std::map<std::uint64_t, double> bound_by_memory;  // the bound's cost per request
  figures.cdf_memory = UINT64_MAX;
  for (const auto& s : results) figures.cdf_memory = std::min(figures.cdf_memory, s.memory_bytes);
  for (const auto& policy : policies) {
    Series l{policy, {}, false}, h{policy, {}, false}, b{policy, {}, false}, c{policy, {}, false};
    for (const SimSummary* s : by_policy[policy]) {
      l.points.emplace_back(x_of(*s), s->mean_load_delay_s());
      h.points.emplace_back(x_of(*s), s->hit_ratio());
      if (s->bound_load_cost_s > 0) b.points.emplace_back(x_of(*s), s->cost_over_bound());
      if (s->bound_load_cost_s >= 0) {
        bound_by_memory[s->memory_bytes] =
            s->bound_load_cost_s / std::max<double>(1, static_cast<double>(s->requests));
      }
      if (s->memory_bytes == figures.cdf_memory && c.points.empty()) c.points = s->latency_cdf;
    }
    for (auto* series : {&l, &h, &b}) {
      std::sort(series->points.begin(), series->points.end());
    }
    figures.load.push_back(l);
    figures.hits.push_back(h);
    figures.over_bound.push_back(b);
    figures.cdf.push_back(c);
  }
  // In pure cache mode a load's cost is its load delay: the bound goes on the load figure.
  const bool pure_cache = !results.empty() && !results.front().queueing;
  if (!bound_by_memory.empty() && pure_cache) {
    Series bound_series{"offline bound (cost)", {}, true};
    for (const auto& s : results) {
      if (s.policy != policies.front()) continue;
      bound_series.points.emplace_back(x_of(s), bound_by_memory[s.memory_bytes]);
    }
    std::sort(bound_series.points.begin(), bound_series.points.end());
    figures.load.push_back(bound_series);
  }
  return figures;
}

// The report's opening paragraph: what was simulated.
std::string report_header(const std::vector<SimSummary>& results, const RunInfo& info) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>brulee simulation "
      "report</title>\n"
      "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
      "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
      "text-align:right}th{background:#f4f4f4}.figs{display:flex;flex-wrap:wrap;gap:12px}</style>\n"
      "</head><body>\n<h1>brulee simulation report</h1>\n<p>";
  html += "trace <code>" + escape_html(info.trace) + "</code> (" + std::to_string(info.requests) +
          " requests, " + std::to_string(info.models_requested) +
          " models requested), catalog <code>" + escape_html(info.catalog) + "</code> (footprint " +
          format_bytes(info.footprint_bytes) + "), seed " + std::to_string(info.seed);
  if (!results.empty()) {
    const auto& s = results.front();
    html += ", " + std::to_string(s.workers) + " worker(s), mode " +
            (!s.queueing ? "no-queueing" : (s.parallel_load ? "parallel-load" : "queueing")) +
            ", offline bound " + bound_description(s.bound);
  }
  html += ".</p>\n";
  return html;
}

// Every run, one row each.
std::string report_table(const std::vector<SimSummary>& results, const RunInfo& info) {
  std::string html =
      "<h2>All runs</h2>\n<table>\n<tr><th>policy</th><th>memory</th><th>mem %</th>"
      "<th>hit ratio</th><th>mean load delay (s)</th><th>load/exec</th><th>latency p50 (s)</th>"
      "<th>p95 (s)</th><th>p99 (s)</th><th>evictions</th><th>load cost (s)</th>"
      "<th>bound (s)</th><th>cost/bound</th></tr>\n";
  for (const auto& s : results) {
    html += "<tr><td style=\"text-align:left\">" + escape_html(s.policy) + "</td><td>" +
            format_bytes(s.memory_bytes) + "</td><td>" + number(100 * memory_fraction(s, info), 4) +
            "</td><td>" + number(s.hit_ratio(), 5) + "</td><td>" +
            number(s.mean_load_delay_s(), 5) + "</td><td>" + number(s.load_exec_ratio(), 5) +
            "</td><td>" + number(s.latency_p50_s, 5) + "</td><td>" + number(s.latency_p95_s, 5) +
            "</td><td>" + number(s.latency_p99_s, 5) + "</td><td>" + std::to_string(s.evictions) +
            "</td><td>" + number(s.load_cost_s, 8) + "</td><td>" +
            (s.bound_load_cost_s >= 0 ? number(s.bound_load_cost_s, 8) : "-") + "</td><td>" +
            (s.bound_load_cost_s > 0 ? number(s.cost_over_bound(), 5) : "-") + "</td></tr>\n";
  }
  html += "</table>\n";
  return html;
}

void write_text_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::path(dir) / name).string();
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw UsageError("cannot write " + path);
}

}  // namespace

void write_report(const std::string& dir, const std::vector<SimSummary>& results,
                  const RunInfo& info) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw UsageError("cannot create report folder " + dir + ": " + error.message());
  const ReportFigures f = report_figures(results, info);
  std::string html = report_header(results, info);
  html += "<div class=\"figs\">\n";
  html += svg_chart("Mean load delay per request", f.x_label, "seconds", f.load, false);
  html += svg_chart("Hit ratio", f.x_label, "hit ratio", f.hits, false);
  html += svg_chart("Load cost / offline lower bound", f.x_label, "ratio (1 = best possible)",
                    f.over_bound, false);
  html += svg_chart("Latency CDF at " + format_bytes(f.cdf_memory) + " per worker",
                    "latency (s, log scale)", "fraction of requests", f.cdf, true);
  html += "</div>\n";
  html += report_table(results, info);
  html +=
      "<p>Files: <a href=\"results.csv\">results.csv</a>, "
      "<a href=\"results.json\">results.json</a>. Made by <code>brulee simulate</code>; "
      "semantics in docs/simulator.md.</p>\n</body></html>\n";
  write_text_file(dir, "index.html", html);
  write_text_file(dir, "results.csv", sweep_csv(results, info));
  write_text_file(dir, "results.json", sweep_json(results, info).dump(2) + "\n");
}

// ---- per-request CSV ----

CsvOutcomeWriter::CsvOutcomeWriter(const std::string& path, const ModelTable& models)
    : path_(path), models_(models) {
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) throw UsageError("cannot write " + path + ": " + std::strerror(errno));
  buffer_.reserve(1 << 20);
  buffer_ = std::string("index,model,") + kTimelineCsvColumns + ",worker\n";
}

CsvOutcomeWriter::~CsvOutcomeWriter() {
  if (file_) {
    flush();
    std::fclose(file_);
  }
}

void CsvOutcomeWriter::on_outcome(const RequestOutcome& o) {
  char line[512];
  int length =
      std::snprintf(line, sizeof line, "%llu,%s,", static_cast<unsigned long long>(o.index),
                    models_[o.model].name.c_str());
  length = std::clamp(length, 0, static_cast<int>(sizeof line) - 1);
  length += format_timeline_csv(line + length, sizeof line - static_cast<std::size_t>(length),
                                o.timeline, o.delays);
  length = std::clamp(length, 0, static_cast<int>(sizeof line) - 1);
  length += std::snprintf(line + length, sizeof line - static_cast<std::size_t>(length), ",%u\n",
                          o.worker);
  buffer_.append(
      line, static_cast<std::size_t>(std::clamp(length, 0, static_cast<int>(sizeof line) - 1)));
  if (buffer_.size() >= (1 << 20)) flush();
}

void CsvOutcomeWriter::flush() {
  if (!buffer_.empty() && file_) {
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      buffer_.clear();
      throw UsageError("cannot write " + path_);
    }
  }
  buffer_.clear();
}

void CsvOutcomeWriter::close() {
  if (!file_) return;
  flush();
  const bool failed = std::fclose(file_) != 0;
  file_ = nullptr;
  if (failed) throw UsageError("cannot write " + path_);
}

}  // namespace brulee::sim
