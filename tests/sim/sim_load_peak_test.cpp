// The simulator's load peak (SimConfig::load_peak_bytes; docs/simulator.md): admitting a load
// makes room for what it holds at its peak, then the model holds its size, as the server's
// process budget does. Without peaks the simulation is the one it always was.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "sim/simulator.hpp"
#include "sim_test_util.hpp"

namespace brulee::sim {
namespace {

using testing::config;
using testing::make_trace;
using testing::model;

// Three 1-byte models, memory for three: everything fits at rest.
ModelTable three() {
  return {model("A", 1, 1.0, 0.1), model("B", 1, 1.0, 0.1), model("C", 1, 1.0, 0.1)};
}

TEST(SimLoadPeak, ALoadMakesRoomForItsPeakThenHoldsItsSize) {
  const ModelTable models = three();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0, 1, 2, 0, 1, 2}, models.size());
  for (const bool queueing : {false, true}) {
    SimConfig plain = config("lru", 3, queueing);
    const SimSummary without = simulate(models, trace, plain);
    EXPECT_EQ(without.loads, 3u);
    EXPECT_EQ(without.evictions, 0u);
    // C's load peaks at 2 bytes: A (least recent) leaves to make room for it; A misses once
    // more, then fits beside B and C at rest.
    SimConfig peaked = plain;
    peaked.load_peak_bytes = {0, 0, 2};
    const SimSummary with = simulate(models, trace, peaked);
    EXPECT_EQ(with.loads, 4u) << queueing;
    EXPECT_EQ(with.evictions, 1u) << queueing;
    EXPECT_LE(with.peak_used_bytes, 3u);
    // Peaks no larger than the sizes change nothing.
    SimConfig equal = plain;
    equal.load_peak_bytes = {1, 1, 1};
    const SimSummary same = simulate(models, trace, equal);
    EXPECT_EQ(same.loads, without.loads);
    EXPECT_EQ(same.evictions, without.evictions);
    EXPECT_DOUBLE_EQ(same.total_load_delay_s, without.total_load_delay_s);
  }
}

TEST(SimLoadPeak, APeakAboveTheMemoryIsRefused) {
  const ModelTable models = three();
  const CompactTrace trace = make_trace(std::vector<ModelId>{0}, models.size());
  SimConfig c = config("lru", 3, true);
  c.load_peak_bytes = {4, 0, 0};
  EXPECT_THROW(simulate(models, trace, c), UsageError);
}

}  // namespace
}  // namespace brulee::sim
