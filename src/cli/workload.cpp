// `brulee workload`: build request streams (Azure Functions 2019/2021, synthetic), convert
// between the CSV and binary trace forms, check a trace, and describe it (stats).
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "cli/command.hpp"
#include "cli/progress.hpp"
#include "core/error.hpp"
#include "core/seconds.hpp"
#include "core/units.hpp"
#include "workload/catalog.hpp"
#include "workload/generators.hpp"
#include "workload/stats.hpp"
#include "workload/trace.hpp"

namespace brulee::cli {
namespace {

using namespace brulee::workload;

// "100000000", "1e8", "100M", "2.5k" -> a count. UsageError otherwise.
std::uint64_t parse_count(const std::string& flag, const std::string& text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(begin, end, value);
  double scale = 1;
  const std::string suffix(stop, end);
  if (suffix == "k" || suffix == "K")
    scale = 1e3;
  else if (suffix == "M")
    scale = 1e6;
  else if (suffix == "G")
    scale = 1e9;
  else if (!suffix.empty())
    scale = 0;
  value *= scale;
  if (ec != std::errc() || scale == 0 || !std::isfinite(value) || value < 0 || value > 1.8e19 ||
      value != std::floor(value)) {
    throw UsageError(flag + ": '" + text + "' is not a count (e.g. 1000000, 1e6, 1M)");
  }
  return static_cast<std::uint64_t>(value);
}

std::pair<std::uint32_t, std::uint32_t> parse_minutes(const std::string& text) {
  const auto dash = text.find('-');
  const auto bad = [&] {
    return UsageError("--minutes '" + text +
                      "': expected A-B with 1 <= A <= B (1-based, inclusive)");
  };
  if (dash == std::string::npos) throw bad();
  std::uint32_t a = 0, b = 0;
  const auto [end_a, ec_a] = std::from_chars(text.data(), text.data() + dash, a);
  const auto [end_b, ec_b] = std::from_chars(text.data() + dash + 1, text.data() + text.size(), b);
  if (ec_a != std::errc() || ec_b != std::errc() || end_a != text.data() + dash ||
      end_b != text.data() + text.size() || a < 1 || b < a) {
    throw bad();
  }
  return {a, b};
}

std::string default_catalog_out(const std::string& trace) {
  const auto slash = trace.rfind('/');
  const auto dot = trace.rfind('.');
  const std::string stem = (dot != std::string::npos && (slash == std::string::npos || dot > slash))
                               ? trace.substr(0, dot)
                               : trace;
  return stem + ".catalog.json";
}

// Hands a generator's progress to a progress line (nothing when stderr is not a terminal).
ProgressFn progress_to(ProgressLine& line) {
  if (!line.enabled()) return {};
  return [&line](std::uint64_t done, std::uint64_t total, const char* what) {
    line.update(done, total, what);
  };
}

void print_summary(const char* what, const WorkloadSummary& s, const std::string& trace,
                   const std::string& catalog, double elapsed_s) {
  std::printf("%s -> %s (catalog %s)\n", what, trace.c_str(), catalog.c_str());
  if (s.functions_read > 0 && std::string(what).rfind("synth", 0) != 0) {
    std::printf("  functions   %llu read, %llu kept after filters\n",
                static_cast<unsigned long long>(s.functions_read),
                static_cast<unsigned long long>(s.functions_kept));
  }
  std::printf("  requests    %llu over %.6g s, mean rate %.4g req/s\n",
              static_cast<unsigned long long>(s.requests), s.duration_s, s.mean_rate_per_s);
  std::printf("  models      %llu in the catalog, %llu requested\n",
              static_cast<unsigned long long>(s.models),
              static_cast<unsigned long long>(s.models_used));
  std::printf("  skew        top model %.1f%% of requests, top 10%% of models %.1f%%, Gini %.3f\n",
              100 * s.top1_share, 100 * s.top10pct_share, s.gini);
  if (s.timer_models > 0) {
    std::printf("  timers      %llu periodic models, %.2f%% of requests\n",
                static_cast<unsigned long long>(s.timer_models),
                s.requests > 0 ? 100.0 * static_cast<double>(s.timer_requests) /
                                     static_cast<double>(s.requests)
                               : 0.0);
  }
  std::printf("  took        %.2f s\n", elapsed_s);
}

struct FilterFlags {
  std::string mapping = "random";
  std::string cost_order = "catalog";
  double min_quantile = 0, max_quantile = 1;
  bool drop_one_hit = false;
  double sample = 1;
  std::uint64_t seed = 1;
  void add(CLI::App* cmd) {
    cmd->add_option("--mapping", mapping,
                    "Function-to-model mapping: random, round-robin, quantiles, per-function")
        ->capture_default_str();
    cmd->add_option(
           "--cost-order", cost_order,
           "Catalog order used by the mapping: catalog, cheap-first, costly-first (load latency)")
        ->capture_default_str();
    cmd->add_option("--min-quantile", min_quantile,
                    "Keep functions at or above this popularity quantile (0..1)")
        ->capture_default_str();
    cmd->add_option("--max-quantile", max_quantile,
                    "Keep functions at or below this popularity quantile (0..1)")
        ->capture_default_str();
    cmd->add_flag("--drop-one-hit", drop_one_hit, "Drop functions invoked only once in the window");
    cmd->add_option("--sample", sample, "Keep each invocation with this probability (0..1], seeded")
        ->capture_default_str();
    cmd->add_option("--seed", seed, "Random seed")->capture_default_str();
  }
  FunctionFilter build() const {
    FunctionFilter f;
    f.mapping = parse_mapping(mapping);
    f.cost_order = parse_cost_order(cost_order);
    f.min_quantile = min_quantile;
    f.max_quantile = max_quantile;
    f.drop_one_hit = drop_one_hit;
    f.sample_fraction = sample;
    f.seed = seed;
    return f;
  }
};

void setup_azure2019(CLI::App* parent) {
  auto* cmd =
      parent->add_subcommand("azure2019", "Azure Functions 2019 per-minute counts -> brulee trace");
  struct Flags {
    std::vector<std::string> inputs;
    std::string trigger = "http", minutes, catalog = "paper", out, catalog_out, spread = "even";
    FilterFlags filter;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option("--input", flags->inputs,
                  "invocations_per_function_md.anon.dNN.csv (repeat, in day order)")
      ->required();
  cmd->add_option("--trigger", flags->trigger, "http (the paper's choice) or all")
      ->capture_default_str();
  cmd->add_option("--minutes", flags->minutes,
                  "Minute range A-B over the concatenated days (1-based, inclusive)");
  cmd->add_option("--catalog", flags->catalog, "Model catalog: JSON file or 'paper'")
      ->capture_default_str();
  cmd->add_option("--out", flags->out, "Output trace (.csv or binary)")->required();
  cmd->add_option("--catalog-out", flags->catalog_out,
                  "Catalog written for the trace (default: <out>.catalog.json)");
  cmd->add_option("--spread", flags->spread,
                  "Within a minute: even (the paper's method) or poisson")
      ->capture_default_str();
  flags->filter.add(cmd);
  cmd->callback([flags] {
    const auto start = std::chrono::steady_clock::now();
    Azure2019Options options;
    options.inputs = flags->inputs;
    if (flags->trigger != "http" && flags->trigger != "all")
      throw UsageError("--trigger must be http or all");
    options.http_only = flags->trigger == "http";
    if (!flags->minutes.empty())
      std::tie(options.first_minute, options.last_minute) = parse_minutes(flags->minutes);
    if (flags->spread != "even" && flags->spread != "poisson")
      throw UsageError("--spread must be even or poisson");
    options.poisson = flags->spread == "poisson";
    options.filter = flags->filter.build();
    const Catalog catalog = load_catalog(flags->catalog);
    Catalog out_catalog;
    ProgressLine line("azure2019");
    options.progress = progress_to(line);
    const auto summary = generate_azure2019(options, catalog, flags->out, out_catalog);
    line.finish();
    const std::string catalog_out =
        flags->catalog_out.empty() ? default_catalog_out(flags->out) : flags->catalog_out;
    write_catalog(catalog_out, out_catalog);
    print_summary("azure2019", summary, flags->out, catalog_out, seconds_since(start));
  });
}

void setup_azure2021(CLI::App* parent) {
  auto* cmd = parent->add_subcommand(
      "azure2021",
      "Azure Functions 2021 invocations (app,func,end_timestamp,duration) -> brulee trace");
  struct Flags {
    std::string input, catalog = "paper", out, catalog_out;
    FilterFlags filter;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option("--input", flags->input, "AzureFunctionsInvocationTrace*.txt (CSV)")->required();
  cmd->add_option("--catalog", flags->catalog, "Model catalog: JSON file or 'paper'")
      ->capture_default_str();
  cmd->add_option("--out", flags->out, "Output trace (.csv or binary)")->required();
  cmd->add_option("--catalog-out", flags->catalog_out,
                  "Catalog written for the trace (default: <out>.catalog.json)");
  flags->filter.add(cmd);
  cmd->callback([flags] {
    const auto start = std::chrono::steady_clock::now();
    Azure2021Options options;
    options.input = flags->input;
    options.filter = flags->filter.build();
    const Catalog catalog = load_catalog(flags->catalog);
    Catalog out_catalog;
    ProgressLine line("azure2021");
    options.progress = progress_to(line);
    const auto summary = generate_azure2021(options, catalog, flags->out, out_catalog);
    line.finish();
    const std::string catalog_out =
        flags->catalog_out.empty() ? default_catalog_out(flags->out) : flags->catalog_out;
    write_catalog(catalog_out, out_catalog);
    print_summary("azure2021", summary, flags->out, catalog_out, seconds_since(start));
  });
}

void setup_synth(CLI::App* parent) {
  auto* cmd = parent->add_subcommand("synth", "Synthetic workload over a catalog's models");
  struct Flags {
    std::string catalog = "paper", out, catalog_out, requests, popularity = "zipf",
                arrivals = "poisson";
    std::uint64_t models = 0;
    double duration_s = 0, zipf = 1.0, rate = 0, on_s = 60, off_s = 600, diurnal = 0,
           diurnal_period_s = 86400, timers = 0, timer_requests = kAzureTimerRequestShare,
           timer_jitter_s = 1;
    std::uint64_t seed = 1;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option("--catalog", flags->catalog, "Model catalog: JSON file or 'paper'")
      ->capture_default_str();
  cmd->add_option("--models", flags->models,
                  "Number of models (0: the whole catalog; more: copies)")
      ->capture_default_str();
  cmd->add_option("--requests", flags->requests, "Stop after N requests (1000000, 1e6, 1M)");
  cmd->add_option("--duration", flags->duration_s,
                  "Stop at S seconds (give --requests, --duration or both)");
  cmd->add_option("--popularity", flags->popularity,
                  "zipf or azure (heavy tail calibrated to Azure 2019)")
      ->capture_default_str();
  cmd->add_option("--zipf", flags->zipf, "Zipf exponent (with --popularity zipf)")
      ->capture_default_str();
  cmd->add_option("--rate", flags->rate,
                  "Mean total request rate per second (0: 10/s for zipf, calibrated for azure)")
      ->capture_default_str();
  cmd->add_option("--arrivals", flags->arrivals, "poisson or onoff (bursty)")
      ->capture_default_str();
  cmd->add_option("--on", flags->on_s, "onoff: mean busy period of a model (s)")
      ->capture_default_str();
  cmd->add_option("--off", flags->off_s, "onoff: mean idle period of a model (s)")
      ->capture_default_str();
  cmd->add_option("--diurnal", flags->diurnal,
                  "Diurnal amplitude a in [0,1]: rate x (1 + a sin(2 pi t / period))")
      ->capture_default_str();
  cmd->add_option("--diurnal-period", flags->diurnal_period_s, "Diurnal period (s)")
      ->capture_default_str();
  cmd->add_option("--timers", flags->timers,
                  "azure: share of models that are timer-triggered (periodic); 0.16 as in "
                  "Azure 2019, 0: none")
      ->capture_default_str();
  cmd->add_option("--timer-requests", flags->timer_requests,
                  "The timers' share of the requests, which picks their popularity band (Azure "
                  "2019: 0.02)")
      ->capture_default_str();
  cmd->add_option("--timer-jitter", flags->timer_jitter_s,
                  "Uniform jitter of each timer firing, +- seconds (at most a quarter period)")
      ->capture_default_str();
  cmd->add_option("--out", flags->out, "Output trace (.csv or binary)")->required();
  cmd->add_option("--catalog-out", flags->catalog_out,
                  "Catalog written for the trace (default: <out>.catalog.json)");
  cmd->add_option("--seed", flags->seed, "Random seed")->capture_default_str();
  cmd->callback([flags] {
    const auto start = std::chrono::steady_clock::now();
    SynthOptions options;
    options.timer_share = flags->timers;
    options.timer_request_share = flags->timer_requests;
    options.timer_jitter_s = flags->timer_jitter_s;
    options.models = flags->models;
    if (!flags->requests.empty()) options.requests = parse_count("--requests", flags->requests);
    options.duration_s = flags->duration_s;
    options.popularity = parse_popularity(flags->popularity);
    options.zipf_alpha = flags->zipf;
    options.rate_per_s = flags->rate;
    options.arrivals = parse_arrivals(flags->arrivals);
    options.on_mean_s = flags->on_s;
    options.off_mean_s = flags->off_s;
    options.diurnal_amplitude = flags->diurnal;
    options.diurnal_period_s = flags->diurnal_period_s;
    options.seed = flags->seed;
    const Catalog catalog = load_catalog(flags->catalog);
    Catalog out_catalog;
    ProgressLine line("synth");
    options.progress = progress_to(line);
    const auto summary = generate_synth(options, catalog, flags->out, out_catalog);
    line.finish();
    const std::string catalog_out =
        flags->catalog_out.empty() ? default_catalog_out(flags->out) : flags->catalog_out;
    write_catalog(catalog_out, out_catalog);
    print_summary("synth", summary, flags->out, catalog_out, seconds_since(start));
  });
}

void setup_stats(CLI::App* parent) {
  auto* cmd = parent->add_subcommand(
      "stats", "Describe a trace: popularity, inter-arrivals, reuse, idleness, working set");
  struct Flags {
    std::string trace, catalog;
    bool json = false;
    double window_s = 60;
    std::size_t series_points = 1000;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option("trace", flags->trace, "Trace file (CSV or binary)")->required();
  cmd->add_option("--catalog", flags->catalog,
                  "Catalog (JSON or 'paper'): sizes for the working set; checks names");
  cmd->add_option("--window", flags->window_s, "Working-set window W and sampling step (s)")
      ->capture_default_str();
  cmd->add_option("--series-points", flags->series_points, "Working-set points in the JSON series")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print JSON instead of a table");
  cmd->callback([flags] {
    StatsOptions options;
    options.window_s = flags->window_s;
    options.series_points = flags->series_points;
    if (!flags->catalog.empty()) options.catalog = load_catalog(flags->catalog);
    const TraceStats stats = compute_stats(flags->trace, options);
    const std::string text = flags->json ? stats_json(stats) : stats_table(stats);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

// One pass over a trace: validates it, counts, and reports whether ids are consecutive.
struct ScanResult {
  std::uint64_t requests = 0;
  bool consecutive_ids = true;
  std::vector<std::string> names;
  double elapsed_s = 0;
};

ScanResult scan(const std::string& path, const std::string& catalog_path) {
  const auto start = std::chrono::steady_clock::now();
  TraceReader reader(path);
  if (!catalog_path.empty()) {
    const Catalog catalog = load_catalog(catalog_path);
    std::vector<std::string> names;
    for (const auto& model : catalog.models) names.push_back(model.name);
    reader.restrict_models(names);
  }
  ScanResult result;
  std::vector<TraceRecord> block(1 << 16);
  std::uint64_t first_id = 0;
  while (const std::size_t n = reader.read(block)) {
    if (result.requests == 0) first_id = block[0].request_id;
    for (std::size_t i = 0; i < n; ++i) {
      result.consecutive_ids &= block[i].request_id == first_id + result.requests + i;
    }
    result.requests += n;
  }
  result.names = reader.model_names();
  result.elapsed_s = seconds_since(start);
  return result;
}

void setup_check(CLI::App* parent) {
  auto* cmd = parent->add_subcommand(
      "check", "Read and validate a whole trace; print its size and the read rate");
  struct Flags {
    std::string trace, catalog;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option("trace", flags->trace, "Trace file (CSV or binary)")->required();
  cmd->add_option("--catalog", flags->catalog,
                  "Also check every model is in this catalog (JSON or 'paper')");
  cmd->callback([flags] {
    const ScanResult result = scan(flags->trace, flags->catalog);
    std::printf(
        "%s: ok, %llu requests, %zu models, read in %.3f s (%.1f M requests/s)\n",
        flags->trace.c_str(), static_cast<unsigned long long>(result.requests), result.names.size(),
        result.elapsed_s,
        result.elapsed_s > 0 ? static_cast<double>(result.requests) / result.elapsed_s / 1e6 : 0.0);
  });
}

void setup_convert(CLI::App* parent) {
  auto* cmd =
      parent->add_subcommand("convert", "Convert a trace between CSV and binary, losslessly");
  struct Flags {
    std::string in, out, to, catalog;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option(
      "--catalog", flags->catalog,
      "Use this catalog's model table (ids = catalog order; keeps models a CSV never names)");
  cmd->add_option("input", flags->in, "Input trace (CSV or binary, detected)")->required();
  cmd->add_option("output", flags->out, "Output trace")->required();
  cmd->add_option("--to", flags->to, "csv or binary (default: from the output's extension)");
  cmd->callback([flags] {
    const auto start = std::chrono::steady_clock::now();
    TraceFormat format = format_for_path(flags->out);
    if (flags->to == "csv")
      format = TraceFormat::kCsv;
    else if (flags->to == "binary")
      format = TraceFormat::kBinary;
    else if (!flags->to.empty())
      throw UsageError("--to must be csv or binary");
    if (flags->in == flags->out) throw UsageError("convert: input and output are the same file");
    // Pass 1 validates the whole input before anything is written, and decides whether the
    // compact binary layout (ids implied by position) can hold its request ids.
    const ScanResult scanned = scan(flags->in, flags->catalog);
    TraceWriterOptions options;
    options.explicit_request_ids = !scanned.consecutive_ids;
    TraceReader reader(flags->in);
    if (!flags->catalog.empty()) reader.restrict_models(scanned.names);
    TraceWriter writer(flags->out, format, scanned.names, options);
    std::vector<TraceRecord> block(1 << 16);
    ProgressLine line("convert");
    std::uint64_t written = 0;
    while (const std::size_t n = reader.read(block)) {
      writer.write(std::span<const TraceRecord>(block.data(), n));
      written += n;
      line.update(written, scanned.requests, "requests written");
    }
    writer.close();
    line.finish();
    std::printf("%s -> %s: %llu requests, %zu models, %s request ids, %.2f s\n", flags->in.c_str(),
                flags->out.c_str(), static_cast<unsigned long long>(scanned.requests),
                scanned.names.size(), options.explicit_request_ids ? "explicit" : "consecutive",
                seconds_since(start));
  });
}

const CommandRegistration kRegistration(30, [](CLI::App& root) {
  auto* workload = root.add_subcommand("workload", "Build, convert and describe request traces");
  workload->require_subcommand(1);
  setup_azure2019(workload);
  setup_azure2021(workload);
  setup_synth(workload);
  setup_stats(workload);
  setup_convert(workload);
  setup_check(workload);
});

}  // namespace
}  // namespace brulee::cli
