#pragma once
// How a model's loading and its inference disturb each other when both run at once on one
// machine, what its first inference after a load costs, what one after another model's and a pause
// costs, and what a load into memory the process does not hold yet costs (fresh pages, each faulted
// in): measured by `brulee profile`, kept in the catalog, used by the simulator's --parallel-load
// mode (docs/fidelity.md).
#include <algorithm>

namespace brulee {

struct ModelInterference {
  // Zero means "not measured": the factors below are then 1 and the extra cost 0.
  double exec_beside_load_s = 0.0;  // mean inference while a load runs on another thread
  double load_beside_exec_s = 0.0;  // mean load while inferences run on another thread
  double first_exec_s = 0.0;        // the first inference after a load (after its warm-up)
  double first_load_s = 0.0;        // a load into memory the process does not hold yet
  double exec_cold_s = 0.0;         // after another model's inference and an idle pause
  double exec_cold_pause_s = 0.0;   // that pause (0: not recorded; the extra is then charged whole)

  bool measured() const {
    return exec_beside_load_s > 0.0 || load_beside_exec_s > 0.0 || first_exec_s > 0.0 ||
           first_load_s > 0.0 || exec_cold_s > 0.0;
  }
  // Slowdowns (>= 1 in practice, never below 0) relative to the model's lone figures.
  double exec_factor(double exec_alone_s) const {
    return exec_beside_load_s > 0.0 && exec_alone_s > 0.0 ? exec_beside_load_s / exec_alone_s : 1.0;
  }
  double load_factor(double load_alone_s) const {
    return load_beside_exec_s > 0.0 && load_alone_s > 0.0 ? load_beside_exec_s / load_alone_s : 1.0;
  }
  // What a load into fresh memory costs beyond one into memory the allocator holds.
  double first_load_extra_s(double load_s) const {
    return first_load_s > 0.0 ? std::max(0.0, first_load_s - load_s) : 0.0;
  }
  // What an inference after another model's (and idle time) costs beyond one after its own.
  double cold_extra_s(double exec_alone_s) const {
    return exec_cold_s > 0.0 ? std::max(0.0, exec_cold_s - exec_alone_s) : 0.0;
  }
  // The same after `idle_s` of idle execution lane: the extra grows with the idle time up to the
  // profile's pause (the servers' hits cost about nothing more after under 0.1 s of idle lane,
  // and about the profile's extra after a second: docs/fidelity.md, "A cold inference is an
  // idle one"). Without a recorded pause, the whole extra.
  double cold_extra_s(double exec_alone_s, double idle_s) const {
    const double extra = cold_extra_s(exec_alone_s);
    if (exec_cold_pause_s <= 0.0) return extra;
    return extra * std::clamp(idle_s / exec_cold_pause_s, 0.0, 1.0);
  }
  // What the first inference after a load costs beyond a steady one.
  double first_exec_extra_s(double exec_alone_s) const {
    return first_exec_s > 0.0 ? std::max(0.0, first_exec_s - exec_alone_s) : 0.0;
  }
};

}  // namespace brulee
