#pragma once
// A per-model inter-arrival predictor: how long until a model's next request, learnt online from
// the idle times between its past requests. Shared by the `predictive` policy and by prefetching
// (the simulator's, and the server's when it follows docs/prefetch.md). No I/O, threads or
// clocks: times are passed in (seconds, non-decreasing per model).
//
// Each model keeps a histogram of its idle times (gaps between consecutive requests) in 16
// log-spaced bins, a factor 4 wide from 1/64 s (bin 0 also holds shorter gaps, bin 15 longer
// ones), as the keep-alive policy of Shahrad et al., "Serverless in the Wild", ATC 2020, does
// per application. When the histogram holds kWindow gaps every bin is halved (rounding up), so
// it follows a model whose pattern changes. The prediction, at `now` with e = now - last request:
//   prior = span / count: the model's mean gap over everything seen since the first request of
//           any model (its long-run rate, the quantity CremeBrulee's count ranks by);
//   shape = (expected remaining idle time given idle > e) / (mean gap), both from the histogram
//           (a bin's gaps sit at its geometric middle; e's own bin at the middle of [e, upper)),
//           so the bins' coarseness cancels out: for a memoryless (Poisson) model shape ~ 1;
//   remaining = prior * (w * shape + 1 - w), w = n / (n + kPriorWeight), n = gaps at or above e.
// A model seen once, or idle longer than any gap it ever had, is predicted by its rate alone.
// Periodic models (timer-triggered functions: a sixth of Azure's, docs/workloads.md) are told
// apart by the spread of their gaps: a running mean m of the gaps and of their absolute
// deviation d (plain averages over the first 8 gaps, then exponential with weight 1/8). With at
// least kPeriodicMinGaps gaps and d <= kPeriodicSpread m (or 2-3 gaps and d <= 0.005 m), the
// model is periodic and
//   remaining = max(m - e, d, kFloorS) while e <= m + max(kPeriodicLateSpreads d,
//                                                        kPeriodicLateShare m),
// the next firing (a firing is due within about its jitter, so never sooner than d); past that
// (a missed firing) the histogram rule above applies again. A Poisson model's d/m is about
// 2/e = 0.74, so it is rarely mistaken for one, and when it is (two near-equal gaps) it is
// "due" for a tenth of its period at most, and never sooner than d: a false timer cannot be
// predicted due within a millisecond for half a period and outbid every hot model.
// docs/policies.md ("predictive") and docs/prefetch.md give the reasons.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/model_info.hpp"
#include "core/per_model.hpp"

namespace brulee {

// One model's history: everything a prediction for it needs but the predictor's origin. 48
// bytes, so a policy can keep it in one cache line with its own per-model fields.
struct InterArrivalHistory {
  static constexpr int kBins = 16;
  static constexpr double kFirstEdgeS = 1.0 / 64;  // bin k: [kFirstEdgeS 4^k, kFirstEdgeS 4^(k+1))
  static constexpr std::uint16_t kWindow = 255;    // gaps kept before every bin is halved
  static constexpr double kPriorWeight = 8.0;      // pseudo-gaps of the rate prior
  static constexpr double kFloorS = 1e-3;          // predictions are at least this
  // d / m at most kPeriodicSpread with kPeriodicMinGaps gaps or more, kPeriodicEarlySpread with
  // kPeriodicEarlyGaps to kPeriodicMinGaps - 1 (two exponential gaps pass that by chance 0.5% of
  // the time: (g1 - g2) / (g1 + g2) is uniform on [-1, 1]; a timer's gaps differ by its jitter,
  // far less; 0.02 let a Poisson model of seed 2 pass, docs/results.md).
  static constexpr std::uint32_t kPeriodicMinGaps = 4;
  static constexpr float kPeriodicSpread = 0.1f;
  static constexpr std::uint32_t kPeriodicEarlyGaps = 2;
  static constexpr float kPeriodicEarlySpread = 0.005f;
  // Idle past m + max(kPeriodicLateSpreads d, kPeriodicLateShare m): a firing was missed, the
  // model is not periodic any more (uniform jitter +-j gives gaps within m +- 2j, d = 2j/3).
  static constexpr double kPeriodicLateSpreads = 4.0;
  static constexpr double kPeriodicLateShare = 0.1;

  double last_s = 0.0;      // time of the last request
  std::uint32_t count = 0;  // requests so far (all time)
  std::uint16_t gaps = 0;   // sum of bins
  std::uint16_t unused = 0;
  std::array<std::uint8_t, kBins> bins{};  // at most kWindow each
  float gap_mean = 0.0f;                   // m: running mean of the gaps
  float gap_spread = 0.0f;                 // d: running mean absolute deviation from m
  std::uint64_t reserved = 0;

  // Records a request at `time_s`.
  void observe(double time_s) {
    if (count > 0) {
      const double gap = time_s > last_s ? time_s - last_s : 0.0;
      if (gaps >= kWindow) [[unlikely]]
        halve();
      ++bins[static_cast<std::size_t>(bin_of(gap))];
      ++gaps;
      // Plain means over the first gaps (this is gap number `count`), then weight 1/8.
      const auto g = static_cast<float>(gap);
      if (count == 1) {
        gap_mean = g;
      } else {
        const float weight = count >= 8 ? 0.125f : kReciprocals[count];
        gap_spread += weight * (std::fabs(g - gap_mean) - gap_spread);
        gap_mean += weight * (g - gap_mean);
      }
    }
    last_s = time_s;
    ++count;
  }
  // True when the gaps look periodic (see above).
  bool periodic() const {
    if (count > kPeriodicMinGaps) return gap_spread <= kPeriodicSpread * gap_mean;
    return count > kPeriodicEarlyGaps && gap_spread <= kPeriodicEarlySpread * gap_mean;
  }
  // Expected seconds from `now_s` until the next request (>= kFloorS), `origin_s` being the
  // time of the first request the predictor saw; +infinity if never requested.
  double remaining_s(double now_s, double origin_s) const;
  // remaining_s / prior: w * shape + 1 - w (1 when just requested or idle past every gap;
  // with `gated`, also when the histogram looks like an exponential's).
  double shape_factor(double now_s, bool gated = false) const;
  // The share of the recorded gaps shorter than `window_s` (a bin straddling it counts in
  // proportion to the overlap); 0 without gaps.
  double share_within_s(double window_s) const;

  // Expected seconds to the next firing of a periodic model idle for `idle_s`; < 0 when the
  // model is not (or no longer) periodic.
  double periodic_remaining_s(double idle_s) const;

  static int bin_of(double gap_s);
  // Whether the histogram's moments are an exponential's (interarrival.cpp).
  bool looks_memoryless() const;
  static double lower_edge_s(int bin);  // 0 for bin 0
  // Where a bin's gaps are taken to sit: its geometric middle (bin 0, from 0: half its top).
  static double bin_middle_s(int bin);

 private:
  // 1 / (gaps so far), for gaps 2 to 7 (the first sets m and leaves d at 0).
  static constexpr float kReciprocals[8] = {1.0f,     1.0f,     1.0f / 2, 1.0f / 3,
                                            1.0f / 4, 1.0f / 5, 1.0f / 6, 1.0f / 7};
  void halve();
};
static_assert(sizeof(InterArrivalHistory) == 48);

// Histories of every model, and the origin of time (the first request seen).
class InterArrivalPredictor {
 public:
  using History = InterArrivalHistory;
  static constexpr int kBins = History::kBins;
  static constexpr std::uint16_t kWindow = History::kWindow;

  // Records a request for `model` at `time_s`.
  void observe(ModelId model, double time_s) {
    note_time(time_s);
    history_[model].observe(time_s);
  }
  // For callers that keep the histories themselves: the origin follows the first time seen.
  void note_time(double time_s) {
    if (!started_) [[unlikely]] {
      started_ = true;
      origin_s_ = time_s;
    }
  }
  double origin_s() const { return origin_s_; }
  // Expected seconds from `now_s` until the model's next request (>= kFloorS); +infinity for a
  // model never requested.
  double remaining_s(ModelId model, double now_s) const {
    return history_.get(model).remaining_s(now_s, origin_s_);
  }
  double share_within_s(ModelId model, double window_s) const {
    return history_.get(model).share_within_s(window_s);
  }
  // Predicted next request time (now_s + remaining_s), +infinity if never requested.
  double next_s(ModelId model, double now_s) const { return now_s + remaining_s(model, now_s); }

  const History& history(ModelId model) const { return history_.get(model); }
  void prefetch(ModelId model) const { history_.prefetch(model); }
  static int bin_of(double gap_s) { return History::bin_of(gap_s); }
  static double lower_edge_s(int bin) { return History::lower_edge_s(bin); }

 private:
  PerModel<History> history_;
  double origin_s_ = 0.0;
  bool started_ = false;
};

// The predicted cost of a miss for `model`: `cost` (its load cost), plus the part of the load
// that the requests expected to arrive while it runs wait too (each about half of it). With q =
// the share of the model's gaps shorter than its load latency, the requests following the next
// one within the load number about q / (1 - q), capped at 64.
double predicted_miss_cost(const InterArrivalHistory& history, double load_latency_s, double cost);
// Predicted utility, the quantity `predictive` evicts lowest first and prefetching ranks by:
//   predicted_miss_cost / (size x remaining_s(model, now)); 0 for a model never requested.
double predicted_utility(const InterArrivalHistory& history, double origin_s, double load_latency_s,
                         double cost, double size_bytes, double now_s);

// predicted_utility times (now - origin), which is common to every model at a given time: the
// same order at any instant, but a key computed earlier stays comparable with one computed now
// (as CremeBrulee's count is), so a lazy heap can keep it. 0 for a model never requested. One
// difference, for `predictive`'s ranking: a histogram that looks exponential (looks_memoryless)
// gets shape 1, its rate alone, since its shape is then noise (the prefetcher, which looks for
// models due soon, keeps the shape: docs/policies.md, "predictive").
double relative_utility(const InterArrivalHistory& history, double origin_s, double load_latency_s,
                        double cost, double size_bytes, double now_s);

}  // namespace brulee
