#pragma once
// The trace-driven simulator of the paper's edge server (docs/simulator.md has the exact
// semantics). It drives brulee::ModelCache / Policy exactly as the server does, in virtual time.
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/interference.hpp"
#include "core/model_info.hpp"
#include "core/policy.hpp"
#include "core/prefetcher.hpp"
#include "core/timeline.hpp"
#include "sim/compact_trace.hpp"

namespace brulee::sim {

enum class LatencyMode {
  kProfiled,  // every load / exec / unload takes the catalog's value
  kSampled,   // log-normal around the catalog's value (same mean), coefficient of variation cv
};
LatencyMode parse_latency_mode(const std::string& text);  // "profiled" | "sampled"

// Counters a run adds to as it goes, for a progress line (simulate on a terminal): requests
// simulated (in steps of kProgressStep, the rest at the end) and runs finished. Read from another
// thread; they change nothing in the results.
struct SimProgress {
  static constexpr std::uint64_t kProgressStep = 1 << 16;
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint32_t> runs{0};
};

struct SimConfig {
  std::string policy = "cremebrulee";
  std::uint64_t memory_bytes = 0;  // per worker
  std::uint32_t workers = 1;
  bool queueing = true;        // false: pure cache mode (hit, or a miss costing its load)
  bool parallel_load = false;  // loads on a loader lane, in parallel with execution
  LatencyMode latency_mode = LatencyMode::kProfiled;
  double latency_cv = 0.1;
  std::uint64_t seed = 1;
  CostMode cost_mode = CostMode::kDirect;
  // --parallel-load: per model (index = ModelId), how a load and an inference running at once
  // slow each other and what the first inference after a load costs (docs/fidelity.md).
  // Empty, or all zero for a model: no interference, the catalog's figures as they are.
  std::vector<ModelInterference> interference;
  // Per model (index = ModelId), the load, exec and unload seconds the simulated time follows,
  // when they are not the ones the policy ranks by (`simulate --costs-catalog`): a server ranks
  // by the catalog it was given while its machine runs at its own speed. Empty: the model
  // table's. Sizes are always the model table's.
  ModelTable costs;
  // Prefetch idle memory by predicted utility (docs/prefetch.md); one worker only.
  bool prefetch = false;
  SimProgress* progress = nullptr;  // optional; not owned
  // A streamed trace (simulate(models, TraceStream&, ...)) is read on a second thread while the
  // loop simulates (ReadAhead); the results are the same either way.
  bool read_ahead = false;
  // Told of every prefetch decision, if set (tests: the server must make the same ones).
  Prefetcher::Observer* prefetch_observer = nullptr;
  // Per model (index = ModelId), what a load holds at its peak (the catalog's load_peak_bytes,
  // docs/formats.md): admitting a load makes room for it, then the model holds its size, as the
  // server's process budget does (docs/server.md, "Process memory"). Empty or 0: the size.
  std::vector<std::uint64_t> load_peak_bytes;
  // --parallel-load with interference figures: per model, the bytes its load reaches at its peak
  // (the catalog's load_peak_bytes, with or without --load-peaks). When known, a load is charged
  // as fresh (first_load_s) for the part of its peak above the most the process has held, as warm
  // below it (docs/fidelity.md, "Fresh pages by the heap's high-water mark"). Empty or 0: each
  // model's first load is charged as fresh.
  std::vector<std::uint64_t> load_heap_bytes;
  // --parallel-load: a model's first load runs alone (nothing executes meanwhile), as a server
  // measures an unknown model's size; false: beside inferences, as later loads, as a server
  // given the profiled sizes does (`serve --first-loads concurrent`; docs/fidelity.md, "First
  // loads beside inferences").
  bool isolated_first_loads = true;
};

// What happened to one request (written out on demand), on the timeline the server records too
// (core/timeline.hpp), in virtual time. timeline.hit: the model was loaded when the request
// arrived; a request arriving while its model's load is queued or running shares that load and
// is a miss, as on the server (the policy still sees it as a cache hit: no new load).
struct RequestOutcome {
  std::uint64_t index = 0;
  ModelId model = kNoModel;
  std::uint32_t worker = 0;
  RequestTimeline timeline;
  RequestDelays delays;  // derive_delays(timeline)
};

// Receives every outcome in request order. Only called when given to simulate().
class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  virtual void on_outcome(const RequestOutcome& outcome) = 0;
};

// Which offline lower bound filled SimSummary::bound_load_cost_s (docs/simulator.md).
enum class BoundKind {
  kNone,      // not computed
  kInterval,  // the interval relaxation (offline_bound.hpp): fast, loose
  kFlow,      // the min-cost flow LP (flow_bound.hpp): tight, slower
};
const char* bound_name(BoundKind kind);  // "none" | "interval" | "flow"

struct SimSummary {
  // The run
  std::string policy;
  std::uint64_t memory_bytes = 0;  // per worker
  std::uint32_t workers = 1;
  bool queueing = true;
  bool parallel_load = false;
  bool isolated_first_loads = true;  // --parallel-load: a model's first load ran alone
  // Counts
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;    // the model was loaded at the request's arrival
  std::uint64_t misses = 0;  // requests - hits: loads, and requests sharing a load in flight
  std::uint64_t loads = 0;
  std::uint64_t evictions = 0;
  std::uint64_t bytes_loaded = 0;
  std::uint64_t peak_used_bytes = 0;  // the most bytes resident at once (all workers)
  // Seconds
  double total_load_delay_s = 0.0;
  double total_queue_delay_s = 0.0;
  double total_exec_s = 0.0;
  double load_cost_s =
      0.0;  // sum of the catalog's load latency over misses (what the bound bounds)
  double latency_mean_s = 0.0;
  double latency_p50_s = 0.0;
  double latency_p95_s = 0.0;
  double latency_p99_s = 0.0;
  double latency_max_s = 0.0;
  std::vector<std::pair<double, double>> latency_cdf;  // (latency_s, fraction), <= 200 points
  // Prefetching (SimConfig::prefetch; docs/prefetch.md). `loads`, `bytes_loaded` and
  // `load_cost_s` count demand loads only; `evictions` counts every model that left memory for
  // a load, demand or prefetch.
  bool prefetch = false;
  std::uint64_t prefetches = 0;            // prefetch loads started
  std::uint64_t prefetches_used = 0;       // ... whose model was requested before it left memory
  std::uint64_t prefetches_cancelled = 0;  // ... stopped by a demand request needing the lane
  double prefetch_load_s =
      0.0;  // lane time spent on prefetches (unloads + load, or until cancelled)
  double prefetch_wasted_s =
      0.0;  // ... on prefetches never used (cancelled, evicted or left unused)
  // Offline lower bound on load_cost_s for this memory (filled by callers that compute it;
  // negative when not computed).
  double bound_load_cost_s = -1.0;
  BoundKind bound = BoundKind::kNone;  // which bound that is
  // The flow bound only: the load cost of an offline schedule with the memory of all workers as
  // one pool (FlowBoundResult::schedule_s), an upper bound on the optimum with one worker (which
  // then lies in [bound_load_cost_s, this]); negative otherwise.
  double schedule_load_cost_s = -1.0;

  double hit_ratio() const {
    return requests ? static_cast<double>(hits) / static_cast<double>(requests) : 0.0;
  }
  // The policy's view: requests that caused no load (their model resident or already loading).
  double cache_hit_ratio() const {
    return requests ? 1.0 - static_cast<double>(loads) / static_cast<double>(requests) : 0.0;
  }
  double mean_load_delay_s() const {
    return requests ? total_load_delay_s / static_cast<double>(requests) : 0.0;
  }
  double mean_queue_delay_s() const {
    return requests ? total_queue_delay_s / static_cast<double>(requests) : 0.0;
  }
  double mean_exec_s() const {
    return requests ? total_exec_s / static_cast<double>(requests) : 0.0;
  }
  // The paper's headline ratio: mean load delay per request / mean execution latency.
  double load_exec_ratio() const {
    return total_exec_s > 0 ? total_load_delay_s / total_exec_s : 0.0;
  }
  // load_cost_s / bound_load_cost_s (>= 1); 0 when the bound is unknown or zero.
  double cost_over_bound() const {
    return bound_load_cost_s > 0 ? load_cost_s / bound_load_cost_s : 0.0;
  }
  // load_cost_s / schedule_load_cost_s (below 1: the policy beat the offline schedule); 0 when
  // unknown or zero.
  double cost_over_schedule() const {
    return schedule_load_cost_s > 0 ? load_cost_s / schedule_load_cost_s : 0.0;
  }
};

// Replays `trace` against config.policy; trace.next_use must be filled for an oracle policy
// (PolicyFactory::oracle) and may be empty otherwise. Throws UsageError on an unknown
// policy, zero workers or memory, or a requested model larger than one worker's memory.
SimSummary simulate(const ModelTable& models, const CompactTrace& trace, const SimConfig& config,
                    OutcomeSink* sink = nullptr);

// The same run over a trace read a block at a time as it goes (no whole-trace columns; the
// same results, the same arithmetic in the same order), for a non-oracle policy. Also throws
// the stream's InputError on a bad row, after simulating the requests before it.
SimSummary simulate(const ModelTable& models, TraceStream& trace, const SimConfig& config,
                    OutcomeSink* sink = nullptr);

}  // namespace brulee::sim
