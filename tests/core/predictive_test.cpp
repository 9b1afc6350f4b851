// The inter-arrival predictor (core/interarrival.hpp) and the `predictive` policy on small
// hand-made streams whose right answer is known.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/interarrival.hpp"
#include "core/model_cache.hpp"

using namespace brulee;

TEST(InterArrival, BinsAreFactorFourWideFromOneSixtyFourthOfASecond) {
  using P = InterArrivalPredictor;
  EXPECT_EQ(P::bin_of(0.0), 0);
  EXPECT_EQ(P::bin_of(1.0 / 16 * 0.999), 0);
  EXPECT_EQ(P::bin_of(1.0 / 16), 1);
  EXPECT_EQ(P::bin_of(0.25 * 0.999), 1);
  EXPECT_EQ(P::bin_of(1.0), 3);
  EXPECT_EQ(P::bin_of(3.99), 3);
  EXPECT_EQ(P::bin_of(4.0), 4);
  EXPECT_EQ(P::bin_of(1e12), P::kBins - 1);
  for (int k = 1; k < P::kBins; ++k) {
    EXPECT_EQ(P::bin_of(P::lower_edge_s(k)), k);
    EXPECT_EQ(P::bin_of(P::lower_edge_s(k) * 0.999), k - 1);
  }
}

TEST(InterArrival, UnseenIsNeverAndSeenOnceFollowsTheRate) {
  InterArrivalPredictor p;
  EXPECT_TRUE(std::isinf(p.remaining_s(3, 10.0)));
  p.observe(0, 0.0);
  p.observe(1, 50.0);
  // One request each over a 100 s span: the rate prior says 100 s.
  EXPECT_DOUBLE_EQ(p.remaining_s(0, 100.0), 100.0);
  EXPECT_DOUBLE_EQ(p.remaining_s(1, 100.0), 100.0);
  EXPECT_TRUE(std::isinf(p.remaining_s(3, 100.0)));
}

TEST(InterArrival, SteadyModelIsPredictedAtItsPeriod) {
  InterArrivalPredictor p;
  for (int i = 0; i < 50; ++i) p.observe(0, 10.0 * i);
  const double now = 490.0;  // just requested
  EXPECT_NEAR(p.remaining_s(0, now), 10.0, 0.5);
}

TEST(InterArrival, BurstyModelIdlePastItsBurstIsPredictedFar) {
  // Ten bursts of 20 requests 1 s apart, 1,000 s between bursts.
  InterArrivalPredictor p;
  double t = 0.0;
  for (int burst = 0; burst < 10; ++burst) {
    for (int i = 0; i < 20; ++i, t += 1.0) p.observe(0, t);
    t += 1000.0;
  }
  const double last = p.history(0).last_s;
  const double inside = p.remaining_s(0, last + 0.5);
  const double after = p.remaining_s(0, last + 30.0);
  EXPECT_GT(after, 5 * inside) << inside << " " << after;
  // The steady model with the same long-run rate is not pushed out by idling a little.
  InterArrivalPredictor q;
  for (int i = 0; i < 200; ++i) q.observe(0, i * (last / 199));
  EXPECT_LT(q.remaining_s(0, last + 30.0), after);
}

TEST(InterArrival, ShareWithinCountsShortGaps) {
  InterArrivalPredictor p;
  for (int i = 0; i < 10; ++i) p.observe(0, 1.0 * i);
  EXPECT_DOUBLE_EQ(p.share_within_s(0, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(p.share_within_s(0, 0.01), 0.0);
  EXPECT_DOUBLE_EQ(p.share_within_s(1, 10.0), 0.0);  // no gaps
}

TEST(InterArrival, HistogramForgetsByHalving) {
  InterArrivalPredictor p;
  for (int i = 0; i < 5000; ++i) p.observe(0, 0.5 * i);
  EXPECT_LE(p.history(0).gaps, InterArrivalPredictor::kWindow);
  EXPECT_GT(p.history(0).gaps, InterArrivalPredictor::kWindow / 2);
  EXPECT_EQ(p.history(0).count, 5000u);
}

namespace {
// Drives a cache with timed requests; returns the victims of the last request's admission.
std::vector<ModelId> victims_after(const std::string& policy, const ModelTable& models,
                                   std::uint64_t capacity,
                                   const std::vector<std::pair<ModelId, double>>& stream) {
  ModelCache cache(capacity, models, make_policy(policy, models));
  std::vector<ModelId> evicted;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    evicted.clear();
    if (cache.record({stream[i].first, stream[i].second, i})) continue;
    cache.admit(stream[i].first, evicted);
  }
  return evicted;
}
}  // namespace

// A (bursty, 30 requests, idle well past its bursts) and B (steady, 21 requests, due soon):
// CremeBrulee keeps the more requested A; predictive keeps B, whose next request is nearer.
TEST(PredictiveExamples, KeepsTheModelDueSoonerRatherThanTheMoreRequested) {
  const ModelTable models = {{"A", 1, 1.0, 0.1, 0}, {"B", 1, 1.0, 0.1, 0}, {"C", 1, 1.0, 0.1, 0}};
  std::vector<std::pair<ModelId, double>> stream;
  for (int i = 0; i < 15; ++i) stream.push_back({0, 1.0 * i});
  for (int i = 0; i < 15; ++i) stream.push_back({0, 500.0 + i});
  for (int i = 0; i <= 20; ++i) stream.push_back({1, 50.0 * i});
  std::stable_sort(stream.begin(), stream.end(),
                   [](const auto& a, const auto& b) { return a.second < b.second; });
  stream.push_back({2, 1010.0});  // C needs one slot
  EXPECT_EQ(victims_after("cremebrulee", models, 2, stream), (std::vector<ModelId>{1}));
  EXPECT_EQ(victims_after("predictive", models, 2, stream), (std::vector<ModelId>{0}));
}

// Same requests, same size: the cheaper model to reload goes; same cost: the larger goes.
TEST(PredictiveExamples, WeighsCostAndSizeAsCremeBrulee) {
  std::vector<std::pair<ModelId, double>> stream;
  for (int i = 0; i < 20; ++i) {
    stream.push_back({0, 10.0 * i});
    stream.push_back({1, 10.0 * i + 5});
  }
  stream.push_back({2, 200.0});
  const ModelTable by_cost = {{"A", 1, 5.0, 0.1, 0}, {"B", 1, 1.0, 0.1, 0}, {"C", 1, 1.0, 0.1, 0}};
  EXPECT_EQ(victims_after("predictive", by_cost, 2, stream), (std::vector<ModelId>{1}));
  const ModelTable by_size = {{"A", 2, 1.0, 0.1, 0}, {"B", 1, 1.0, 0.1, 0}, {"C", 2, 1.0, 0.1, 0}};
  EXPECT_EQ(victims_after("predictive", by_size, 3, stream), (std::vector<ModelId>{0}));
}
