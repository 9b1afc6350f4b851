#include "sim/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model_cache.hpp"
#include "core/rng.hpp"
#include "core/units.hpp"
#include "sim/latency_histogram.hpp"

namespace brulee::sim {

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
    if (count_ > mask_) [[unlikely]] grow();
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

struct Worker {
  Worker(std::uint64_t memory_bytes, const ModelTable& models, std::unique_ptr<Policy> policy)
      : cache(memory_bytes, models, std::move(policy)) {}
  ModelCache cache;
  CompletionRing pending;
  double exec_free_at_s = 0.0;    // when the (serial) worker, or its execution lane, is next free
  double loader_free_at_s = 0.0;  // --parallel-load: when its loading lane is next free
};

class Simulation {
 public:
  Simulation(const ModelTable& models, const CompactTrace& trace, const SimConfig& config,
             OutcomeSink* sink)
      : models_(models), trace_(trace), config_(config), sink_(sink), latencies_(config) {
    if (config.workers == 0) throw UsageError("--workers must be at least 1");
    if (config.memory_bytes == 0) throw UsageError("memory per worker must be more than 0 bytes");
    if (trace.next_use.size() != trace.size() || trace.time_s.size() != trace.size()) {
      throw std::logic_error("simulate: trace columns differ in length (next_use not computed?)");
    }
    const PolicyFactory& factory = find_policy(config.policy);
    PolicyOptions options;
    options.cost_mode = config.cost_mode;
    for (std::uint32_t w = 0; w < config.workers; ++w) {
      options.seed = config.seed + w;
      workers_.push_back(
          std::make_unique<Worker>(config.memory_bytes, models, factory.make(models, options)));
    }
    hot_.resize(models.size());
    for (std::size_t m = 0; m < models.size(); ++m) {
      hot_[m].exec_s = models[m].exec_latency_s;
      hot_[m].load_s = models[m].load_latency_s;
      hot_[m].unload_s = models[m].unload_latency_s;
      hot_[m].size_bytes = models[m].size_bytes;
    }
    where_.assign(models.size(), kNoWorker);
    if (config.parallel_load) ready_at_s_.assign(models.size(), 0.0);
    evicted_.reserve(64);
  }

  SimSummary run() {
    // The common shapes get their own loop: one worker (no per-worker loops) and no per-request
    // sink; everything else runs the general one. Same arithmetic in the same order either way.
    const bool single = workers_.size() == 1;
    if (config_.queueing) {
      single ? run_loop<true, true>() : run_loop<true, false>();
    } else {
      single ? run_loop<false, true>() : run_loop<false, false>();
    }
    SimSummary summary = summary_;
    summary.policy = config_.policy;
    summary.memory_bytes = config_.memory_bytes;
    summary.workers = config_.workers;
    summary.queueing = config_.queueing;
    summary.parallel_load = config_.queueing && config_.parallel_load;
    summary.requests = trace_.size();
    summary.misses = summary.requests - summary.hits;
    summary.latency_mean_s = histogram_.mean();
    summary.latency_p50_s = histogram_.quantile(0.50);
    summary.latency_p95_s = histogram_.quantile(0.95);
    summary.latency_p99_s = histogram_.quantile(0.99);
    summary.latency_max_s = histogram_.max();
    summary.latency_cdf = histogram_.cdf(200);
    return summary;
  }

 private:
  template <bool kQueueing, bool kSingle>
  void run_loop() {
    const std::size_t n = trace_.size();
    const ModelId* model_column = trace_.model.data();
    const double* time_column = trace_.time_s.data();
    const std::uint32_t* next_column = trace_.next_use.data();
    Worker& first = *workers_[0];
    Policy& first_policy = first.cache.policy();
    CacheState& first_state = first.cache.state();
    RequestOutcome outcome;
    for (std::size_t i = 0; i < n; ++i) {
      const ModelId model = model_column[i];
      const double arrival_s = time_column[i];
      if constexpr (kQueueing) {
        if constexpr (kSingle) {
          finish_until(first, arrival_s);
        } else {
          finish_until(arrival_s);
        }
      }
      RequestEvent event;
      event.model = model;
      event.time_s = arrival_s;
      event.index = i;
      event.next_index = next_column[i] == kNoNextUse ? kNeverAgain : next_column[i];
      if (i + kPrefetchAhead < n) {
        // The trace says which models come next: start their random loads now (the policy
        // warms its own records on being told, in on_request).
        const ModelId ahead = model_column[i + kPrefetchAhead];
        event.upcoming = ahead;
        __builtin_prefetch(&hot_[ahead]);
        __builtin_prefetch(&where_[ahead]);
        // The policy reads size and latencies (not the name at the front) when the model loads.
        __builtin_prefetch(&models_[ahead].load_latency_s);
        if constexpr (kSingle) {
          first_state.prefetch(ahead);
        } else {
          for (const auto& w : workers_) w->cache.state().prefetch(ahead);
        }
      }
      const HotModel& hot = hot_[model];
      std::uint32_t worker = where_[model];
      const bool hit = worker != kNoWorker;
      if constexpr (kSingle) {
        event.hit = hit;
        first_policy.on_request(event);
      } else {
        for (std::uint32_t w = 0; w < workers_.size(); ++w) {
          event.hit = w == worker;
          workers_[w]->cache.policy().on_request(event);
        }
      }
      double decision_s = arrival_s;
      double unload_s = 0.0;
      double load_s = 0.0;
      if (hit) {
        ++summary_.hits;
      } else {
        if constexpr (kQueueing) decision_s = std::max(arrival_s, decision_floor_s_);
        worker = admit(model, hot.size_bytes, decision_s, unload_s);
        load_s = latencies_.draw(hot.load_s);
        if constexpr (kQueueing) decision_floor_s_ = decision_s;
      }
      const double exec_s = latencies_.draw(hot.exec_s);
      double queue_delay_s = 0.0;
      double load_delay_s = 0.0;
      if constexpr (kQueueing) {
        Worker& target = kSingle ? first : *workers_[worker];
        double exec_start_s;
        if (!config_.parallel_load) {
          // Serial FIFO worker: [queue] unloads, load, exec.
          const double start_s = std::max(decision_s, target.exec_free_at_s);
          queue_delay_s = start_s - arrival_s;
          load_delay_s = unload_s + load_s;
          exec_start_s = start_s + load_delay_s;
        } else {
          // Loader lane (unloads + load) in parallel with the execution lane.
          double ready_s;
          if (!hit) {
            const double load_start_s = std::max(decision_s, target.loader_free_at_s);
            ready_s = load_start_s + unload_s + load_s;
            target.loader_free_at_s = ready_s;
            ready_at_s_[model] = ready_s;
          } else {
            ready_s = ready_at_s_[model];
          }
          const double lane_free_s = std::max(decision_s, target.exec_free_at_s);
          exec_start_s = std::max(lane_free_s, ready_s);
          queue_delay_s = lane_free_s - arrival_s;
          load_delay_s = exec_start_s - lane_free_s;
        }
        const double completion_s = exec_start_s + exec_s;
        target.exec_free_at_s = completion_s;
        target.cache.state().pin(model);
        target.pending.push({completion_s, model});
      } else {
        load_delay_s = load_s;
      }
      const double latency_s = queue_delay_s + load_delay_s + exec_s;
      summary_.total_load_delay_s += load_delay_s;
      summary_.total_queue_delay_s += queue_delay_s;
      summary_.total_exec_s += exec_s;
      histogram_.add(latency_s);
      if (sink_) {
        outcome.index = i;
        outcome.model = model;
        outcome.worker = worker;
        outcome.hit = hit;
        outcome.arrival_s = arrival_s;
        outcome.queue_delay_s = queue_delay_s;
        outcome.start_s = arrival_s + queue_delay_s;
        outcome.load_delay_s = load_delay_s;
        outcome.exec_s = exec_s;
        outcome.completion_s = arrival_s + latency_s;
        sink_->on_outcome(outcome);
      }
    }
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
  // unpin enough memory. Adds the unload time of the victims to unload_s.
  std::uint32_t admit(ModelId model, std::uint64_t size_bytes, double& decision_s,
                      double& unload_s) {
    if (size_bytes > config_.memory_bytes) [[unlikely]] {
      throw UsageError("model " + models_[model].name + " needs " + format_bytes(size_bytes) +
                       ", more than the memory of one worker (" +
                       format_bytes(config_.memory_bytes) + ")");
    }
    const std::uint32_t worker = choose_worker(size_bytes, decision_s);
    ModelCache& cache = workers_[worker]->cache;
    evicted_.clear();
    const std::uint64_t used_before = cache.state().used_bytes();
    cache.admit(model, size_bytes, evicted_);
    // Unloads take time only where time is modelled (a pure cache mode has no clock).
    const bool timed = config_.queueing;
    for (ModelId victim : evicted_) {
      where_[victim] = kNoWorker;
      if (timed) unload_s += latencies_.draw(hot_[victim].unload_s);
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
        while (only.cache.state().free_bytes() + only.cache.state().evictable_bytes() < size_bytes) {
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
          const std::uint64_t room =
              state.free_bytes() + (pass == 0 ? 0 : state.evictable_bytes());
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

  // Every worker is too pinned: move the decision to the next completion anywhere.
  void wait_for_earliest_completion(double& decision_s) {
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

  const ModelTable& models_;
  const CompactTrace& trace_;
  const SimConfig& config_;
  OutcomeSink* sink_;
  Latencies latencies_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<HotModel> hot_;
  std::vector<std::uint32_t> where_;  // worker holding each model, or kNoWorker
  std::vector<double> ready_at_s_;       // --parallel-load: when each model's last load ends
  std::vector<ModelId> evicted_;
  std::uint64_t used_bytes_ = 0;
  double decision_floor_s_ = 0.0;
  SimSummary summary_;
  LatencyHistogram histogram_;
};

}  // namespace

SimSummary simulate(const ModelTable& models, const CompactTrace& trace, const SimConfig& config,
                    OutcomeSink* sink) {
  Simulation simulation(models, trace, config, sink);
  return simulation.run();
}

}  // namespace brulee::sim
