#pragma once
// A progress line on stderr for long commands (simulate, the workload converters): redrawn in
// place at most every kInterval, erased when done. Only when stderr is a terminal: otherwise it
// prints nothing at all, so logs and pipes see exactly what they saw before.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/seconds.hpp"

namespace brulee::cli {

class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kInterval{250};

  explicit ProgressLine(std::string label)
      : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}
  ~ProgressLine() { finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  double elapsed_s() const { return seconds_since(start_); }

  // `done` of `total` items (total 0: unknown), with a rate and, when the total is known, the
  // time left. Throttled: cheap to call often.
  void update(std::uint64_t done, std::uint64_t total, const char* unit = "requests") {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (shown_ && now - last_ < kInterval) return;
    last_ = now;
    const double elapsed = seconds_between(start_, now);
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    std::string text = label_ + ": " + count(done);
    if (total > 0) text += " of " + count(total);
    text += std::string(" ") + unit + ", " + count(static_cast<std::uint64_t>(rate)) + "/s";
    if (total > 0 && rate > 0 && done <= total)
      text += ", " + clock(static_cast<double>(total - done) / rate) + " left";
    show(text);
  }
  // A line of the caller's own.
  void show(const std::string& text) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r%s\033[K", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  // Erases the line (once shown).
  void finish() {
    if (!enabled_ || !shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

  // 1234567 -> "1.23 M", 45678 -> "45.7 k"; below 10,000 as is.
  static std::string count(std::uint64_t n) {
    char buffer[32];
    const auto x = static_cast<double>(n);
    if (n < 10'000) {
      std::snprintf(buffer, sizeof buffer, "%llu", static_cast<unsigned long long>(n));
    } else if (n < 1'000'000) {
      std::snprintf(buffer, sizeof buffer, "%.1f k", x / 1e3);
    } else if (n < 1'000'000'000ULL) {
      std::snprintf(buffer, sizeof buffer, "%.2f M", x / 1e6);
    } else {
      std::snprintf(buffer, sizeof buffer, "%.2f G", x / 1e9);
    }
    return buffer;
  }
  // Seconds as m:ss or h:mm:ss.
  static std::string clock(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    char buffer[32];
    if (s >= 3600) {
      std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    } else {
      std::snprintf(buffer, sizeof buffer, "%lld:%02lld", s / 60, s % 60);
    }
    return buffer;
  }

 private:
  std::string label_;
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_;
  Clock::time_point last_{};
};

}  // namespace brulee::cli
