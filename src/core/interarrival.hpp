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
// docs/policies.md ("predictive") and docs/prefetch.md give the reasons.
#include <array>
#include <cstdint>
#include <limits>

#include "core/model_info.hpp"
#include "core/policy_util.hpp"

namespace brulee {

class InterArrivalPredictor {
 public:
  static constexpr int kBins = 16;
  static constexpr double kFirstEdgeS = 1.0 / 64;  // bin k: [kFirstEdgeS 4^k, kFirstEdgeS 4^(k+1))
  static constexpr std::uint16_t kWindow = 256;    // gaps kept before every bin is halved
  static constexpr double kPriorWeight =
      8.0;  // pseudo-gaps of the rate prior      // pseudo-gaps of the rate prior
  static constexpr double kFloorS = 1e-3;  // predictions are at least this

  struct History {
    double last_s = 0.0;      // time of the last request
    std::uint32_t count = 0;  // requests so far (all time)
    std::uint16_t gaps = 0;   // sum of bins
    std::uint16_t unused = 0;
    std::array<std::uint16_t, kBins> bins{};
  };

  // Records a request for `model` at `time_s`.
  void observe(ModelId model, double time_s) {
    if (!started_) {
      started_ = true;
      origin_s_ = time_s;
    }
    History& h = history_[model];
    if (h.count > 0) {
      const double gap = time_s > h.last_s ? time_s - h.last_s : 0.0;
      if (h.gaps >= kWindow) [[unlikely]]
        halve(h);
      ++h.bins[bin_of(gap)];
      ++h.gaps;
    }
    h.last_s = time_s;
    ++h.count;
  }
  // Expected seconds from `now_s` until the model's next request (>= kFloorS); +infinity for a
  // model never requested.
  double remaining_s(ModelId model, double now_s) const;
  // The share of the model's recorded gaps shorter than `window_s` (a bin straddling it counts in
  // proportion to the overlap on a log scale); 0 without gaps.
  double share_within_s(ModelId model, double window_s) const;
  // Predicted next request time (now_s + remaining_s), +infinity if never requested.
  double next_s(ModelId model, double now_s) const { return now_s + remaining_s(model, now_s); }

  const History& history(ModelId model) const { return history_.get(model); }
  void prefetch(ModelId model) const { history_.prefetch(model); }
  static int bin_of(double gap_s);
  static double lower_edge_s(int bin);  // 0 for bin 0

 private:
  static void halve(History& h);
  PerModel<History> history_;
  double origin_s_ = 0.0;
  bool started_ = false;
};

}  // namespace brulee
