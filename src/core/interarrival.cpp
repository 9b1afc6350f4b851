#include "core/interarrival.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace brulee {
namespace {
constexpr std::array<double, InterArrivalHistory::kBins + 1> make_edges() {
  std::array<double, InterArrivalHistory::kBins + 1> edges{};
  double edge = InterArrivalHistory::kFirstEdgeS;
  for (auto& e : edges) {
    e = edge;
    edge *= 4;
  }
  edges[0] = 0.0;
  return edges;
}
constexpr auto kEdges = make_edges();  // kEdges[k] = lower edge of bin k, kEdges[16] = top
}  // namespace

int InterArrivalHistory::bin_of(double gap_s) {
  // floor(log2(gap / first edge)) / 2, from the double's exponent (no log call).
  const double scaled = gap_s * (1.0 / kFirstEdgeS);
  if (!(scaled >= 4.0)) return 0;
  if (scaled >= 4294967296.0) return kBins - 1;  // 4^16
  const auto exponent =
      static_cast<int>((std::bit_cast<std::uint64_t>(scaled) >> 52) & 0x7ff) - 1023;
  return std::min(exponent / 2, kBins - 1);
}

double InterArrivalHistory::lower_edge_s(int bin) { return kEdges[static_cast<std::size_t>(bin)]; }
double InterArrivalHistory::bin_middle_s(int bin) {
  return bin == 0 ? 0.5 * kEdges[1] : 2.0 * kEdges[static_cast<std::size_t>(bin)];
}

void InterArrivalHistory::halve() {
  std::uint32_t total = 0;
  for (auto& n : bins) {
    n = static_cast<std::uint8_t>((n + 1) / 2);
    total += n;
  }
  gaps = static_cast<std::uint16_t>(total);
}

double InterArrivalHistory::periodic_remaining_s(double idle_s) const {
  if (!periodic()) return -1.0;
  const double period = gap_mean;
  const double spread = gap_spread;
  if (idle_s > period + std::max(kPeriodicLateSpreads * spread, kPeriodicLateShare * period)) {
    return -1.0;  // a firing was missed: not periodic now
  }
  return std::max({period - idle_s, spread, kFloorS});
}

double InterArrivalHistory::remaining_s(double now_s, double origin_s) const {
  if (count == 0) return std::numeric_limits<double>::infinity();
  if (const double periodic = periodic_remaining_s(now_s > last_s ? now_s - last_s : 0.0);
      periodic > 0) [[unlikely]] {
    return periodic;
  }
  const double span = std::max(now_s - origin_s, kFloorS);
  return std::max(span / count * shape_factor(now_s), kFloorS);
}

double InterArrivalHistory::shape_factor(double now_s, bool gated) const {
  if (gated && looks_memoryless()) return 1.0;
  const double idle = now_s > last_s ? now_s - last_s : 0.0;
  // Just requested (or never gapped): the histogram's shape is 1, the rate says it all.
  if (gaps == 0 || idle == 0.0) return 1.0;
  // One pass: the mean gap (all bins) and the mean remaining gap given idle > e (bins from e's).
  const int first = bin_of(idle);
  double all_sum = 0.0;
  double mass = 0.0;
  double sum = 0.0;
  for (int k = 0; k < kBins; ++k) {
    const unsigned n = bins[static_cast<std::size_t>(k)];
    if (n == 0) continue;
    const double lower = kEdges[static_cast<std::size_t>(k)];
    const double upper = kEdges[static_cast<std::size_t>(k) + 1];
    const double middle = bin_middle_s(k);
    all_sum += n * middle;
    if (k < first) continue;
    const double at = k == first ? 0.5 * (std::max(idle, lower) + upper) : middle;
    mass += n;
    sum += n * (at - idle);
  }
  if (mass == 0) return 1.0;
  const double weight = mass / (mass + kPriorWeight);
  return weight * (sum / mass) / (all_sum / gaps) + (1.0 - weight);
}

// Whether the histogram is what exponential (memoryless) gaps would give, by two moments of it,
// each near its exponential value (a margin for where the mean falls among the bin edges: both
// values were simulated over means from 0.3 s to 5,000 s; and a multiple of the sampling error):
// - the spread of the bin index (the log of the gap): an exponential gap's log has a standard
//   deviation of pi / sqrt(6) = 1.28 e-folds whatever its mean; a bin is ln 4 = 1.39 wide, so
//   the index varies by 0.82-0.94. Regular gaps spread less, gaps of two scales more;
// - the squared coefficient of variation of the gaps at their bins' middles: 1 for exponential
//   gaps, 1.22-1.40 at the middles. A burst followed by a long idle time (most gaps short, a few
//   very long) barely moves the first and multiplies the second.
// When both say exponential, the shape is noise: a Poisson model's remaining time is its mean gap
// whatever its idle time.
bool InterArrivalHistory::looks_memoryless() const {
  if (gaps < 2) return true;
  double index_sum = 0.0;
  double index_squares = 0.0;
  double middle_sum = 0.0;
  double middle_squares = 0.0;
  for (int k = 0; k < kBins; ++k) {
    const unsigned count_k = bins[static_cast<std::size_t>(k)];
    if (count_k == 0) continue;
    const double middle = bin_middle_s(k);
    index_sum += static_cast<double>(count_k) * k;
    index_squares += static_cast<double>(count_k) * k * k;
    middle_sum += count_k * middle;
    middle_squares += count_k * middle * middle;
  }
  const double n = gaps;
  const double index_mean = index_sum / n;
  const double index_variance = (index_squares - n * index_mean * index_mean) / (n - 1);
  // The log of an exponential gap has excess kurtosis 2.4; an exponential gap, 6.
  constexpr double kIndexVariance = 0.88;
  const double index_error = 0.94 * std::sqrt(2.0 / (n - 1) + 2.4 / n);
  if (std::fabs(index_variance - kIndexVariance) > 0.06 + 3.0 * index_error) return false;
  const double mean = middle_sum / n;
  const double cv2 = (middle_squares / n - mean * mean) / (mean * mean);
  // A wide band: halving keeps a bin of one gap at one, so a long window's rare long gaps weigh
  // more than they should. 3 x sqrt(8 / n) took Poisson models of docs/results.md's seed 2 for
  // bursty; with this band 200 simulated Poisson histograms of 255 gaps all pass, and the
  // burst-then-idle histograms of the tests (CV^2 of 20 and more) all fail.
  constexpr double kCv2 = 1.31;
  return std::fabs(cv2 - kCv2) <= 0.09 + 4.0 * kCv2 * std::sqrt(12.0 / n);
}

double InterArrivalHistory::share_within_s(double window_s) const {
  const InterArrivalHistory& h = *this;
  if (h.gaps == 0) return 0.0;
  const int last = bin_of(window_s);
  double within = 0.0;
  for (int k = 0; k < last; ++k) within += h.bins[static_cast<std::size_t>(k)];
  const double lower = kEdges[static_cast<std::size_t>(last)];
  const double upper = kEdges[static_cast<std::size_t>(last) + 1];
  if (last == kBins - 1 || window_s >= upper) {
    within += h.bins[static_cast<std::size_t>(last)];
  } else if (window_s > lower) {
    // The straddled bin in proportion to the overlap (linear: cheap, and within a bin's width).
    const double part = (window_s - lower) / (upper - lower);
    within += part * h.bins[static_cast<std::size_t>(last)];
  }
  return within / h.gaps;
}

double predicted_miss_cost(const InterArrivalHistory& history, double load_latency_s, double cost) {
  constexpr double kMaxFollowers = 64.0;
  const double q = history.share_within_s(load_latency_s);
  const double followers =
      q >= kMaxFollowers / (1.0 + kMaxFollowers) ? kMaxFollowers : q / (1.0 - q);
  return cost * (1.0 + 0.5 * followers);
}

double relative_utility(const InterArrivalHistory& history, double origin_s, double load_latency_s,
                        double cost, double size_bytes, double now_s) {
  const double miss_cost = predicted_miss_cost(history, load_latency_s, cost);
  const double size = std::max(1.0, size_bytes);
  // A periodic model: U (now - origin) with U from the time to its next firing.
  if (const double periodic =
          history.periodic_remaining_s(now_s > history.last_s ? now_s - history.last_s : 0.0);
      periodic > 0) [[unlikely]] {
    return miss_cost * std::max(now_s - origin_s, InterArrivalHistory::kFloorS) / (size * periodic);
  }
  // Otherwise remaining = (span / count) shape, and the span cancels.
  return miss_cost * history.count / (size * history.shape_factor(now_s, true));
}

double predicted_utility(const InterArrivalHistory& history, double origin_s, double load_latency_s,
                         double cost, double size_bytes, double now_s) {
  return predicted_miss_cost(history, load_latency_s, cost) /
         (std::max(1.0, size_bytes) * history.remaining_s(now_s, origin_s));
}

}  // namespace brulee
