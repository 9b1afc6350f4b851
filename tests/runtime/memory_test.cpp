// Memory behaviour of the backends on resnet18 (~45 MB of weights). ctest runs each test in its
// own process, serially, so the RSS they watch is this model's alone.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <filesystem>

#include "runtime/backend.hpp"
#include "runtime/backend_util.hpp"
#include "runtime/memory.hpp"
#include "runtime/repository.hpp"
#include "runtime/workspace_pool.hpp"

namespace brulee::runtime {
namespace {

std::string small_model(const std::string& name) {
  return (std::filesystem::path(BRULEE_SMALL_ZOO) / name / "1" /
          (name.ends_with("-onnx") ? "model.onnx" : "model.pt"))
      .string();
}
std::string tiny_model(const std::string& name) {
  return (std::filesystem::path(BRULEE_TINY_ZOO) / name / "1" /
          (name.ends_with("-onnx") ? "model.onnx" : "model.pt"))
      .string();
}

class MemoryCycles : public ::testing::TestWithParam<std::string> {};

// 20 load/unload cycles: RSS with the model loaded, and after its unload, stay within 10% of the
// first cycle's, and every unload followed by release_free_memory() (what the server does under
// --process-memory; the backends themselves keep freed memory for the next load) hands most of
// the model's bytes back to the system.
TEST_P(MemoryCycles, TwentyLoadUnloadCyclesKeepRssWithinTenPercent) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine: RSS does not fall on unload";
#endif
  const std::string name = GetParam();
  auto& chosen = backend(name.ends_with("-onnx") ? "onnx" : "torchscript");
  constexpr int kCycles = 20;
  std::vector<std::uint64_t> loaded_rss, unloaded_rss, bytes;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    auto model = chosen.load(small_model(name), {});
    bytes.push_back(model->resident_bytes());
    release_free_memory();  // the load's transient buffers
    loaded_rss.push_back(resident_set_bytes());
    model.reset();
    release_free_memory();
    unloaded_rss.push_back(resident_set_bytes());
  }
  const auto weights_bytes = std::filesystem::file_size(small_model(name));
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    EXPECT_LE(static_cast<double>(loaded_rss[cycle]), 1.10 * static_cast<double>(loaded_rss[0]));
    EXPECT_LE(static_cast<double>(unloaded_rss[cycle]),
              1.10 * static_cast<double>(unloaded_rss[0]));
    // The weights alone are ~45 MB: an unload that kept them would not drop RSS this much.
    EXPECT_GE(
        static_cast<double>(loaded_rss[cycle] - std::min(loaded_rss[cycle], unloaded_rss[cycle])),
        0.8 * static_cast<double>(weights_bytes));
    EXPECT_GE(static_cast<double>(bytes[cycle]), 0.9 * static_cast<double>(weights_bytes));
  }
  const auto mb = [](std::uint64_t value) { return static_cast<double>(value) / 1e6; };
  std::printf(
      "%s: RSS loaded first %.1f MB last %.1f MB; unloaded first %.1f MB last %.1f MB; bytes %.1f "
      "MB\n",
      name.c_str(), mb(loaded_rss.front()), mb(loaded_rss.back()), mb(unloaded_rss.front()),
      mb(unloaded_rss.back()), mb(bytes.back()));
}

INSTANTIATE_TEST_SUITE_P(Runtime, MemoryCycles, ::testing::Values("resnet18-onnx", "resnet18-pt"));

class BytesAgainstRss : public ::testing::TestWithParam<std::string> {};

// In a fresh process (after one tiny load and unload, so library code and thread pools are
// already resident) the measured bytes are within 10% of RSS growth (the target; three
// full-size zoo models are checked by bench/runtime/bytes_check).
TEST_P(BytesAgainstRss, MeasuredBytesTrackRssGrowth) {
  const std::string name = GetParam();
  const bool onnx = name.ends_with("-onnx");
  auto& chosen = backend(onnx ? "onnx" : "torchscript");
  chosen.load(tiny_model(onnx ? "tiny_resnet-onnx" : "tiny_resnet-pt"), {}).reset();
  release_free_memory();
  const auto before = resident_set_bytes();
  auto model = chosen.load(small_model(name), {});
  release_free_memory();  // the load's transient buffers, which the measured bytes leave out
  const auto growth = static_cast<double>(resident_set_bytes() - before);
  const auto measured = static_cast<double>(model->resident_bytes());
  std::printf("%s: measured %.2f MB, RSS growth %.2f MB, error %+.1f%%\n", name.c_str(),
              measured / 1e6, growth / 1e6, 100 * (measured - growth) / growth);
  EXPECT_NEAR(measured, growth, 0.10 * growth);
}

INSTANTIATE_TEST_SUITE_P(Runtime, BytesAgainstRss,
                         ::testing::Values("resnet18-onnx", "resnet18-pt"));

}  // namespace
}  // namespace brulee::runtime

namespace brulee::runtime {
namespace {

// A block allocated, touched and still held when the meter stops is in the figure whichever of
// RSS and heap bytes sees it (under AddressSanitizer too: fresh pages are touched).
TEST(PeakMeter, SeesMemoryHeldWhenItStopsAndCountsItsSamples) {
  constexpr std::size_t kBlock = std::size_t{32} << 20;
  const std::uint64_t samples = peak_meter_samples();
  PeakMeter meter;
  EXPECT_EQ(peak_meters_running(), 1);
  std::vector<char> block(kBlock, 1);
  const std::uint64_t peak = meter.stop();
  EXPECT_EQ(peak_meters_running(), 0);
  EXPECT_GE(peak, kBlock * 9 / 10);
  EXPECT_GT(peak_meter_samples(), samples);
  EXPECT_EQ(meter.stop(), peak);  // stopping twice answers the same
  EXPECT_GT(meter.rss_at_start(), 0u);
  EXPECT_EQ(block[kBlock - 1], 1);
}

}  // namespace
}  // namespace brulee::runtime

namespace brulee::runtime {
namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// resnet18 in TorchScript under the server's thresholds near a process limit (every block of
// 1 MiB or more an mmap of its own, runtime::return_freed_memory): outside a pool every
// inference faults its activations in afresh; in a pool's scope the second inference reuses
// the first one's blocks, and the answers are the same bytes.
TEST(WorkspacePoolTorch, ASecondInferenceReusesTheFirstOnesBlocksAndAnswersTheSame) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator ignores glibc's thresholds: no faults to compare";
#endif
  ASSERT_TRUE(return_freed_memory());
  auto model = backend("torchscript").load(small_model("resnet18-pt"), {});
  const TensorSpec& spec = model->inputs().at(0);
  Tensor input{spec.name, spec.dtype, spec.shape, {}};
  input.data.resize(element_count(input.shape) * dtype_bytes(input.dtype));
  for (std::size_t i = 0; i < input.data.size(); ++i) {
    input.data[i] = static_cast<std::byte>((i * 37) % 251 < 128 ? 0 : 0x3c);  // small floats
  }
  const std::vector<Tensor> inputs{input};
  const std::vector<Tensor> plain = model->infer(inputs);
  long before = minor_faults();
  ASSERT_EQ(model->infer(inputs)[0].data, plain[0].data);
  const long unpooled_faults = minor_faults() - before;

  WorkspacePool pool;
  pool.set_capacity(256ull << 20);
  const WorkspacePool::Scope scope(&pool);
  EXPECT_EQ(model->infer(inputs)[0].data, plain[0].data);
  EXPECT_GT(pool.held(), 1u << 20);
  before = minor_faults();
  EXPECT_EQ(model->infer(inputs)[0].data, plain[0].data);
  const long pooled_faults = minor_faults() - before;
  EXPECT_GT(unpooled_faults, 1000) << "the thresholds did not take: nothing to compare";
  EXPECT_LT(pooled_faults, unpooled_faults / 4)
      << "pooled " << pooled_faults << " against " << unpooled_faults;
  EXPECT_EQ(pool.held(), pool.idle());  // every block came back
}

}  // namespace
}  // namespace brulee::runtime
