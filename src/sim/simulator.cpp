#include "sim/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <queue>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/model_cache.hpp"
#include "core/model_list.hpp"
#include "core/prefetcher.hpp"
#include "core/rng.hpp"
#include "core/units.hpp"
#include "sim/latency_histogram.hpp"
#include "sim/read_ahead.hpp"

namespace brulee::sim {

const char* bound_name(BoundKind kind) {
  switch (kind) {
    case BoundKind::kInterval:
      return "interval";
    case BoundKind::kFlow:
      return "flow";
    case BoundKind::kNone:
      break;
  }
  return "none";
}

LatencyMode parse_latency_mode(const std::string& text) {
  if (text == "profiled") return LatencyMode::kProfiled;
  if (text == "sampled") return LatencyMode::kSampled;
  throw UsageError("unknown latency mode '" + text + "' (use profiled or sampled)");
}

namespace {

constexpr std::uint32_t kNoWorker = 0xffffffffu;
// How many requests ahead the loop prefetches the per-model records (covers a memory latency).
constexpr std::size_t kPrefetchAhead = 8;

// Latencies of loads, executions and unloads: the catalog's values, or log-normal draws with the
// same mean and a given coefficient of variation (one seeded generator per run).
class Latencies {
 public:
  explicit Latencies(const SimConfig& config)
      : sampled_(config.latency_mode == LatencyMode::kSampled), rng_(config.seed ^ 0x5eedULL) {
    if (sampled_) {
      if (!(config.latency_cv >= 0.0) || !std::isfinite(config.latency_cv)) {
        throw UsageError("--latency-cv must be a finite number >= 0");
      }
      const double variance = std::log1p(config.latency_cv * config.latency_cv);
      sigma_ = std::sqrt(variance);
      half_variance_ = variance / 2;
    }
  }
  double draw(double mean_s) {
    if (!sampled_ || mean_s <= 0.0) return mean_s;
    // Log-normal with E[X] = mean_s: exp(ln(mean) - sigma^2/2 + sigma * Z).
    return mean_s * std::exp(sigma_ * rng_.normal() - half_variance_);
  }

 private:
  bool sampled_;
  double sigma_ = 0.0;
  double half_variance_ = 0.0;
  Rng rng_;
};

// What the hot loop needs of a model, packed in one 32-byte record (two per cache line): with
// thousands of models these random accesses dominate, so one miss instead of four matters. Which
// worker holds a model lives in its own dense array (4 bytes a model, mostly cache-resident).
struct HotModel {
  double exec_s = 0.0;
  double load_s = 0.0;
  double unload_s = 0.0;
  std::uint64_t size_bytes = 0;
};
static_assert(sizeof(HotModel) == 32);

struct Completion {
  double time_s;
  ModelId model;
};

// FIFO of a worker's pending completions. Completion times are non-decreasing in a serial FIFO
// worker, so the front is always the next to finish. Grows by doubling; steady state allocates
// nothing.
class CompletionRing {
 public:
  CompletionRing() : buffer_(64), mask_(63) {}
  bool empty() const { return count_ == 0; }
  const Completion& front() const { return buffer_[head_]; }
  void pop() {
    head_ = (head_ + 1) & mask_;
    --count_;
  }
  void push(const Completion& completion) {
    if (count_ > mask_) [[unlikely]]
      grow();
    buffer_[(head_ + count_) & mask_] = completion;
    ++count_;
  }

 private:
  void grow() {
    std::vector<Completion> bigger(buffer_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = buffer_[(head_ + i) & mask_];
    buffer_.swap(bigger);
    mask_ = buffer_.size() - 1;
    head_ = 0;
  }
  std::vector<Completion> buffer_;
  std::size_t mask_;  // buffer_.size() - 1 (a power of two)
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// --parallel-load: a request waiting for its turn on an execution lane.
struct Runnable {
  double runnable_s;  // its model ready and the request arrived
  std::size_t index;
  double exec_s;
  std::uint32_t worker;
  RequestTimeline timeline;  // up to ready_s
  ModelId model;
  // Earliest runnable first, then request order (a min-heap through std::priority_queue).
  bool operator<(const Runnable& other) const {
    return runnable_s != other.runnable_s ? runnable_s > other.runnable_s : index > other.index;
  }
};

struct Worker {
  Worker(std::uint64_t memory_bytes, const ModelTable& models, std::unique_ptr<Policy> policy)
      : cache(memory_bytes, models, std::move(policy)) {}
  ModelCache cache;
  CompletionRing pending;
  double exec_free_at_s = 0.0;    // when the (serial) worker, or its execution lane, is next free
  double loader_free_at_s = 0.0;  // --parallel-load: when its loading lane is next free
  // --parallel-load with interference: where each lane's current busy stretch began (the lane
  // is busy from there until its free time).
  double exec_busy_from_s = 0.0;
  double loader_busy_from_s = 0.0;
  std::priority_queue<Runnable> runnable;  // --parallel-load: requests not yet executed
  // --parallel-load: the first loads of models, [start, ready), during which the execution
  // lane starts nothing (the server measures a model's first load in isolation), oldest first.
  std::deque<std::pair<double, double>> isolated;
  // --parallel-load with the loads' peaks: the most the process has held (resident models and
  // a running load's peak), bytes.
  double heap_high_bytes = 0.0;
  // --parallel-load with interference: the execution lane's recent inferences [start, end), in
  // placement order (so by start and by end), and the sum of their lengths.
  std::deque<std::pair<double, double>> busy;
  double busy_sum_s = 0.0;
  // --parallel-load with interference: the model of the execution lane's latest inference (a
  // model after another's runs its cold figure); none yet.
  ModelId last_exec = kNoModel;
  void note_busy(double start_s, double end_s) {
    busy.emplace_back(start_s, end_s);
    busy_sum_s += end_s - start_s;
  }
  // The share of [at - window, at) the execution lane was busy, by the inferences placed so far.
  // `at` never goes back between calls (a worker's loads start in order), so inferences that
  // ended before the window are dropped for good; amortised O(1) but for the few inferences
  // already placed past `at`.
  double busy_share(double at_s, double window_s) {
    const double from_s = at_s - window_s;
    while (!busy.empty() && busy.front().second <= from_s) {
      busy_sum_s -= busy.front().second - busy.front().first;
      busy.pop_front();
    }
    double busy_s = busy_sum_s;
    if (!busy.empty() && busy.front().first < from_s) busy_s -= from_s - busy.front().first;
    for (auto it = busy.rbegin(); it != busy.rend() && it->second > at_s; ++it) {
      busy_s -= it->second - std::max(it->first, at_s);
    }
    return std::clamp(busy_s / window_s, 0.0, 1.0);
  }
};

// The work of the last load of a model (unloads, then the load): when it began and when the
// model was ready. A request arriving before `ready_s` shares that load.
struct LoadWindow {
  double start_s = 0.0;
  double ready_s = 0.0;
};

// How long `work_s` of work takes from `start_s` on one lane when the other lane's work, busy
// over [busy_from_s, busy_until_s), slows it by `factor` meanwhile (a fluid model: progress at
// rate 1 / factor during the overlap, 1 outside it).
double stretched_s(double work_s, double start_s, double busy_from_s, double busy_until_s,
                   double factor) {
  if (factor == 1.0 || busy_until_s <= start_s || work_s <= 0.0) return work_s;
  double now_s = start_s;
  double left_s = work_s;
  if (busy_from_s > now_s) {
    if (left_s <= busy_from_s - now_s) return work_s;
    left_s -= busy_from_s - now_s;
    now_s = busy_from_s;
  }
  const double overlap_s = busy_until_s - now_s;
  if (left_s * factor <= overlap_s) return now_s + left_s * factor - start_s;
  return busy_until_s + (left_s - overlap_s / factor) - start_s;
}

class Simulation {
 public:
  // Over a trace in memory (`trace`), or one read a block at a time (`stream`): one of the two.
  Simulation(const ModelTable& models, const CompactTrace* trace, TraceStream* stream,
             const SimConfig& config, OutcomeSink* sink)
      : models_(models),
        trace_(trace),
        stream_(stream),
        config_(config),
        sink_(sink),
        latencies_(config) {
    if (config.workers == 0) throw UsageError("--workers must be at least 1");
    if (config.memory_bytes == 0) throw UsageError("memory per worker must be more than 0 bytes");
    const PolicyFactory& factory = find_policy(config.policy);
    // Only oracle policies read the future; the others run without the next-use column.
    if (trace && (trace->time_s.size() != trace->size() ||
                  (factory.oracle && trace->next_use.size() != trace->size()))) {
      throw std::logic_error("simulate: trace columns differ in length (next_use not computed?)");
    }
    if (!trace && factory.oracle) {
      throw std::logic_error("simulate: an oracle policy needs the whole trace (load_trace)");
    }
    PolicyOptions options;
    options.cost_mode = config.cost_mode;
    for (std::uint32_t w = 0; w < config.workers; ++w) {
      options.seed = config.seed + w;
      workers_.push_back(
          std::make_unique<Worker>(config.memory_bytes, models, factory.make(models, options)));
    }
    if (!config.costs.empty() && config.costs.size() != models.size()) {
      throw std::logic_error("simulate: the costs table and the model table differ in length");
    }
    // The seconds the simulated time follows; the policies rank by `models`.
    const ModelTable& costs = config.costs.empty() ? models : config.costs;
    hot_.resize(models.size());
    for (std::size_t m = 0; m < models.size(); ++m) {
      hot_[m].exec_s = costs[m].exec_latency_s;
      hot_[m].load_s = costs[m].load_latency_s;
      hot_[m].unload_s = costs[m].unload_latency_s;
      hot_[m].size_bytes = models[m].size_bytes;
    }
    where_.assign(models.size(), kNoWorker);
    if (config.queueing) windows_.assign(models.size(), LoadWindow{});
    if (config.queueing && config.parallel_load) {
      for (std::size_t m = 0; m < std::min(models.size(), config.interference.size()); ++m) {
        const ModelInterference& measured = config.interference[m];
        if (!measured.measured()) continue;
        if (contention_.empty()) contention_.assign(models.size(), Contention{});
        contention_[m].exec_factor = measured.exec_factor(costs[m].exec_latency_s);
        contention_[m].load_factor = measured.load_factor(costs[m].load_latency_s);
        contention_[m].first_exec_extra_s = measured.first_exec_extra_s(costs[m].exec_latency_s);
        contention_[m].first_load_extra_s = measured.first_load_extra_s(costs[m].load_latency_s);
        contention_[m].cold = measured;
        contention_[m].exec_alone_s = costs[m].exec_latency_s;
      }
      if (!contention_.empty()) fresh_.assign(models.size(), 0);
      loaded_before_.assign(models.size(), 0);
      waiting_.resize(models.size());
    }
    evicted_.reserve(64);
    if (config.prefetch) {
      if (config.workers != 1) throw UsageError("--prefetch needs --workers 1");
      prefetcher_ = std::make_unique<Prefetcher>(models, config.cost_mode);
      prefetcher_->set_observer(config.prefetch_observer);
      prefetched_.assign(models.size(), 0);
      prefetch_work_.assign(models.size(), 0.0);
    }
  }

  SimSummary run() {
    // The common shapes get their own loop: one worker (no per-worker loops) and no per-request
    // sink; everything else runs the general one. Same arithmetic in the same order either way.
    const bool single = workers_.size() == 1;
    // A list policy (lru, fifo) on one worker is called directly, not through the vtable.
    const bool list = single && dynamic_cast<ListPolicy*>(&workers_[0]->cache.policy());
    config_.queueing ? run_shape<true>(single, list) : run_shape<false>(single, list);
    if (config_.parallel_load) {
      if (!waiting_models_.empty()) settle_waiting(std::numeric_limits<double>::infinity());
      if (!waiting_models_.empty()) {
        throw std::logic_error("simulate: loads wait for room, yet nothing is left to free it");
      }
      run_lanes(std::numeric_limits<double>::infinity());
    }
    if (SimProgress* const progress = config_.progress) {
      progress->requests.fetch_add(requests_ - (next_report_ - SimProgress::kProgressStep),
                                   std::memory_order_relaxed);
      progress->runs.fetch_add(1, std::memory_order_relaxed);
    }
    if (prefetcher_) {
      // Prefetched models never requested by the end (in flight or resident) were wasted.
      if (inflight_.model != kNoModel) summary_.prefetch_load_s += inflight_.work_s;
      for (std::size_t m = 0; m < prefetched_.size(); ++m) {
        if (prefetched_[m]) summary_.prefetch_wasted_s += prefetch_work_[m];
      }
      summary_.prefetch = true;
    }
    summary_.hits = tally_.hits;
    summary_.total_load_delay_s = tally_.load_delay_s;
    summary_.total_queue_delay_s = tally_.queue_delay_s;
    summary_.total_exec_s = tally_.exec_s;
    SimSummary summary = summary_;
    summary.policy = config_.policy;
    summary.memory_bytes = config_.memory_bytes;
    summary.workers = config_.workers;
    summary.queueing = config_.queueing;
    summary.parallel_load = config_.queueing && config_.parallel_load;
    summary.isolated_first_loads = config_.isolated_first_loads;
    summary.requests = requests_;
    summary.misses = summary.requests - summary.hits;
    const LatencyHistogram& histogram = tally_.histogram;
    summary.latency_mean_s = histogram.mean();
    summary.latency_p50_s = histogram.quantile(0.50);
    summary.latency_p95_s = histogram.quantile(0.95);
    summary.latency_p99_s = histogram.quantile(0.99);
    summary.latency_max_s = histogram.max();
    summary.latency_cdf = histogram.cdf(200);
    return summary;
  }

 private:
  // The loop for this shape: a list policy on one worker, one worker, or several.
  template <bool kQueueing>
  void run_shape(bool single, bool list) {
    if (list) {
      run_loop<kQueueing, true, ListPolicy>();
    } else if (single) {
      run_loop<kQueueing, true>();
    } else {
      run_loop<kQueueing, false>();
    }
  }

  // `P`: the class of every worker's policy, or Policy (virtual calls); see ModelCache::admit.
  template <bool kQueueing, bool kSingle, class P = Policy>
  void run_loop() {
    next_report_ =
        config_.progress ? SimProgress::kProgressStep : std::numeric_limits<std::uint64_t>::max();
    if (trace_) {
      const std::size_t n = trace_->size();
      // Null when the trace has no next-use column (no oracle policy asked for it).
      const std::uint32_t* next_column =
          trace_->next_use.size() == n ? trace_->next_use.data() : nullptr;
      run_requests<kQueueing, kSingle, P>(trace_->model.data(), trace_->time_s.data(), nullptr,
                                          next_column, n, n);
      return;
    }
    if constexpr (!kQueueing && kSingle) {
      if (config_.read_ahead && !sink_ && !prefetcher_) {
        run_blocks<kQueueing, kSingle, P, true>();
        return;
      }
    }
    run_blocks<kQueueing, kSingle, P>();
  }

  // A streamed trace, a block at a time (no whole-trace columns to allocate and fault in), read
  // on a thread of its own with config_.read_ahead. Each block but the last keeps its final
  // kPrefetchAhead requests for the next one, put in that block's front room, so every request
  // sees the one kPrefetchAhead ahead of it exactly as over a whole trace.
  // kTallyAfter (pure cache mode, one worker, no sink, no prefetching, read ahead): the loop
  // only decides, marking each request a hit or not, and the reader's thread tallies each block
  // once it is given back (tally_block), in request order: the same draws and sums as the loop's
  // own, off the loop's core.
  template <bool kQueueing, bool kSingle, class P, bool kTallyAfter = false>
  void run_blocks() {
    static_assert(ReadAhead::kBlock > kPrefetchAhead);
    ReadAhead::After after;
    if constexpr (kTallyAfter) {
      after = [this](const ReadAhead::Block& block, std::size_t from, std::size_t count) {
        tally_block(block, from, count);
      };
    }
    ReadAhead reader(*stream_, kPrefetchAhead, config_.read_ahead, std::move(after));
    ModelId tail_models[kPrefetchAhead];
    double tail_times[kPrefetchAhead];
    std::size_t tail = 0;  // requests kept from the block before, not yet simulated
    std::size_t from = 0;  // the block before: where its simulated requests begin, and how many
    std::size_t count = 0;
    for (;;) {
      const ReadAhead::Block block = reader.next(from, count);
      from = kPrefetchAhead - tail;
      ModelId* models = block.model + from;
      double* times = block.time_s + from;
      std::copy(tail_models, tail_models + tail, models);
      std::copy(tail_times, tail_times + tail, times);
      const std::size_t held = tail + block.got;
      const bool last = block.got < ReadAhead::kBlock;
      const std::size_t now = last ? held : held - kPrefetchAhead;
      count = now;
      run_requests<kQueueing, kSingle, P>(models, times, kTallyAfter ? block.mark + from : nullptr,
                                          nullptr, now, held);
      if (last) {
        reader.finish(from, count);
        break;
      }
      tail = held - now;
      std::copy(models + now, models + held, tail_models);
      std::copy(times + now, times + held, tail_times);
    }
  }

  // Simulates `count` requests of these columns, the next ones of the trace (requests_ is the
  // index of the first); the columns hold `valid` >= `count` requests (those past `count`
  // only for the loop to look ahead). With `marks` (pure cache mode only), each request is
  // only decided: marked a hit (1) or not (0), its draws and sums left to tally_block.
  // One body per shape, called from both ways of reading (whole trace, blocks); the
  // per-request helpers below are inlined into it (when GCC chose otherwise, record() became a
  // call and a pure-cache lru run took 10% more instructions).
  template <bool kQueueing, bool kSingle, class P>
  [[gnu::noinline]] void run_requests(const ModelId* model_column, const double* time_column,
                                      std::uint8_t* marks, const std::uint32_t* next_column,
                                      std::size_t count, std::size_t valid) {
    const std::size_t first = requests_;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = first + k;
      if (i == next_report_) [[unlikely]] {
        config_.progress->requests.fetch_add(SimProgress::kProgressStep, std::memory_order_relaxed);
        next_report_ += SimProgress::kProgressStep;
      }
      const ModelId model = model_column[k];
      const double arrival_s = time_column[k];
      if constexpr (kQueueing) advance_to<kSingle>(arrival_s);
      if (prefetcher_) [[unlikely]]
        prefetch_before(model, arrival_s);
      RequestEvent event;
      event.model = model;
      event.time_s = arrival_s;
      event.index = i;
      if (next_column)
        event.next_index = next_column[k] == kNoNextUse ? kNeverAgain : next_column[k];
      if (k + kPrefetchAhead < valid)
        warm_ahead<kQueueing, kSingle, P>(model_column[k + kPrefetchAhead], event);
      const HotModel& hot = hot_[model];
      std::uint32_t worker = where_[model];
      const bool cached = worker != kNoWorker;  // resident, or its load decided (the policy's hit)
      tell_policies<kSingle, P>(event, worker, cached);
      double decision_s = arrival_s;
      double unload_s = 0.0;
      if (!cached) {
        if constexpr (kQueueing && kSingle) {
          // --parallel-load, one worker: a miss without room waits while later ones go on.
          if (config_.parallel_load && wait_for_room(i, model, arrival_s)) continue;
        }
        if constexpr (kQueueing) decision_s = std::max(arrival_s, decision_floor_s_);
        worker = admit<kQueueing, kSingle, P>(model, hot.size_bytes, decision_s, unload_s);
        if constexpr (kQueueing) decision_floor_s_ = decision_s;
      }
      if constexpr (!kQueueing) {
        // Decided; its draws and sums here, or with `marks` on the reader's thread.
        if (marks) {
          marks[k] = cached ? 1 : 0;
        } else {
          tally_pure_cache(i, model, worker, arrival_s, cached);
        }
      } else {
        RequestTimeline timeline;
        timeline.arrival_s = arrival_s;
        timeline.hit = cached;
        timeline.ready_s = arrival_s;
        const double load_s = cached ? 0.0 : latencies_.draw(hot.load_s);
        const double exec_s = latencies_.draw(hot.exec_s);
        Worker& target = *workers_[kSingle ? 0 : worker];
        if (cached) share_pending_load(target, model, arrival_s, timeline);
        if (config_.parallel_load) {
          // Recorded later, when its execution lane runs it (run_lanes).
          enter_lanes(target, i, model, worker, cached, decision_s, unload_s + load_s, exec_s,
                      timeline);
          continue;
        }
        run_serial(target, model, cached, decision_s, unload_s + load_s, exec_s, timeline);
        record(i, model, worker, timeline);
      }
    }
    requests_ = first + count;
  }

  // Pure cache: a hit executes at once, a miss after its load. Its draws (a miss's load, then
  // the execution) and its sums, in request order: in the loop, or in tally_block.
  [[gnu::always_inline]] void tally_pure_cache(std::size_t index, ModelId model,
                                               std::uint32_t worker, double arrival_s, bool hit) {
    const HotModel& hot = hot_[model];
    RequestTimeline timeline;
    timeline.arrival_s = arrival_s;
    timeline.hit = hit;
    timeline.ready_s = arrival_s;
    if (!hit) {
      timeline.load_start_s = arrival_s;
      timeline.ready_s = arrival_s + latencies_.draw(hot.load_s);
    }
    timeline.start_s = timeline.ready_s;
    timeline.end_s = timeline.start_s + latencies_.draw(hot.exec_s);
    record(index, model, worker, timeline);
  }

  // run_blocks' kTallyAfter, on the reader's thread: the requests [from, from + count) of a
  // block the loop has decided (one worker, no sink: nothing reads the worker or the index).
  void tally_block(const ReadAhead::Block& block, std::size_t from, std::size_t count) {
    for (std::size_t k = from; k < from + count; ++k) {
      tally_pure_cache(0, block.model[k], 0, block.time_s[k], block.mark[k] != 0);
    }
  }

  // Queueing: completions and (--parallel-load) executions due by this arrival happen first.
  template <bool kSingle>
  [[gnu::always_inline]] void advance_to(double arrival_s) {
    if (config_.parallel_load) [[unlikely]] {
      if (kSingle && !waiting_models_.empty()) settle_waiting(arrival_s);
      run_lanes(arrival_s);
    }
    if constexpr (kSingle) {
      finish_until(*workers_[0], arrival_s);
    } else {
      finish_until(arrival_s);
    }
  }

  // The trace says which models come next: start their random loads now (the policy warms its
  // own records on being told, in on_request).
  template <bool kQueueing, bool kSingle, class P>
  [[gnu::always_inline]] void warm_ahead(ModelId ahead, RequestEvent& event) {
    event.upcoming = ahead;
    __builtin_prefetch(&hot_[ahead]);
    __builtin_prefetch(&where_[ahead]);
    if constexpr (kQueueing) __builtin_prefetch(&windows_[ahead]);  // a pinned hit reads it
    // The policy reads size and latencies (not the name at the front) when the model loads; a
    // list policy reads neither.
    if constexpr (!std::is_same_v<P, ListPolicy>)
      __builtin_prefetch(&models_[ahead].load_latency_s);
    if constexpr (kSingle) {
      workers_[0]->cache.state().prefetch(ahead);
    } else {
      for (const auto& w : workers_) w->cache.state().prefetch(ahead);
    }
  }

  // Every worker's policy sees the request: a hit for the one holding the model.
  template <bool kSingle, class P>
  [[gnu::always_inline]] void tell_policies(RequestEvent& event, std::uint32_t worker,
                                            bool cached) {
    if constexpr (kSingle) {
      event.hit = cached;
      static_cast<P&>(workers_[0]->cache.policy()).on_request(event);
    } else {
      for (std::uint32_t w = 0; w < workers_.size(); ++w) {
        event.hit = w == worker;
        workers_[w]->cache.policy().on_request(event);
      }
    }
  }

  // A cached model's load may still be queued or running: then the request shares it (a miss).
  // Only a pinned model, or one unpinned by a decision made past this arrival, can be so.
  [[gnu::always_inline]] void share_pending_load(const Worker& target, ModelId model,
                                                 double arrival_s,
                                                 RequestTimeline& timeline) const {
    if (!target.cache.state().pinned(model) && arrival_s >= decision_floor_s_) return;
    const LoadWindow& window = windows_[model];
    if (window.ready_s > arrival_s) {
      timeline.hit = false;
      timeline.load_start_s = window.start_s;
      timeline.ready_s = window.ready_s;
    }
  }

  // Serial FIFO worker: [queue] unloads, load, exec; the request's timeline is complete after.
  [[gnu::always_inline]] void run_serial(Worker& target, ModelId model, bool cached,
                                         double decision_s, double load_work_s, double exec_s,
                                         RequestTimeline& timeline) {
    const double begin_s = std::max(decision_s, target.exec_free_at_s);
    timeline.start_s = begin_s;
    if (!cached) {
      timeline.load_start_s = begin_s;
      timeline.ready_s = begin_s + load_work_s;
      timeline.start_s = timeline.ready_s;
      windows_[model] = {begin_s, timeline.ready_s};
    }
    timeline.end_s = timeline.start_s + exec_s;
    target.exec_free_at_s = timeline.end_s;
    target.cache.state().pin(model);
    target.pending.push({timeline.end_s, model});
  }

  // --parallel-load: a miss's unloads and load go on the loading lane (FIFO) beside the
  // execution lane; the request runs once its model is ready, in the order requests became
  // runnable (run_lanes).
  [[gnu::always_inline]] void enter_lanes(Worker& target, std::size_t index, ModelId model,
                                          std::uint32_t worker, bool cached, double decision_s,
                                          double load_work_s, double exec_s,
                                          RequestTimeline& timeline) {
    if (!cached) {
      double load_start_s = std::max(decision_s, target.loader_free_at_s);
      // A model's first load in the process is isolated (unless the server it models is given
      // the profiled sizes: isolated_first_loads), as the server measures it: it waits
      // for the running inference and the execution lane starts nothing until it is done, so
      // nothing slows it either (execute_next keeps the window). Running when the server's
      // loader takes it: a request that has started by then (one the loads before it readied
      // starts at once if the lane is free). A request runnable by then that has not started
      // (the lane busy) waits for the whole load, as the server's waits at the activity gate.
      const bool first = !loaded_before_[model];
      loaded_before_[model] = 1;
      const bool isolated = first && config_.isolated_first_loads;
      if (isolated) {
        while (!target.runnable.empty() &&
               std::max(target.runnable.top().runnable_s, target.exec_free_at_s) <= load_start_s) {
          execute_next(target);
        }
        load_start_s = std::max(load_start_s, target.exec_free_at_s);
      }
      if (!contention_.empty()) {
        // Memory the process did not hold yet is faulted in (first_load_s, measured into
        // trimmed memory); memory it freed is reused. With the loads' peaks known, the part of
        // this load's peak above the most the process has held is fresh; without them, a
        // model's first load is.
        const std::uint64_t peak =
            model < config_.load_heap_bytes.size() ? config_.load_heap_bytes[model] : 0;
        if (peak != 0) {
          const double peak_bytes = static_cast<double>(peak);
          const double size = static_cast<double>(hot_[model].size_bytes);
          const double resident = static_cast<double>(target.cache.state().used_bytes()) - size;
          const double top = resident + std::max(peak_bytes, size);
          if (top > target.heap_high_bytes) {
            const double fresh = std::min(1.0, (top - target.heap_high_bytes) / peak_bytes);
            load_work_s += fresh * contention_[model].first_load_extra_s;
            target.heap_high_bytes = top;
          }
        } else if (first) {
          load_work_s += contention_[model].first_load_extra_s;
        }
        if (!isolated) {
          const double factor = contention_[model].load_factor;
          load_work_s = stretched_s(load_work_s, load_start_s, target.exec_busy_from_s,
                                    target.exec_free_at_s, factor);
          // Inferences placed later (hits arriving during the load) slow it too; they are not
          // known yet, so the rest of the load is slowed by the lane's recent busy share.
          const double tail_s =
              load_start_s + load_work_s - std::max(load_start_s, target.exec_free_at_s);
          if (tail_s > 0.0) {
            load_work_s += tail_s * (factor - 1.0) * target.busy_share(load_start_s, kBusyWindowS);
          }
        }
        if (load_start_s > target.loader_free_at_s) target.loader_busy_from_s = load_start_s;
        fresh_[model] = 1;
      }
      timeline.load_start_s = load_start_s;
      timeline.ready_s = load_start_s + load_work_s;
      target.loader_free_at_s = timeline.ready_s;
      windows_[model] = {load_start_s, timeline.ready_s};
      if (isolated) target.isolated.emplace_back(load_start_s, timeline.ready_s);
    }
    target.cache.state().pin(model);
    target.runnable.push(
        {std::max(timeline.arrival_s, timeline.ready_s), index, exec_s, worker, timeline, model});
  }

  // Adds a finished request to the totals and hands it to the sink, in request order.
  [[gnu::always_inline]] void record(std::size_t index, ModelId model, std::uint32_t worker,
                                     const RequestTimeline& timeline) {
    const RequestDelays delays = derive_delays(timeline);
    tally_.hits += timeline.hit ? 1 : 0;
    tally_.load_delay_s += delays.load_delay_s;
    tally_.queue_delay_s += delays.queue_delay_s;
    tally_.exec_s += delays.exec_s;
    tally_.histogram.add(delays.latency_s);
    if (!sink_) return;
    RequestOutcome outcome;
    outcome.index = index;
    outcome.model = model;
    outcome.worker = worker;
    outcome.timeline = timeline;
    outcome.delays = delays;
    if (!config_.parallel_load) return sink_->on_outcome(outcome);
    // --parallel-load finishes requests out of order: hold them until their turn.
    waiting_outcomes_.emplace(index, outcome);
    for (auto it = waiting_outcomes_.begin();
         it != waiting_outcomes_.end() && it->first == next_outcome_;
         it = waiting_outcomes_.erase(it), ++next_outcome_) {
      sink_->on_outcome(it->second);
    }
  }

  // --parallel-load: each worker's execution lane runs its runnable requests (model ready) in the
  // order they became runnable, one at a time, like the server's executor. A request that starts
  // at or before `until_s` is fixed now: no later arrival can be runnable before it, nor start an
  // isolated first load before it starts (one that has not started by then waits for such a
  // load; enter_lanes). Its inference is slowed while the loading lane is busy, and the first
  // inference after a load costs extra (catalog figures, if profiled).
  void run_lanes(double until_s) {
    for (auto& worker : workers_) {
      while (!worker->runnable.empty() &&
             std::max(worker->runnable.top().runnable_s, worker->exec_free_at_s) <= until_s) {
        execute_next(*worker);
      }
    }
  }
  void execute_next(Worker& lane) {
    Runnable next = lane.runnable.top();
    lane.runnable.pop();
    RequestTimeline& timeline = next.timeline;
    timeline.start_s = std::max(lane.exec_free_at_s, next.runnable_s);
    // Nothing starts during an isolated first load (an inference that began before one started
    // is not moved: the load waited for the running inference when it was queued).
    while (!lane.isolated.empty() && lane.isolated.front().first <= timeline.start_s) {
      timeline.start_s = std::max(timeline.start_s, lane.isolated.front().second);
      lane.isolated.pop_front();
    }
    double exec_s = next.exec_s;
    if (!contention_.empty()) {
      const Contention& contention = contention_[next.model];
      // The first inference after a load (its figure is cold already), or one after idle time
      // on the lane: what the server's inferences cost with the machine idle between requests,
      // the extra growing with the idle time up to the profile's pause, whichever model ran
      // last (docs/fidelity.md, "A cold inference is an idle one"). A catalog without the pause
      // is charged as it was: the whole extra, after another model's inference only.
      if (fresh_[next.model]) {
        fresh_[next.model] = 0;
        exec_s += contention.first_exec_extra_s;
      } else if (contention.cold.exec_cold_pause_s > 0.0 || lane.last_exec != next.model) {
        // Idle since the lane's last inference ended (its whole past when it ran none).
        exec_s += contention.cold.cold_extra_s(contention.exec_alone_s,
                                               timeline.start_s - lane.exec_free_at_s);
      }
      lane.last_exec = next.model;
      exec_s = stretched_s(exec_s, timeline.start_s, lane.loader_busy_from_s, lane.loader_free_at_s,
                           contention.exec_factor);
      if (timeline.start_s > lane.exec_free_at_s) lane.exec_busy_from_s = timeline.start_s;
    }
    timeline.end_s = timeline.start_s + exec_s;
    lane.exec_free_at_s = timeline.end_s;
    lane.pending.push({timeline.end_s, next.model});
    if (!contention_.empty()) lane.note_busy(timeline.start_s, timeline.end_s);
    record(next.index, next.model, next.worker, timeline);
  }

  // Completions at or before `time_s` unpin their models.
  void finish_until(double time_s) {
    for (auto& worker : workers_) finish_until(*worker, time_s);
  }
  static void finish_until(Worker& worker, double time_s) {
    while (!worker.pending.empty() && worker.pending.front().time_s <= time_s) {
      worker.cache.state().unpin(worker.pending.front().model);
      worker.pending.pop();
    }
  }

  // Finds a worker for a model no worker holds, evicts there by the policy and admits it.
  // In queueing mode a request may have to wait (decision_s moves forward) until completions
  // unpin enough memory. Adds the unload time of the victims to unload_s. The loop's shape
  // (kQueueing = config_.queueing, kSingle = one worker) is known at compile time here too.
  template <bool kQueueing, bool kSingle, class P>
  [[gnu::always_inline]] std::uint32_t admit(ModelId model, std::uint64_t size_bytes,
                                             double& decision_s, double& unload_s) {
    // A load holds its peak while it runs (config_.load_peak_bytes): room for it is made first.
    const std::uint64_t hold = load_hold(model);
    if (hold > config_.memory_bytes) [[unlikely]] {
      throw UsageError("model " + models_[model].name + " needs " + format_bytes(hold) +
                       ", more than the memory of one worker (" +
                       format_bytes(config_.memory_bytes) + ")");
    }
    const std::uint32_t worker = kSingle && !kQueueing ? 0 : choose_worker(hold, decision_s);
    ModelCache& cache = workers_[kSingle ? 0 : worker]->cache;
    evicted_.clear();
    const std::uint64_t used_before = cache.state().used_bytes();
    if (hold > size_bytes) cache.make_room<P>(hold, evicted_);
    cache.admit<P>(model, size_bytes, evicted_);
    // Unloads take time only where time is modelled (a pure cache mode has no clock).
    const bool timed = kQueueing;
    for (ModelId victim : evicted_) {
      where_[victim] = kNoWorker;
      if (timed) unload_s += latencies_.draw(hot_[victim].unload_s);
      if (prefetcher_) [[unlikely]]
        prefetch_evicted(victim);
    }
    where_[model] = worker;
    summary_.evictions += evicted_.size();
    ++summary_.loads;
    summary_.bytes_loaded += size_bytes;
    summary_.load_cost_s += hot_[model].load_s;
    used_bytes_ = used_bytes_ - used_before + cache.state().used_bytes();
    summary_.peak_used_bytes = std::max(summary_.peak_used_bytes, used_bytes_);
    return worker;
  }

  std::uint32_t choose_worker(std::uint64_t size_bytes, double& decision_s) {
    if (workers_.size() == 1) {
      if (config_.queueing) {
        Worker& only = *workers_[0];
        while (only.cache.state().free_bytes() + only.cache.state().evictable_bytes() <
               size_bytes) {
          wait_for_earliest_completion(decision_s);
        }
      }
      return 0;
    }
    if (!config_.queueing) {
      // No time: the worker with the most free bytes (lowest index on ties).
      std::uint32_t best = 0;
      for (std::uint32_t w = 1; w < workers_.size(); ++w) {
        if (workers_[w]->cache.state().free_bytes() > workers_[best]->cache.state().free_bytes()) {
          best = w;
        }
      }
      return best;
    }
    for (;;) {
      // A worker with free space first, else one where eviction can make room; among them the
      // one whose queue empties first (lowest index on ties).
      std::uint32_t best = kNoWorker;
      for (int pass = 0; pass < 2 && best == kNoWorker; ++pass) {
        for (std::uint32_t w = 0; w < workers_.size(); ++w) {
          const CacheState& state = workers_[w]->cache.state();
          const std::uint64_t room = state.free_bytes() + (pass == 0 ? 0 : state.evictable_bytes());
          if (room < size_bytes) continue;
          if (best == kNoWorker || workers_[w]->exec_free_at_s < workers_[best]->exec_free_at_s) {
            best = w;
          }
        }
      }
      if (best != kNoWorker) return best;
      wait_for_earliest_completion(decision_s);
    }
  }

  // ---- loads waiting for room (--parallel-load, one worker) ----
  //
  // The server keeps models whose load cannot make room yet (pinned models hold the memory) in a
  // FIFO of pending loads and, whenever room may have come free, starts each one in turn that
  // fits now, skipping those that still do not (Scheduler::start_loads_locked): a later load that
  // fits passes an earlier one that does not, and requests after a blocked one are decided at
  // their arrival (docs/simulator.md, "Loads waiting for room").

  // The bytes a model's load must find: its size, or its peak while it loads if that is known.
  std::uint64_t load_hold(ModelId model) const {
    const std::uint64_t size = hot_[model].size_bytes;
    return model < config_.load_peak_bytes.size() ? std::max(size, config_.load_peak_bytes[model])
                                                  : size;
  }

  // A miss on a model no worker holds: it joins its model's waiting requests if the model waits
  // already or no room can be made for it now (true), else it is admitted as usual (false).
  bool wait_for_room(std::size_t index, ModelId model, double arrival_s) {
    std::vector<WaitingRequest>& queue = waiting_[model];
    if (queue.empty()) {
      // The loads waiting before it go first if they fit now (a prefetch cancelled by this
      // arrival gave its room back).
      if (!waiting_models_.empty()) start_waiting_loads(arrival_s);
      const std::uint64_t hold = load_hold(model);
      if (hold > config_.memory_bytes || workers_[0]->cache.can_make_room(hold)) {
        return false;  // fits (or never will: admit says so)
      }
      waiting_models_.push_back(model);
    }
    const HotModel& hot = hot_[model];
    const double load_s = latencies_.draw(hot.load_s);
    queue.push_back({index, arrival_s, load_s, latencies_.draw(hot.exec_s)});
    return true;
  }

  // Starts, in FIFO order, every waiting load that can make room at `now_s`.
  void start_waiting_loads(double now_s) {
    Worker& worker = *workers_[0];
    for (auto it = waiting_models_.begin(); it != waiting_models_.end();) {
      const ModelId model = *it;
      if (!worker.cache.can_make_room(load_hold(model))) {
        ++it;
        continue;
      }
      double decision_s = now_s;
      double unload_s = 0.0;
      admit<true, true, Policy>(model, hot_[model].size_bytes, decision_s, unload_s);
      std::vector<WaitingRequest>& queue = waiting_[model];
      for (std::size_t k = 0; k < queue.size(); ++k) {
        const WaitingRequest& request = queue[k];
        RequestTimeline timeline;
        timeline.arrival_s = request.arrival_s;
        timeline.hit = false;
        timeline.ready_s = request.arrival_s;
        if (k != 0) {  // shares the first one's load
          timeline.load_start_s = windows_[model].start_s;
          timeline.ready_s = windows_[model].ready_s;
        }
        enter_lanes(worker, request.index, model, 0, k != 0, decision_s, unload_s + request.load_s,
                    request.exec_s, timeline);
      }
      queue.clear();
      it = waiting_models_.erase(it);
    }
  }

  // Completions up to `until_s`, one at a time in time order, each followed by the waiting loads
  // it made room for; the execution lane's work is fixed up to each completion as it comes. The
  // end of a prefetch in flight (begun before any load waited) releases its pin too.
  void settle_waiting(double until_s) {
    Worker& worker = *workers_[0];
    while (!waiting_models_.empty()) {
      if (inflight_.model != kNoModel && inflight_.end_s <= until_s &&
          (worker.pending.empty() || inflight_.end_s <= worker.pending.front().time_s)) {
        const double end_s = inflight_.end_s;
        finish_prefetch();
        start_waiting_loads(end_s);
        continue;
      }
      if (worker.pending.empty()) {
        // The next completion is the next inference the lane runs, if it starts by until_s.
        if (worker.runnable.empty() ||
            std::max(worker.runnable.top().runnable_s, worker.exec_free_at_s) > until_s) {
          break;
        }
        execute_next(worker);
        continue;
      }
      const double at_s = worker.pending.front().time_s;
      if (at_s > until_s) break;
      worker.cache.state().unpin(worker.pending.front().model);
      worker.pending.pop();
      start_waiting_loads(at_s);
    }
  }

  // Every worker is too pinned: move the decision to the next completion anywhere.
  void wait_for_earliest_completion(double& decision_s) {
    if (config_.parallel_load) {
      // Requests still waiting for their lane will complete too: fix the next one's execution.
      for (auto& worker : workers_) {
        if (worker->pending.empty() && !worker->runnable.empty()) execute_next(*worker);
      }
    }
    Worker* earliest = nullptr;
    for (auto& worker : workers_) {
      if (worker->pending.empty()) continue;
      if (!earliest || worker->pending.front().time_s < earliest->pending.front().time_s) {
        earliest = worker.get();
      }
    }
    if (!earliest) throw std::logic_error("simulate: no completion to wait for, yet no room");
    decision_s = std::max(decision_s, earliest->pending.front().time_s);
    earliest->cache.state().unpin(earliest->pending.front().model);
    earliest->pending.pop();
  }

  // ---- prefetching (docs/prefetch.md); one worker ----

  // Before request `model` arriving at `arrival_s` is handled: settle the prefetch in flight,
  // start prefetches while the lane is idle before the arrival, then let the arrival meet a
  // prefetch still running (share it, cancel it, or let it run beside a hit's execution).
  void prefetch_before(ModelId model, double arrival_s) {
    Worker& worker = *workers_[0];
    const bool timed = config_.queueing;
    double& lane = config_.parallel_load ? worker.loader_free_at_s : worker.exec_free_at_s;
    if (inflight_.model != kNoModel && inflight_.end_s <= arrival_s) finish_prefetch();
    if (inflight_.model == kNoModel && seen_arrival_ && waiting_models_.empty()) {
      // Decisions at the lane's idle time, never before the last arrival (the predictor has seen
      // it). Pure cache mode has no lane: prefetches complete between two requests.
      double now_s = timed ? std::max(lane, last_arrival_s_) : last_arrival_s_;
      for (int n = 0; n < kMaxPrefetchesPerGap && (!timed || now_s < arrival_s); ++n) {
        if (timed) finish_until(worker, now_s);
        const ModelId chosen = prefetcher_->choose(worker.cache.state(), now_s, prefetch_victims_);
        if (chosen == kNoModel) break;
        double work_s = 0.0;
        for (ModelId victim : prefetch_victims_) {
          worker.cache.evict(victim);
          where_[victim] = kNoWorker;
          ++summary_.evictions;
          if (timed) work_s += latencies_.draw(hot_[victim].unload_s);
          prefetch_evicted(victim);
        }
        evicted_.clear();
        worker.cache.admit(chosen, hot_[chosen].size_bytes, evicted_);  // fits: evicts nothing
        used_bytes_ = worker.cache.state().used_bytes();                // one worker
        summary_.peak_used_bytes = std::max(summary_.peak_used_bytes, used_bytes_);
        where_[chosen] = 0;
        work_s += latencies_.draw(hot_[chosen].load_s);
        ++summary_.prefetches;
        prefetched_[chosen] = 1;
        prefetch_work_[chosen] = work_s;
        if (!timed) {
          summary_.prefetch_load_s += work_s;
          continue;
        }
        const double end_s = now_s + work_s;
        windows_[chosen] = {now_s, end_s};
        if (end_s <= arrival_s) {
          summary_.prefetch_load_s += work_s;
          lane = std::max(lane, end_s);
          now_s = end_s;
          continue;
        }
        worker.cache.state().pin(chosen);
        inflight_ = {chosen, now_s, end_s, work_s};
        break;
      }
    }
    if (inflight_.model != kNoModel) {
      // The arrival meets a prefetch in progress.
      if (model == inflight_.model) {
        // Its request shares the load (a miss with the rest of the load as its load delay):
        // from here on the load is the request's, and the lane is busy until it ends.
        worker.cache.state().unpin(model);
        summary_.prefetch_load_s += inflight_.work_s;
        lane = std::max(lane, inflight_.end_s);
        inflight_.model = kNoModel;
      } else if (!config_.parallel_load || where_[model] == kNoWorker) {
        // The request needs the lane (a serial worker, or a miss on the loading lane): the
        // prefetch is cancelled at once; its work so far is wasted, its victims stay evicted.
        const ModelId cancelled = inflight_.model;
        worker.cache.state().unpin(cancelled);
        worker.cache.evict(cancelled);
        prefetcher_->on_cancelled(cancelled);
        where_[cancelled] = kNoWorker;
        prefetched_[cancelled] = 0;
        const double spent_s = arrival_s - inflight_.start_s;
        windows_[cancelled] = {inflight_.start_s, arrival_s};
        summary_.prefetch_load_s += spent_s;
        summary_.prefetch_wasted_s += spent_s;
        ++summary_.prefetches_cancelled;
        used_bytes_ = worker.cache.state().used_bytes();
        inflight_.model = kNoModel;
      }
      // Otherwise (--parallel-load, a hit) the prefetch runs on beside the execution.
    }
    if (prefetched_[model]) {
      prefetched_[model] = 0;
      ++summary_.prefetches_used;
    }
    prefetcher_->observe(model, arrival_s);
    last_arrival_s_ = arrival_s;
    seen_arrival_ = true;
  }
  // The prefetch in flight has ended: its model is resident and unpinned, its lane time counted.
  void finish_prefetch() {
    Worker& worker = *workers_[0];
    double& lane = config_.parallel_load ? worker.loader_free_at_s : worker.exec_free_at_s;
    worker.cache.state().unpin(inflight_.model);
    summary_.prefetch_load_s += inflight_.work_s;
    lane = std::max(lane, inflight_.end_s);
    inflight_.model = kNoModel;
  }

  // A model left memory for a load: a prefetched one never requested was wasted.
  void prefetch_evicted(ModelId victim) {
    prefetcher_->on_evicted(victim);
    if (prefetched_[victim]) {
      prefetched_[victim] = 0;
      summary_.prefetch_wasted_s += prefetch_work_[victim];
    }
  }

  const ModelTable& models_;
  const CompactTrace* trace_;  // or:
  TraceStream* stream_;
  std::uint64_t requests_ = 0;     // simulated so far
  std::uint64_t next_report_ = 0;  // the request at which progress is told next
  const SimConfig& config_;
  OutcomeSink* sink_;
  Latencies latencies_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<HotModel> hot_;
  std::vector<std::uint32_t> where_;  // worker holding each model, or kNoWorker
  std::vector<LoadWindow> windows_;   // queueing: each model's last load
  // --parallel-load with a measured catalog: per model, what interference does to it.
  struct Contention {
    double exec_factor = 1.0;
    double load_factor = 1.0;
    double first_exec_extra_s = 0.0;
    double first_load_extra_s = 0.0;  // its first load: into memory the process did not hold
    ModelInterference cold;           // its cold figure and pause (an inference after idle time)
    double exec_alone_s = 0.0;        // its steady inference, which the cold extra is over
  };
  std::vector<Contention> contention_;  // empty: no interference
  std::vector<char> fresh_;             // loaded and not yet executed (with contention_)
  std::vector<char> loaded_before_;     // --parallel-load: loaded at least once
  // How far back the execution lane's busy share is taken (1 to 10 s gave the same results on
  // the ONNX testbed, docs/fidelity.md).
  static constexpr double kBusyWindowS = 5.0;
  std::map<std::uint64_t, RequestOutcome> waiting_outcomes_;  // --parallel-load, for the sink
  std::uint64_t next_outcome_ = 0;
  std::vector<ModelId> evicted_;
  // --parallel-load, one worker: models whose load waits for room, in the order they began to
  // wait, and each one's requests (its load and execution drawn at arrival).
  struct WaitingRequest {
    std::size_t index;
    double arrival_s;
    double load_s;
    double exec_s;
  };
  std::deque<ModelId> waiting_models_;
  std::vector<std::vector<WaitingRequest>> waiting_;
  std::uint64_t used_bytes_ = 0;
  double decision_floor_s_ = 0.0;
  // Prefetching
  static constexpr int kMaxPrefetchesPerGap = 8;
  std::unique_ptr<Prefetcher> prefetcher_;
  struct InFlight {
    ModelId model = kNoModel;
    double start_s = 0.0;
    double end_s = 0.0;
    double work_s = 0.0;
  };
  InFlight inflight_;
  std::vector<char> prefetched_;       // prefetched and not yet requested
  std::vector<double> prefetch_work_;  // the lane time of each model's last prefetch
  std::vector<ModelId> prefetch_victims_;
  double last_arrival_s_ = 0.0;
  bool seen_arrival_ = false;
  SimSummary summary_;
  // What record() adds up, apart from the rest of the summary (run() folds it in at the end):
  // with run_blocks' kTallyAfter the reader's thread adds it up while the loop counts loads and
  // evictions in summary_, so it keeps cache lines of its own.
  struct alignas(64) Tally {
    std::uint64_t hits = 0;
    double load_delay_s = 0.0;
    double queue_delay_s = 0.0;
    double exec_s = 0.0;
    LatencyHistogram histogram;
  };
  Tally tally_;
};

}  // namespace

SimSummary simulate(const ModelTable& models, const CompactTrace& trace, const SimConfig& config,
                    OutcomeSink* sink) {
  Simulation simulation(models, &trace, nullptr, config, sink);
  return simulation.run();
}

SimSummary simulate(const ModelTable& models, TraceStream& trace, const SimConfig& config,
                    OutcomeSink* sink) {
  Simulation simulation(models, nullptr, &trace, config, sink);
  return simulation.run();
}

}  // namespace brulee::sim
