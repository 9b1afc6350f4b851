#include "sim/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <thread>

#include "core/error.hpp"
#include "sim/flow_bound.hpp"
#include "sim/offline_bound.hpp"

namespace brulee::sim {

BoundKind parse_bound(const std::string& text) {
  if (text == "flow") return BoundKind::kFlow;
  if (text == "interval") return BoundKind::kInterval;
  if (text == "none") return BoundKind::kNone;
  throw UsageError("unknown bound '" + text + "' (flow, interval or none)");
}

BoundKind default_bound(std::uint64_t requests) {
  return requests <= kFlowBoundDefaultMaxRequests ? BoundKind::kFlow : BoundKind::kInterval;
}

BoundValue compute_bound(BoundKind kind, const ModelTable& models, const CompactTrace& trace,
                         std::uint64_t total_memory_bytes) {
  BoundValue value;
  switch (kind) {
    case BoundKind::kInterval:
      value.lower_s = OfflineBound(models, trace).lower_bound_s(total_memory_bytes);
      break;
    case BoundKind::kFlow: {
      const FlowBoundResult result = FlowBound(models, trace).solve(total_memory_bytes);
      value.lower_s = result.bound_s;
      value.schedule_s = result.schedule_s;
      break;
    }
    case BoundKind::kNone:
      break;
  }
  return value;
}

std::vector<SimSummary> run_sweep(const ModelTable& models, const CompactTrace& trace,
                                  const SweepSpec& spec) {
  if (spec.policies.empty()) throw UsageError("no policy to simulate");
  if (spec.memory_bytes.empty()) throw UsageError("no memory size to simulate");
  for (const auto& policy : spec.policies) find_policy(policy);  // fail early on a bad name
  const std::size_t runs = spec.policies.size() * spec.memory_bytes.size();
  std::vector<SimSummary> results(runs);
  std::vector<std::exception_ptr> errors(runs);
  unsigned threads = spec.threads ? spec.threads : std::thread::hardware_concurrency();

  // Runs start smallest memory first: those miss most and take longest, so the short runs fill
  // in at the end and no core waits long on a late big one. Results keep their places.
  std::vector<std::size_t> order(runs);
  for (std::size_t run = 0; run < runs; ++run) order[run] = run;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return spec.memory_bytes[a % spec.memory_bytes.size()] <
           spec.memory_bytes[b % spec.memory_bytes.size()];
  });
  // Bound jobs come first, run by threads while the others simulate: the interval bound is one
  // job (one sort serves every memory size); the flow bound is one solve per memory size.
  std::optional<OfflineBound> interval;
  std::optional<FlowBound> flow;
  std::vector<FlowBoundResult> flow_values;
  std::size_t bound_jobs = 0;
  if (spec.bound == BoundKind::kInterval) {
    bound_jobs = 1;
  } else if (spec.bound == BoundKind::kFlow) {
    flow.emplace(models, trace);  // O(N) scan; the solves are the jobs
    bound_jobs = spec.memory_bytes.size();
    flow_values.resize(bound_jobs);
  }
  std::vector<std::exception_ptr> bound_errors(bound_jobs);
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(runs + bound_jobs)));
  std::atomic<std::size_t> next_job{0};
  const std::size_t jobs = runs + bound_jobs;
  auto worker = [&] {
    for (;;) {
      const std::size_t job = next_job.fetch_add(1);
      if (job >= jobs) return;
      if (job < bound_jobs) {
        try {
          if (spec.bound == BoundKind::kInterval) {
            interval.emplace(models, trace);
          } else {
            flow_values[job] = flow->solve(spec.memory_bytes[job] * spec.base.workers);
          }
        } catch (...) {
          bound_errors[job] = std::current_exception();
        }
        continue;
      }
      const std::size_t run = order[job - bound_jobs];
      SimConfig config = spec.base;
      config.policy = spec.policies[run / spec.memory_bytes.size()];
      config.memory_bytes = spec.memory_bytes[run % spec.memory_bytes.size()];
      try {
        results[run] = simulate(models, trace, config);
      } catch (...) {
        errors[run] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& thread : pool) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  for (const auto& error : bound_errors) {
    if (error) std::rethrow_exception(error);
  }
  for (std::size_t run = 0; run < runs; ++run) {
    SimSummary& result = results[run];
    if (spec.bound == BoundKind::kInterval) {
      result.bound_load_cost_s = interval->lower_bound_s(result.memory_bytes * result.workers);
    } else if (spec.bound == BoundKind::kFlow) {
      const FlowBoundResult& flow_value = flow_values[run % spec.memory_bytes.size()];
      result.bound_load_cost_s = flow_value.bound_s;
      result.schedule_load_cost_s = flow_value.schedule_s;
    }
    result.bound = spec.bound;
  }
  return results;
}

}  // namespace brulee::sim
