#pragma once
// Request-stream generators: Azure Functions 2019 (per-minute counts) and 2021 (per-invocation)
// traces mapped onto a model catalog, and synthetic workloads (Zipf or Azure-calibrated
// popularity, Poisson or on/off arrivals, diurnal modulation). All are deterministic for a seed:
// the same options give a byte-identical trace. See docs/workloads.md.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workload/catalog.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {

// Called now and then as a generator goes (for a progress line): `done` of `total` (0: not
// known) items of the kind `what` ("day files", "requests written", ...). Optional.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total, const char* what)>;

// How functions (ranked by popularity, most popular first) become models.
enum class Mapping {
  kRandom,       // each function gets a uniformly random catalog model (seeded)
  kRoundRobin,   // rank r -> model r mod N (catalog order, or cost order, see CostOrder)
  kQuantiles,    // popularity quantile -> position in the (ordered) catalog: hot functions
                 // share the first models, the long tail the last ones
  kPerFunction,  // one synthetic model per function, costs drawn from the catalog (seeded)
};
enum class CostOrder {
  kCatalog,      // catalog order as given
  kCheapFirst,   // most popular functions -> lowest load latency
  kCostlyFirst,  // most popular functions -> highest load latency
};
Mapping parse_mapping(const std::string& text);  // UsageError on anything unknown
CostOrder parse_cost_order(const std::string& text);

// Selection and mapping of functions, shared by both Azure readers.
struct FunctionFilter {
  double min_quantile = 0.0;     // keep functions whose popularity quantile lies in [min, max]
  double max_quantile = 1.0;     // (0 = least popular, 1 = most popular)
  bool drop_one_hit = false;     // drop functions invoked once in the selected window
  double sample_fraction = 1.0;  // keep each invocation with this probability (seeded)
  Mapping mapping = Mapping::kRandom;
  CostOrder cost_order = CostOrder::kCatalog;
  std::uint64_t seed = 1;
};

// What a generator produced (printed as the one-screen summary).
struct WorkloadSummary {
  std::uint64_t requests = 0;
  std::uint64_t functions_read = 0;  // Azure: distinct functions passing the trigger filter
  std::uint64_t functions_kept = 0;  // after popularity filters
  std::uint64_t models = 0;          // models in the output catalog
  std::uint64_t models_used = 0;     // models with at least one request
  double duration_s = 0.0;           // time of the last request
  double mean_rate_per_s = 0.0;
  double top1_share = 0.0;           // share of requests to the most popular model
  double top10pct_share = 0.0;       // ... to the most popular 10% of used models
  double gini = 0.0;                 // Gini coefficient of per-model request counts
  std::uint64_t timer_models = 0;    // synth: periodic (timer-triggered) models
  std::uint64_t timer_requests = 0;  // ... and their requests
};

struct Azure2019Options {
  std::vector<std::string> inputs;  // day files, in day order (day k starts at minute 1440 k + 1)
  bool http_only = true;            // the paper's choice; false = every trigger
  std::uint32_t first_minute = 1;   // 1-based, over the concatenated days, inclusive
  std::uint32_t last_minute = 0;    // 0 = the last minute of the last file
  bool poisson = false;             // false: spread each minute's invocations evenly
  FunctionFilter filter;
  ProgressFn progress;
};

struct Azure2021Options {
  std::string input;  // app,func,end_timestamp,duration
  FunctionFilter filter;
  ProgressFn progress;
};

enum class ArrivalProcess { kPoisson, kOnOff };
enum class Popularity { kZipf, kAzure };
ArrivalProcess parse_arrivals(const std::string& text);
Popularity parse_popularity(const std::string& text);

struct SynthOptions {
  std::uint64_t models = 0;    // 0: every catalog model; more than the catalog: copies
  std::uint64_t requests = 0;  // stop after this many requests (0: no limit)
  double duration_s = 0.0;     // stop at this time (0: no limit); one of the two is required
  Popularity popularity = Popularity::kZipf;
  double zipf_alpha = 1.0;
  double rate_per_s = 0.0;  // mean total rate; 0: 10/s (Zipf) or calibrated (Azure)
  ArrivalProcess arrivals = ArrivalProcess::kPoisson;
  double on_mean_s = 60.0;  // on/off: mean length of a model's busy and idle periods
  double off_mean_s = 600.0;
  double diurnal_amplitude = 0.0;  // rate * (1 + a sin(2 pi t / period)), 0 <= a <= 1
  double diurnal_period_s = 86400.0;
  // Timer-triggered (periodic) models, Azure popularity only (docs/workloads.md, "Triggers"):
  // this share of the models, the band of consecutive popularity ranks whose share of the total
  // rate is nearest timer_request_share, fire every 1 / rate seconds from a uniform phase, each
  // firing moved by a uniform jitter in [-timer_jitter_s, +timer_jitter_s] (at most a quarter
  // period). 0: none (the trace is then byte-identical to one generated without this option).
  double timer_share = 0.0;
  double timer_request_share = 0.02;
  double timer_jitter_s = 1.0;
  std::uint64_t seed = 1;
  ProgressFn progress;
};

// Each writes the trace to `out_trace` (format from its extension) and fills `out_catalog` with
// the models the trace's ids refer to (trace model table = catalog order).
WorkloadSummary generate_azure2019(const Azure2019Options& options, const Catalog& catalog,
                                   const std::string& out_trace, Catalog& out_catalog);
WorkloadSummary generate_azure2021(const Azure2021Options& options, const Catalog& catalog,
                                   const std::string& out_trace, Catalog& out_catalog);
WorkloadSummary generate_synth(const SynthOptions& options, const Catalog& catalog,
                               const std::string& out_trace, Catalog& out_catalog);

// Azure 2019 calibration of the synthetic heavy-tailed popularity (docs/workloads.md):
// log10(invocations per minute) ~ Normal(kAzureLog10RateMean, kAzureLog10RateSd), fitted so that
// 45% of functions see at most one invocation per hour and 81% at most one per minute.
inline constexpr double kAzureLog10RateMean = -1.5555;
inline constexpr double kAzureLog10RateSd = 1.7719;
// Shahrad et al. (ATC 2020), figure 3: timer-triggered functions are ~16% of the functions and
// ~2% of the invocations.
inline constexpr double kAzureTimerShare = 0.16;
inline constexpr double kAzureTimerRequestShare = 0.02;
// Per-minute rates of `n` functions at the distribution's stratified quantiles (i + 0.5) / n,
// most popular first.
std::vector<double> azure_calibrated_rates_per_min(std::uint64_t n);

// Walker's alias method: O(1) sampling from a discrete distribution.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& weights);
  template <typename Random>
  std::uint32_t sample(Random& rng) const {
    const auto slot = static_cast<std::uint32_t>(rng.below(probability_.size()));
    return rng.uniform() < probability_[slot] ? slot : alias_[slot];
  }
  std::size_t size() const { return probability_.size(); }

 private:
  std::vector<double> probability_;
  std::vector<std::uint32_t> alias_;
};

}  // namespace brulee::workload
