#include "sim/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace brulee::sim {

void LatencyHistogram::merge(const LatencyHistogram& other) {
  settle();
  other.settle();
  for (std::size_t b = 0; b < kScratch; ++b) {
    if (other.counts_[b] > std::numeric_limits<std::uint32_t>::max() - counts_[b]) {
      throw std::overflow_error(
          "latency histogram: a bucket would hold more than 2^32 - 1 requests");
    }
  }
  for (std::size_t b = 0; b < kScratch; ++b) counts_[b] += other.counts_[b];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double LatencyHistogram::midpoint_of(std::size_t bucket) {
  if (bucket == 0) return 0.0;
  constexpr std::uint64_t kBase = static_cast<std::uint64_t>(1023 + kMinExponent) << kMantissaBits;
  const std::uint64_t key = bucket - 1 + kBase;
  const double low = std::bit_cast<double>(key << (52 - kMantissaBits));
  const double high = std::bit_cast<double>((key + 1) << (52 - kMantissaBits));
  return (low + high) / 2;
}

double LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0.0;
  settle();
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank == 1) return min_;  // the extremes are known exactly
  if (rank >= count_) return max_;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < kScratch; ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      if (b == kBuckets) return max_;
      return std::clamp(midpoint_of(b), min(), max());
    }
  }
  return max_;
}

std::vector<std::pair<double, double>> LatencyHistogram::cdf(std::size_t max_points) const {
  std::vector<std::pair<double, double>> points;
  if (count_ == 0 || max_points == 0) return points;
  settle();
  const double total = static_cast<double>(count_);
  std::uint64_t seen = 0;
  double next_fraction = 0.0;
  const double step = 1.0 / static_cast<double>(max_points);
  for (std::size_t b = 0; b < kScratch; ++b) {
    if (counts_[b] == 0) continue;
    seen += counts_[b];
    const double fraction = static_cast<double>(seen) / total;
    if (fraction + 1e-12 < next_fraction && seen != count_) continue;
    const double latency = b == kBuckets ? max_ : std::clamp(midpoint_of(b), min(), max());
    points.emplace_back(latency, fraction);
    next_fraction = fraction + step;
  }
  return points;
}

}  // namespace brulee::sim
