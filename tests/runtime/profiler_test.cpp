// The profiler: statistics by hand, and the measurement loop on tiny models.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "runtime/profiler.hpp"
#include "test_util.hpp"

namespace brulee::runtime {
namespace {

TEST(RuntimeProfiler, SummaryStatisticsByHand) {
  const auto stats = summarize({4.0, 1.0, 3.0, 2.0});
  EXPECT_EQ(stats.samples, 4u);
  EXPECT_DOUBLE_EQ(stats.mean_s, 2.5);
  EXPECT_DOUBLE_EQ(stats.p50_s, 2.5);   // halfway between 2 and 3
  EXPECT_DOUBLE_EQ(stats.p95_s, 3.85);  // rank 0.95 * 3 = 2.85: 3 + 0.85 * (4 - 3)
  const auto single = summarize({0.5});
  EXPECT_DOUBLE_EQ(single.p95_s, 0.5);
  EXPECT_EQ(summarize({}).samples, 0u);
}

TEST(RuntimeProfiler, MeasuresEveryRoundOfEachModel) {
  const Repository repository(testing::tiny_zoo());
  ProfileOptions options;
  options.runs = 2;
  options.execs_per_load = 3;
  options.models = {"tiny_cnn-onnx", "tiny_mlp-pt"};
  std::vector<std::string> lines;
  options.progress = [&](const std::string& line) { lines.push_back(line); };
  const auto profiles = profile_models(repository, options);
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(lines.size(), 4u);
  for (const auto& profile : profiles) {
    EXPECT_TRUE(profile.error.empty()) << profile.error;
    EXPECT_EQ(profile.load.samples, 2u);
    EXPECT_EQ(profile.exec.samples, 6u);
    EXPECT_EQ(profile.unload.samples, 2u);
    EXPECT_GT(profile.load.mean_s, 0);
    EXPECT_GT(profile.exec.p50_s, 0);
    EXPECT_LE(profile.load.p50_s, profile.load.p95_s);
    EXPECT_GT(profile.resident_bytes, 0u);
  }
  EXPECT_EQ(profiles[1].backend, "torchscript");
}

TEST(RuntimeProfiler, BadRequestsAreUsageErrorsAndBrokenModelsAreReported) {
  const Repository repository(testing::tiny_zoo());
  ProfileOptions options;
  options.runs = 0;
  EXPECT_THROW(profile_models(repository, options), UsageError);
  options.runs = 1;
  options.models = {"../x"};
  EXPECT_THROW(profile_models(repository, options), UsageError);

  testing::TempDir dir;
  testing::write_file(dir.path() / "broken" / "1" / "model.onnx", "not a model");
  testing::write_file(dir.path() / "fine" / "1" / "model.onnx",
                      testing::read_file(testing::tiny_model_path("tiny_cnn-onnx")));
  const Repository mixed(dir.path().string());
  options.models.clear();
  options.runs = 2;
  const auto profiles = profile_models(mixed, options);
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_NE(profiles[0].error.find("not a valid ONNX model"), std::string::npos) << profiles[0].error;
  EXPECT_TRUE(profiles[1].error.empty());
  EXPECT_EQ(profiles[1].load.samples, 2u);
}

}  // namespace
}  // namespace brulee::runtime
