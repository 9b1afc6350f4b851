#pragma once
// One request's timeline, recorded the same way by the simulator (virtual time) and the server
// (real time), and the one place its delays are derived from (docs/fidelity.md). Times are in
// seconds on the recorder's own clock; only differences matter.
#include <algorithm>
#include <cmath>
#include <limits>

namespace brulee {

struct RequestTimeline {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

  double arrival_s = 0.0;
  // When the work of the load this request waited on began (unloading its victims, then
  // loading). kNone for a hit, or a miss that waited on no load of its own model.
  double load_start_s = kNone;
  // When the request's model was resident (the load it waited on finished); arrival for a hit.
  double ready_s = 0.0;
  double start_s = 0.0;  // execution began
  double end_s = 0.0;    // execution ended
  bool hit = false;
};

struct RequestDelays {
  double load_delay_s = 0.0;   // the part of the wait spent in this model's load work
  double queue_delay_s = 0.0;  // all other waiting: for room, for the loader, behind requests
  double exec_s = 0.0;
  double latency_s = 0.0;  // arrival -> end = load_delay + queue_delay + exec
};

// The definitions, shared: load delay is the overlap of [arrival, start] with the load's work
// [load_start, ready]; queue delay is the rest of arrival -> start.
inline RequestDelays derive_delays(const RequestTimeline& t) {
  RequestDelays d;
  const double waited_s = std::max(0.0, t.start_s - t.arrival_s);
  if (!t.hit && !std::isnan(t.load_start_s)) {
    const double from_s = std::max(t.arrival_s, t.load_start_s);
    const double to_s = std::min(t.ready_s, t.start_s);
    d.load_delay_s = std::clamp(to_s - from_s, 0.0, waited_s);
  }
  d.queue_delay_s = waited_s - d.load_delay_s;
  d.exec_s = std::max(0.0, t.end_s - t.start_s);
  d.latency_s = waited_s + d.exec_s;
  return d;
}

}  // namespace brulee
