// The shared request timeline: delays derived from hand-computed timelines.
#include <gtest/gtest.h>

#include "core/timeline.hpp"

namespace brulee {
namespace {

TEST(Timeline, HitHasNoLoadDelay) {
  RequestTimeline t{10.0, RequestTimeline::kNone, 10.0, 10.5, 10.75, true};
  const RequestDelays d = derive_delays(t);
  EXPECT_DOUBLE_EQ(d.load_delay_s, 0.0);
  EXPECT_DOUBLE_EQ(d.queue_delay_s, 0.5);
  EXPECT_DOUBLE_EQ(d.exec_s, 0.25);
  EXPECT_DOUBLE_EQ(d.latency_s, 0.75);
}

TEST(Timeline, MissSplitsWaitingForRoomFromTheLoadWork) {
  // Arrives at 1, waits for room until 3, the load runs 3 -> 5, waits behind a request until 6.
  RequestTimeline t{1.0, 3.0, 5.0, 6.0, 6.5, false};
  const RequestDelays d = derive_delays(t);
  EXPECT_DOUBLE_EQ(d.load_delay_s, 2.0);
  EXPECT_DOUBLE_EQ(d.queue_delay_s, 3.0);
  EXPECT_DOUBLE_EQ(d.exec_s, 0.5);
  EXPECT_DOUBLE_EQ(d.latency_s, 5.5);
  EXPECT_DOUBLE_EQ(d.load_delay_s + d.queue_delay_s + d.exec_s, d.latency_s);
}

TEST(Timeline, ArrivalDuringALoadPaysOnlyItsRest) {
  RequestTimeline t{4.0, 3.0, 5.0, 5.0, 5.5, false};
  const RequestDelays d = derive_delays(t);
  EXPECT_DOUBLE_EQ(d.load_delay_s, 1.0);
  EXPECT_DOUBLE_EQ(d.queue_delay_s, 0.0);
}

TEST(Timeline, MissWithoutALoadOfItsOwnIsAllQueueing) {
  RequestTimeline t{2.0, RequestTimeline::kNone, 2.0, 4.0, 4.5, false};
  const RequestDelays d = derive_delays(t);
  EXPECT_DOUBLE_EQ(d.load_delay_s, 0.0);
  EXPECT_DOUBLE_EQ(d.queue_delay_s, 2.0);
}

}  // namespace
}  // namespace brulee
