#pragma once
// Seconds between steady-clock instants, as a double: the one conversion every timing site uses
// (runtime, server, CLI, benchmarks). It sits in core only because every layer links core; the
// policies and the rest of core read no clock.
#include <chrono>

namespace brulee {

inline double seconds_between(std::chrono::steady_clock::time_point from,
                              std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return seconds_between(start, std::chrono::steady_clock::now());
}

// The other way: seconds as a double to a steady-clock duration (deadlines, timers).
inline std::chrono::steady_clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(seconds));
}

}  // namespace brulee
