#pragma once
// A fixed-size log-bucketed histogram of latencies (seconds): one add is a bit shift and an
// increment, nothing allocated. Buckets are the IEEE-754 exponent plus the top kMantissaBits
// mantissa bits, so a bucket spans a relative width of 2^-kMantissaBits; quantiles are reported
// at the bucket's midpoint (relative error <= 2^-(kMantissaBits+1), i.e. 0.2%), clamped to the
// exact minimum and maximum. Values below 2^kMinExponent (1 ns) count as 0.
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace brulee::sim {

class LatencyHistogram {
 public:
  static constexpr int kMantissaBits = 8;
  static constexpr int kMinExponent = -30;  // 2^-30 s ~ 0.93 ns
  static constexpr int kMaxExponent = 24;   // 2^24 s ~ 194 days
  static constexpr std::size_t kBuckets = static_cast<std::size_t>(kMaxExponent - kMinExponent)
                                          << kMantissaBits;

  LatencyHistogram() : counts_(kBuckets + 2, 0) {}

  // The bucket's count is incremented at the next add (or read): its cache line is prefetched
  // now, so the random access overlaps the caller's next request instead of stalling this one.
  void add(double seconds) {
    ++count_;
    sum_ += seconds;
    if (seconds < min_) min_ = seconds;
    if (seconds > max_) max_ = seconds;
    const std::size_t bucket = bucket_of(seconds);
    __builtin_prefetch(&counts_[bucket], 1);
    ++counts_[pending_];
    pending_ = bucket;
  }
  void merge(
      const LatencyHistogram& other);  // throws std::overflow_error if a bucket would pass 2^32 - 1

  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  double min() const { return count_ ? min_ : 0.0; }
  double max() const { return count_ ? max_ : 0.0; }
  // The q-quantile (0 <= q <= 1): the smallest recorded bucket whose cumulative count reaches
  // ceil(q * count), at its midpoint. 0 when empty.
  double quantile(double q) const;
  // `points` (latency, cumulative fraction) pairs, one per non-empty bucket, thinned to at most
  // max_points by keeping evenly spaced fractions (the last point is always kept).
  std::vector<std::pair<double, double>> cdf(std::size_t max_points) const;

 private:
  static std::size_t bucket_of(double seconds) {
    constexpr std::uint64_t kBase = static_cast<std::uint64_t>(1023 + kMinExponent)
                                    << kMantissaBits;
    if (!(seconds >= 0x1.0p-30)) return 0;  // also NaN and negatives
    const std::uint64_t key = std::bit_cast<std::uint64_t>(seconds) >> (52 - kMantissaBits);
    const std::uint64_t index = key - kBase + 1;
    return index < kBuckets ? static_cast<std::size_t>(index) : kBuckets;
  }
  static double midpoint_of(std::size_t bucket);

  // Applies the deferred increment. Const: what the histogram holds does not change (one owner
  // thread; not for concurrent readers).
  void settle() const {
    ++counts_[pending_];
    pending_ = kScratch;
  }
  static constexpr std::size_t kScratch = kBuckets + 1;  // a slot no reader looks at

  // 32-bit counts: a run has at most 2^32 - 2 requests (the trace limit), and half the bytes keep
  // more of the table in cache (the increment is a random access once per request).
  mutable std::vector<std::uint32_t> counts_;
  mutable std::size_t pending_ = kScratch;  // bucket of the last add, not yet counted
  std::uint64_t count_ = 0;
  double sum_ = 0.0;
  double min_ = 1e300;
  double max_ = -1e300;
};

}  // namespace brulee::sim
