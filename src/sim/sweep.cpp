#include "sim/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <thread>

#include "core/error.hpp"
#include "sim/offline_bound.hpp"

namespace brulee::sim {

std::vector<SimSummary> run_sweep(const ModelTable& models, const CompactTrace& trace,
                                  const SweepSpec& spec) {
  if (spec.policies.empty()) throw UsageError("no policy to simulate");
  if (spec.memory_bytes.empty()) throw UsageError("no memory size to simulate");
  for (const auto& policy : spec.policies) find_policy(policy);  // fail early on a bad name
  const std::size_t runs = spec.policies.size() * spec.memory_bytes.size();
  std::vector<SimSummary> results(runs);
  std::vector<std::exception_ptr> errors(runs);
  unsigned threads = spec.threads ? spec.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(runs) + 1));

  // Runs start smallest memory first: those miss most and take longest, so the short runs fill
  // in at the end and no core waits long on a late big one. Results keep their places.
  std::vector<std::size_t> order(runs);
  for (std::size_t run = 0; run < runs; ++run) order[run] = run;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return spec.memory_bytes[a % spec.memory_bytes.size()] <
           spec.memory_bytes[b % spec.memory_bytes.size()];
  });
  // The bound is computed by one thread while the others simulate (job index 0).
  std::optional<OfflineBound> bound;
  std::exception_ptr bound_error;
  std::atomic<std::size_t> next_job{0};
  const std::size_t jobs = runs + (spec.bound ? 1 : 0);
  auto worker = [&] {
    for (;;) {
      const std::size_t job = next_job.fetch_add(1);
      if (job >= jobs) return;
      if (spec.bound && job == 0) {
        try {
          bound.emplace(models, trace);
        } catch (...) {
          bound_error = std::current_exception();
        }
        continue;
      }
      const std::size_t run = order[spec.bound ? job - 1 : job];
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
  if (bound_error) std::rethrow_exception(bound_error);
  if (bound) {
    for (auto& result : results) {
      result.bound_load_cost_s = bound->lower_bound_s(result.memory_bytes * result.workers);
    }
  }
  return results;
}

}  // namespace brulee::sim
