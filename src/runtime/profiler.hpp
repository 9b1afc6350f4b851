#pragma once
// The profiler behind `brulee profile` (docs/zoo.md): the paper's measurement loop. For each of
// `runs` rounds, every model in a fresh random order is loaded (load + one warm-up inference,
// timed by the backend), run `execs_per_load` times on zeros, and unloaded (timed until the
// memory is handed back). Sizes are the backend's measured bytes (median over rounds).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/backend.hpp"
#include "runtime/repository.hpp"

namespace brulee::runtime {

struct LatencyStats {
  double mean_s = 0;
  double p50_s = 0;
  double p95_s = 0;
  std::uint64_t samples = 0;
};

// Mean and linearly interpolated percentiles; all zero for no samples.
LatencyStats summarize(std::vector<double> samples_s);

struct ModelProfile {
  std::string name;
  std::string backend;
  std::uint64_t file_bytes = 0;
  std::uint64_t resident_bytes = 0;  // median of the measured bytes over rounds
  LatencyStats load;
  LatencyStats exec;
  LatencyStats unload;
  std::string error;  // non-empty: the model failed (library's reason); no figures
};

struct ProfileOptions {
  std::uint64_t runs = 3;
  std::uint64_t execs_per_load = 3;
  std::uint64_t seed = 1;
  LoadOptions load;
  std::vector<std::string> models;  // empty = every model of the repository
  std::function<void(const std::string&)> progress;  // one line per step, optional
};

// Profiles the models; a model that fails is reported in its ModelProfile::error and dropped
// from later rounds. Throws UsageError on an unknown model name or runs == 0.
std::vector<ModelProfile> profile_models(const Repository& repository, const ProfileOptions& options);

}  // namespace brulee::runtime
