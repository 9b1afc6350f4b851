#pragma once
// The profiler behind `brulee profile` (docs/zoo.md, docs/fidelity.md): the paper's measurement
// loop. For each of `runs` rounds, every model in a fresh random order is loaded into memory the
// process does not hold (freed memory handed back first: "first load"; load + one warm-up
// inference, timed by the backend), run once (untimed) and then `execs_per_load` times on zeros,
// and once more under a PeakMeter (its workspace). A copy of the model is then loaded and
// dropped, the model unloaded (timed) and loaded once more, alone, into the memory it freed:
// "load", what a cache that keeps swapping models pays (a load into fresh pages costs up to 3x
// that on a VM: docs/fidelity.md), `loads_per_turn` times (each more after its own unload), and
// the first inference after the last is timed: "first exec". With
// `interference`, a partner
// (the next model of the round's order, so each model is a partner once a round; the model
// itself when it is alone) is then loaded on another thread while the reloaded model (run out of
// its warm-up, then timed alone) runs inferences back to back: the partner's load is its "load
// beside exec", the inferences during it over those timed alone give this model's "exec beside
// load" (a partner loaded and dropped before it makes the
// allocator hold its memory, as a serving cache's does). In a server an inference meets other
// models' loads, not its own. Then the reloaded model's inferences each after another model's
// (the newest kept loaded, or a copy of the partner) and an idle second, against back to back:
// its "cold exec", as a serving cache runs most of its hits.
// Every load and unload runs on one loader thread and the inferences on the calling thread, as in
// the server. Sizes are the backend's measured bytes (median over rounds). Memory beyond the
// resting size (docs/formats.md, "Memory fields"): each load runs under a PeakMeter (after freed
// memory is handed back), giving the load's peak growth of the process; after the timed inferences
// one more inference runs under a PeakMeter, giving its workspace. Both are the largest over rounds
// (a budget needs the worst case, not the typical one).
#include <cstdint>
#include <functional>
#include <memory>
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
  std::uint64_t resident_bytes = 0;   // median of the measured bytes over rounds
  std::uint64_t load_peak_bytes = 0;  // largest peak growth during a load (includes the resting)
  std::uint64_t workspace_bytes = 0;  // largest peak growth during one steady inference
  LatencyStats load;                  // into memory the allocator holds (freed by an unload)
  LatencyStats first_load;            // into memory the process does not hold (fresh pages)
  LatencyStats exec;                  // steady inferences (not the first after a load)
  LatencyStats unload;
  // The first inference after each round's warm reload (after the load's own warm-up
  // inference): the first after a load into memory an unload freed.
  LatencyStats first_exec;
  // Per round: the exec figure times that round's slowdown, the mean inference while a
  // partner's load ran over the mean of execs_per_load (at least 3) timed alone just before,
  // the reloaded copy first run out of its warm-up (1 + execs_per_load inferences).
  LatencyStats exec_beside_load;
  LatencyStats load_beside_exec;  // per round: a load while a partner's inferences ran throughout
  // Per round: the exec figure times that round's ratio of inferences each run after another
  // model's (one kept loaded, or a copy of the partner) and an idle pause, over the same copy's
  // back to back, both timed after the interference measurement.
  LatencyStats exec_cold;
  std::string error;  // non-empty: the model failed (library's reason); no figures
};

struct ProfileOptions {
  std::uint64_t runs = 3;
  std::uint64_t execs_per_load = 3;
  // Timed warm reloads per model a round: the first after a victim's unload (with a crowd), each
  // more after the model's own unload (timed).
  std::uint64_t loads_per_turn = 1;
  std::uint64_t seed = 1;
  bool interference = true;  // measure exec beside a load, load beside execs, and cold exec
  // The idle pause before each cold inference (docs/fidelity.md, "Inferences after a pause");
  // 0 = cold inferences not measured.
  double cold_pause_s = 1.0;
  // Models kept loaded after their turn (the oldest dropped first, and once there are `crowd`
  // of them, just before the timed warm reload), so that the reload runs among other models and
  // after a victim's unload, as in a serving cache; 0 = none.
  std::size_t crowd = 0;
  // CPUs of the thread that runs the inferences (the caller's, for the profile's duration) and
  // of the loader thread, as `serve --exec-cpus/--load-cpus` place the server's; empty = any.
  std::vector<int> exec_cpus, load_cpus;
  LoadOptions load;
  std::vector<std::string> models;                   // empty = every model of the repository
  std::function<void(const std::string&)> progress;  // one line per step, optional
};

// Inferences timed on one thread while a load ran on another, over [load_start_s, load_end_s]:
// the mean inference time during the load, each inference weighted by the share of it that
// overlapped the load (sum of overlaps / sum of overlap shares). 0 if none overlapped.
struct TimedInterval {
  double start_s = 0.0;
  double end_s = 0.0;
};
double mean_during(const std::vector<TimedInterval>& inferences, double load_start_s,
                   double load_end_s);

// What the profiler is given for one model: its identity, and how to load a copy of it.
struct ProfileSubject {
  std::string name;
  std::string backend;
  std::uint64_t file_bytes = 0;
  // Loads a fresh copy (thread-safe: called from a second thread for the interference round).
  std::function<std::unique_ptr<LoadedModel>()> load;
};

// The measurement loop over any models (a repository's, or a test's fake backend).
std::vector<ModelProfile> profile_subjects(const std::vector<ProfileSubject>& subjects,
                                           const ProfileOptions& options);

// Profiles the models; a model that fails is reported in its ModelProfile::error and dropped
// from later rounds. Throws UsageError on an unknown model name or runs == 0.
std::vector<ModelProfile> profile_models(const Repository& repository,
                                         const ProfileOptions& options);

}  // namespace brulee::runtime
