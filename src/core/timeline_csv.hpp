#pragma once
// The per-request columns both `brulee simulate --requests-out` and `brulee replay --out` write
// after their `index,model` columns, so the two files join on the request index
// (docs/fidelity.md). Times are seconds on the writer's clock.
#include <cmath>
#include <cstddef>
#include <cstdio>

#include "core/timeline.hpp"

namespace brulee {

inline constexpr const char* kTimelineCsvColumns =
    "hit,arrival_s,load_start_s,ready_s,start_s,end_s,load_delay_s,queue_delay_s,exec_s,latency_s";

// Writes those columns for one request into `out` (no newline); an absent load start is an
// empty field. Returns what snprintf returns.
inline int format_timeline_csv(char* out, std::size_t size, const RequestTimeline& t,
                               const RequestDelays& d) {
  char load_start[32] = "";
  if (!std::isnan(t.load_start_s)) {
    std::snprintf(load_start, sizeof load_start, "%.9g", t.load_start_s);
  }
  return std::snprintf(out, size, "%d,%.9g,%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g", t.hit ? 1 : 0,
                       t.arrival_s, load_start, t.ready_s, t.start_s, t.end_s, d.load_delay_s,
                       d.queue_delay_s, d.exec_s, d.latency_s);
}

}  // namespace brulee
