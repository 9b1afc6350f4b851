#pragma once
// `brulee workload stats`: what a researcher wants to know about a trace, computed in one
// streaming pass (memory grows with the number of models, not of requests).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workload/catalog.hpp"

namespace brulee::workload {

struct StatsOptions {
  double window_s = 60.0;            // working-set window W (and its sampling step)
  std::optional<Catalog> catalog;    // sizes for the working set; unknown models -> error
  std::size_t series_points = 1000;  // working-set points kept for output (evenly thinned)
};

struct Distribution {  // of a set of values
  std::uint64_t count = 0;
  double mean = 0, min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

struct ModelStats {
  std::string name;
  std::uint64_t requests = 0;
  double idle_fraction = 1.0;    // share of the trace's minutes with no request for it
  std::uint64_t size_bytes = 0;  // with a catalog
};

struct WorkingSetPoint {
  double time_s = 0;
  std::uint64_t models = 0;
  std::uint64_t bytes = 0;  // with a catalog
};

struct TraceStats {
  std::string path;
  std::uint64_t requests = 0;
  std::uint64_t models_in_table = 0;  // the trace's (or catalog's) model table
  std::uint64_t models_used = 0;
  double first_time_s = 0, last_time_s = 0, mean_rate_per_s = 0;
  Distribution requests_per_model;  // over used models
  double top1_share = 0, top10pct_share = 0, gini = 0;
  Distribution interarrival_s;  // percentiles from a log histogram (<= 0.6% relative error)
  // Reuse distance: distinct other models requested between two requests for the same model
  // (LRU stack distance - 1). First requests ("cold") have none.
  Distribution reuse_distance;
  std::uint64_t cold_requests = 0;
  std::uint64_t minutes = 0;    // minutes spanned by the trace
  Distribution idle_fraction;   // over every model in the table
  double share_idle_90pct = 0;  // share of models idle in >= 90% of minutes
  double share_idle_99pct = 0;
  std::vector<ModelStats> models;  // index = model id
  bool has_sizes = false;
  std::uint64_t catalog_bytes = 0;
  double window_s = 0;
  Distribution working_set_models;
  Distribution working_set_bytes;            // with a catalog
  std::vector<WorkingSetPoint> working_set;  // thinned to series_points
};

// Throws InputError on a bad trace (and on a model missing from the catalog).
TraceStats compute_stats(const std::string& trace_path, const StatsOptions& options);
std::string stats_json(const TraceStats& stats);   // one JSON document
std::string stats_table(const TraceStats& stats);  // fits a terminal

}  // namespace brulee::workload
