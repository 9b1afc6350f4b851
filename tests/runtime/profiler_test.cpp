// The profiler: statistics by hand, and the measurement loop on tiny models.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "runtime/cpus.hpp"
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

// A profile that worked, with `rounds` first loads and first inferences and `loads` timed warm
// loads and unloads.
void expect_samples(const ModelProfile& profile, std::uint64_t rounds, std::uint64_t loads) {
  EXPECT_TRUE(profile.error.empty()) << profile.error;
  EXPECT_EQ(profile.first_load.samples, rounds) << profile.name;
  EXPECT_EQ(profile.first_exec.samples, rounds) << profile.name;
  EXPECT_EQ(profile.load.samples, loads) << profile.name;
  EXPECT_EQ(profile.unload.samples, loads) << profile.name;
  EXPECT_GT(profile.load.mean_s, 0) << profile.name;
}

TEST(RuntimeProfiler, MeasuresEveryRoundOfEachModel) {
  const Repository repository(testing::tiny_zoo());
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 2;
  options.execs_per_load = 3;
  options.models = {"tiny_cnn-onnx", "tiny_mlp-pt"};
  std::vector<std::string> lines;
  options.progress = [&](const std::string& line) { lines.push_back(line); };
  const auto profiles = profile_models(repository, options);
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(lines.size(), 4u);
  for (const auto& profile : profiles) {
    expect_samples(profile, 2, 2);
    EXPECT_EQ(profile.exec.samples, 6u);
    EXPECT_EQ(profile.load_beside_exec.samples, 2u);
    EXPECT_GT(profile.load_beside_exec.mean_s, 0);
    EXPECT_GT(profile.exec.p50_s, 0);
    EXPECT_LE(profile.load.p50_s, profile.load.p95_s);
    EXPECT_GT(profile.resident_bytes, 0u);
  }
  EXPECT_EQ(profiles[1].backend, "torchscript");
}

// --loads N: N timed warm reloads a round, each more after a timed unload; one first exec.
TEST(RuntimeProfiler, MoreTimedReloadsPerRound) {
  const Repository repository(testing::tiny_zoo());
  ProfileOptions options;
  options.interference = false;
  options.runs = 2;
  options.execs_per_load = 1;
  options.loads_per_turn = 3;
  options.models = {"tiny_cnn-onnx", "tiny_mlp-pt"};
  const auto profiles = profile_models(repository, options);
  ASSERT_EQ(profiles.size(), 2u);
  for (const auto& profile : profiles) expect_samples(profile, 2, 6);
  options.loads_per_turn = 0;
  EXPECT_THROW(profile_models(repository, options), UsageError);
}

TEST(RuntimeProfiler, BadRequestsAreUsageErrorsAndBrokenModelsAreReported) {
  const Repository repository(testing::tiny_zoo());
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
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
  EXPECT_NE(profiles[0].error.find("not a valid ONNX model"), std::string::npos)
      << profiles[0].error;
  EXPECT_TRUE(profiles[1].error.empty());
  EXPECT_EQ(profiles[1].load.samples, 2u);
}

TEST(RuntimeProfiler, MeanDuringWeighsEachInferenceByItsOverlapWithTheLoad) {
  // The load runs 1..3. Inferences 0..2 (half inside), 2..2.5 and 2.5..3 (inside), 3..4 (none).
  const std::vector<TimedInterval> inferences = {{0.0, 2.0}, {2.0, 2.5}, {2.5, 3.0}, {3.0, 4.0}};
  // Overlaps 1 + 0.5 + 0.5 = 2 s over shares 0.5 + 1 + 1 = 2.5 inferences: 0.8 s each.
  EXPECT_DOUBLE_EQ(mean_during(inferences, 1.0, 3.0), 0.8);
  EXPECT_DOUBLE_EQ(mean_during(inferences, 5.0, 6.0), 0.0);
  EXPECT_DOUBLE_EQ(mean_during({{0.0, 4.0}}, 1.0, 2.0), 4.0);  // one inference spans the load
}

// A backend whose slowdowns are known: work advances in 1 ms steps, at 1 / factor per step
// while the other kind of work runs somewhere (an inference beside a load that slows inferences,
// or a load beside an inference), and the first inference after a load does extra work.
class Contention {
 public:
  std::atomic<int> loads{0};  // loads running that slow inferences
  std::atomic<int> inferences{0};
  static constexpr double kStepS = 0.001;
  // Runs `work_s` of work, slowed by `factor` while `other` is non-zero; returns the wall time.
  static double run(double work_s, double factor, const std::atomic<int>& other) {
    const auto start = std::chrono::steady_clock::now();
    for (double done_s = 0.0; done_s < work_s;) {
      const bool slowed = other.load() > 0;
      std::this_thread::sleep_for(std::chrono::duration<double>(kStepS));
      done_s += slowed ? kStepS / factor : kStepS;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

class SlowedModel final : public LoadedModel {
 public:
  SlowedModel(Contention& contention, double exec_s, double exec_factor, double first_extra_s,
              double load_time_s, int warm_inferences)
      : contention_(contention),
        exec_s_(exec_s),
        exec_factor_(exec_factor),
        first_extra_s_(first_extra_s),
        load_time_s_(load_time_s),
        warm_left_(warm_inferences),
        specs_{TensorSpec{"x", DType::kFloat32, {1, 2}}} {}
  const std::vector<TensorSpec>& inputs() const override { return specs_; }
  const std::vector<TensorSpec>& outputs() const override { return specs_; }
  std::vector<Tensor> infer(const std::vector<Tensor>&) override {
    ++contention_.inferences;
    const double work_s = exec_s_ + (warm_left_ > 0 ? first_extra_s_ : 0.0);
    if (warm_left_ > 0) --warm_left_;
    Contention::run(work_s, exec_factor_, contention_.loads);
    --contention_.inferences;
    return {};
  }
  double load_time_s() const override { return load_time_s_; }
  std::uint64_t resident_bytes() const override { return 1000; }

 private:
  Contention& contention_;
  double exec_s_, exec_factor_, first_extra_s_, load_time_s_;
  int warm_left_;  // inferences left that do the extra work (a JIT's warm-up)
  std::vector<TensorSpec> specs_;
};

// `slows_inferences`: whether this model's load slows the inferences beside it (a load that is
// mostly parsing on one thread barely does; one that is mostly a warm-up inference does).
// `warm_inferences`: how many inferences after a load do the extra work (1: the first only).
ProfileSubject slowed_subject(Contention& contention, double load_s, double load_factor,
                              double exec_s, double exec_factor, double first_extra_s,
                              bool slows_inferences = true, std::string name = "slowed",
                              int warm_inferences = 1) {
  ProfileSubject subject;
  subject.name = std::move(name);
  subject.backend = "fake";
  subject.load = [&contention, load_s, load_factor, exec_s, exec_factor, first_extra_s,
                  slows_inferences, warm_inferences] {
    if (slows_inferences) ++contention.loads;
    const double took_s = Contention::run(load_s, load_factor, contention.inferences);
    if (slows_inferences) --contention.loads;
    return std::make_unique<SlowedModel>(contention, exec_s, exec_factor, first_extra_s, took_s,
                                         warm_inferences);
  };
  return subject;
}

TEST(RuntimeProfiler, InterferenceOfAFakeBackendWithKnownSlowdowns) {
  // Load 0.12 s alone, 2x beside inferences; inference 0.02 s alone, 3x beside a load; the
  // first inference after a load does 0.03 s more work. The bounds are wide (half to twice the
  // known factors): they check what is measured, not how fast this machine is.
  Contention contention;
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 2;
  options.execs_per_load = 3;
  const auto profiles =
      profile_subjects({slowed_subject(contention, 0.12, 2.0, 0.02, 3.0, 0.03)}, options);
  ASSERT_EQ(profiles.size(), 1u);
  const ModelProfile& p = profiles[0];
  ASSERT_TRUE(p.error.empty()) << p.error;
  EXPECT_EQ(p.load.samples, 2u);
  EXPECT_EQ(p.first_load.samples, 2u);  // one into fresh memory, one into freed memory a round
  EXPECT_EQ(p.exec.samples, 6u);
  EXPECT_EQ(p.first_exec.samples, 2u);
  EXPECT_EQ(p.load_beside_exec.samples, 2u);
  EXPECT_EQ(p.exec_beside_load.samples, 2u);
  const double exec_factor = p.exec_beside_load.mean_s / p.exec.mean_s;
  const double load_factor = p.load_beside_exec.mean_s / p.load.mean_s;
  const double first_extra_s = p.first_exec.mean_s - p.exec.mean_s;
  EXPECT_GT(exec_factor, 1.5) << exec_factor;
  EXPECT_LT(exec_factor, 6.0) << exec_factor;
  EXPECT_GT(load_factor, 1.3) << load_factor;
  EXPECT_LT(load_factor, 4.0) << load_factor;
  EXPECT_GT(first_extra_s, 0.015) << first_extra_s;
  // Without interference the measurement is skipped.
  options.interference = false;
  const auto plain =
      profile_subjects({slowed_subject(contention, 0.12, 2.0, 0.02, 3.0, 0.03)}, options);
  EXPECT_EQ(plain[0].exec_beside_load.samples, 0u);
  EXPECT_EQ(plain[0].load_beside_exec.samples, 0u);
}

TEST(RuntimeProfiler, AWarmUpOfSeveralInferencesIsNotTakenForTheLoadsSlowdown) {
  // Inferences are not slowed by a load at all (factor 1), but the first 3 after each load do
  // 0.08 s more work, as a TorchScript copy's do while its JIT profiles and optimises. Measured
  // beside the partner's 0.15 s load against the lone figure, as before, the reloaded copy's
  // warm-up would be taken for a slowdown of about 2.9x (by hand: about 0.1 s beside the load
  // against 0.035 s, two warm-up inferences of eight); timed alone without first running out of
  // the warm-up, the ratio came out 0.40x (checked by mutation). Both fail the bounds below.
  Contention contention;
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 2;
  options.execs_per_load = 8;
  const auto profiles = profile_subjects(
      {slowed_subject(contention, 0.15, 1.0, 0.02, 1.0, 0.08, true, "jit", 3)}, options);
  ASSERT_EQ(profiles.size(), 1u);
  const ModelProfile& p = profiles[0];
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_EQ(p.exec_beside_load.samples, 2u);
  const double exec_factor = p.exec_beside_load.mean_s / p.exec.mean_s;
  EXPECT_GT(exec_factor, 0.7) << exec_factor;
  EXPECT_LT(exec_factor, 1.5) << exec_factor;
}

// One round, 3 timed inferences per load, no interference rounds: the fakes' lone figures.
ProfileOptions one_round_without_interference() {
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 1;
  options.execs_per_load = 3;
  options.interference = false;
  return options;
}

TEST(RuntimeProfiler, TheFirstInferenceIsTimedAfterAWarmLoad) {
  // The first inference after the model's first load ever does 0.12 s more work (its pages are
  // fresh); after every later load, 0.01 s more. A serving cache's loads are later loads, so
  // the first-exec figure is the later one (timed after the first load, it was 0.12 s more).
  Contention contention;
  auto subject = slowed_subject(contention, 0.01, 1.0, 0.02, 1.0, 0.0);
  auto copies = std::make_shared<int>(0);
  subject.load = [&contention, copies]() -> std::unique_ptr<LoadedModel> {
    const double extra_s = (*copies)++ == 0 ? 0.12 : 0.01;
    return std::make_unique<SlowedModel>(contention, 0.02, 1.0, extra_s, 0.01, 1);
  };
  const auto profiles = profile_subjects({subject}, one_round_without_interference());
  ASSERT_EQ(profiles.size(), 1u);
  const ModelProfile& p = profiles[0];
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_EQ(p.first_exec.samples, 1u);
  const double first_extra_s = p.first_exec.mean_s - p.exec.mean_s;
  EXPECT_GT(first_extra_s, 0.005) << first_extra_s;
  EXPECT_LT(first_extra_s, 0.06) << first_extra_s;
}

TEST(RuntimeProfiler, InferencesAreMeasuredBesideAnotherModelsLoad) {
  // "light" loads without slowing inferences (all parsing), "heavy" slows them 3x (all warm-up).
  // Each model's inferences are timed beside the other's load, as a server's meet other models'
  // loads: light's inferences run 3x slower (beside heavy's load), heavy's do not (beside
  // light's). Measured beside its own copy's load each would show the opposite.
  Contention contention;
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 2;
  options.execs_per_load = 2;
  const auto profiles =
      profile_subjects({slowed_subject(contention, 0.12, 1.0, 0.02, 3.0, 0.0, false, "light"),
                        slowed_subject(contention, 0.12, 1.0, 0.02, 3.0, 0.0, true, "heavy")},
                       options);
  ASSERT_EQ(profiles.size(), 2u);
  for (const auto& p : profiles) {
    ASSERT_TRUE(p.error.empty()) << p.error;
    EXPECT_EQ(p.exec_beside_load.samples, 2u) << p.name;  // one partner's load a round
    EXPECT_EQ(p.load_beside_exec.samples, 2u) << p.name;  // a partner once a round
  }
  const double light = profiles[0].exec_beside_load.mean_s / profiles[0].exec.mean_s;
  const double heavy = profiles[1].exec_beside_load.mean_s / profiles[1].exec.mean_s;
  EXPECT_GT(light, 2.0) << light;
  EXPECT_LT(heavy, 1.5) << heavy;
}

// A model whose inference does `extra_s` more work when its thread was idle for `idle_s` or more
// before it (as after a pause between a server's requests), and `exec_s` otherwise.
class PausedModel final : public LoadedModel {
 public:
  PausedModel(double exec_s, double extra_s, double idle_s)
      : exec_s_(exec_s), extra_s_(extra_s), idle_s_(idle_s) {}
  const std::vector<TensorSpec>& inputs() const override { return specs_; }
  const std::vector<TensorSpec>& outputs() const override { return specs_; }
  std::vector<Tensor> infer(const std::vector<Tensor>&) override {
    const auto now = std::chrono::steady_clock::now();
    thread_local auto last_end = now;
    const double idle = std::chrono::duration<double>(now - last_end).count();
    std::this_thread::sleep_for(
        std::chrono::duration<double>(exec_s_ + (idle >= idle_s_ ? extra_s_ : 0.0)));
    last_end = std::chrono::steady_clock::now();
    return {};
  }
  double load_time_s() const override { return 0.01; }
  std::uint64_t resident_bytes() const override { return 1000; }

 private:
  double exec_s_, extra_s_, idle_s_;
  std::vector<TensorSpec> specs_{TensorSpec{"x", DType::kFloat32, {1, 2}}};
};

ProfileSubject paused_subject(std::string name, double exec_s, double extra_s, double idle_s) {
  ProfileSubject subject;
  subject.name = std::move(name);
  subject.backend = "fake";
  subject.load = [=] { return std::make_unique<PausedModel>(exec_s, extra_s, idle_s); };
  return subject;
}

TEST(RuntimeProfiler, ColdInferencesFollowAnotherModelsAndAPause) {
  // Inference 0.01 s, 0.03 s more after the thread idled 0.1 s. Back to back (the exec figure)
  // the thread never idles that long; each cold inference follows the other model's and a pause
  // of 0.15 s. Bounds are wide: they check what is measured, not this machine's speed.
  ProfileOptions options;
  options.runs = 2;
  options.execs_per_load = 3;
  options.cold_pause_s = 0.15;
  const auto profiles = profile_subjects(
      {paused_subject("a", 0.01, 0.03, 0.1), paused_subject("b", 0.01, 0.03, 0.1)}, options);
  ASSERT_EQ(profiles.size(), 2u);
  for (const auto& p : profiles) {
    ASSERT_TRUE(p.error.empty()) << p.error;
    EXPECT_EQ(p.exec_cold.samples, 2u) << p.name;  // one figure a round
    const double extra_s = p.exec_cold.mean_s - p.exec.mean_s;
    EXPECT_GT(extra_s, 0.02) << p.name;
    EXPECT_LT(extra_s, 0.06) << p.name;
    EXPECT_LT(p.exec.mean_s, 0.025) << p.name;
  }
  // Not measured: without interference, with no pause, or for a model alone.
  options.interference = false;
  EXPECT_EQ(
      profile_subjects({paused_subject("a", 0.01, 0.0, 1.0), paused_subject("b", 0.01, 0.0, 1.0)},
                       options)[0]
          .exec_cold.samples,
      0u);
  options.interference = true;
  options.cold_pause_s = 0.0;
  EXPECT_EQ(
      profile_subjects({paused_subject("a", 0.01, 0.0, 1.0), paused_subject("b", 0.01, 0.0, 1.0)},
                       options)[0]
          .exec_cold.samples,
      0u);
  options.cold_pause_s = 0.15;
  EXPECT_EQ(profile_subjects({paused_subject("a", 0.01, 0.0, 1.0)}, options)[0].exec_cold.samples,
            0u);
}

TEST(RuntimeProfiler, APartnerThatFailsToLoadIsReportedAsItsOwnFailure) {
  Contention contention;
  ProfileSubject broken;
  broken.name = "broken";
  broken.backend = "fake";
  broken.load = []() -> std::unique_ptr<LoadedModel> {
    throw std::runtime_error("cannot read the file");
  };
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 2;
  options.execs_per_load = 1;
  const auto profiles = profile_subjects(
      {slowed_subject(contention, 0.02, 1.0, 0.005, 1.0, 0.0, true, "fine"), broken}, options);
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_TRUE(profiles[0].error.empty()) << profiles[0].error;
  EXPECT_EQ(profiles[0].load.samples, 2u);
  EXPECT_NE(profiles[1].error.find("cannot read the file"), std::string::npos);
}

// Counts the live copies of each of a few fake models, and at every load the copies of *other*
// models that were live.
struct Census {
  std::mutex mutex;
  std::vector<int> live;
  std::vector<int> others_at_load;  // one entry per load, in load order
};

class CountedModel final : public LoadedModel {
 public:
  CountedModel(Census& census, std::size_t id) : census_(census), id_(id) {}
  ~CountedModel() override {
    std::lock_guard lock(census_.mutex);
    --census_.live[id_];
  }
  const std::vector<TensorSpec>& inputs() const override { return specs_; }
  const std::vector<TensorSpec>& outputs() const override { return specs_; }
  std::vector<Tensor> infer(const std::vector<Tensor>&) override { return {}; }
  double load_time_s() const override { return 0.001; }
  std::uint64_t resident_bytes() const override { return 1000; }

 private:
  Census& census_;
  std::size_t id_;
  std::vector<TensorSpec> specs_{TensorSpec{"x", DType::kFloat32, {1, 2}}};
};

std::vector<ProfileSubject> counted_subjects(Census& census, std::size_t count) {
  census.live.assign(count, 0);
  std::vector<ProfileSubject> subjects(count);
  for (std::size_t id = 0; id < count; ++id) {
    subjects[id].name = "m" + std::to_string(id);
    subjects[id].backend = "fake";
    subjects[id].load = [&census, id]() -> std::unique_ptr<LoadedModel> {
      std::lock_guard lock(census.mutex);
      int others = 0;
      for (std::size_t other = 0; other < census.live.size(); ++other)
        if (other != id) others += census.live[other];
      census.others_at_load.push_back(others);
      ++census.live[id];
      return std::make_unique<CountedModel>(census, id);
    };
  }
  return subjects;
}

TEST(RuntimeProfiler, WarmReloadsRunAmongOtherModelsKeptLoaded) {
  // Every turn loads its model 5 times without interference (first load, copy, 2 settling
  // loads, the timed reload). With a crowd of 2 the models of the last two turns stay loaded
  // (once there are two, the oldest is unloaded just before the timed reload); with none, no
  // other model is live.
  for (const std::size_t crowd : {std::size_t{0}, std::size_t{2}}) {
    Census census;
    ProfileOptions options;
    options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
    options.runs = 2;
    options.execs_per_load = 1;
    options.interference = false;
    options.crowd = crowd;
    const auto profiles = profile_subjects(counted_subjects(census, 4), options);
    for (const auto& p : profiles) EXPECT_TRUE(p.error.empty()) << p.error;
    ASSERT_EQ(census.others_at_load.size(), 2u * 4u * 5u);
    for (std::size_t load = 0; load < census.others_at_load.size(); ++load) {
      const std::size_t turn = load / 5;  // runs x models turns, in order
      const int kept = static_cast<int>(std::min(turn, crowd));
      const bool timed_reload = load % 5 == 4;
      const bool full = crowd > 0 && kept == static_cast<int>(crowd);
      const int expected = timed_reload && full ? kept - 1 : kept;
      if (turn < 4) {
        EXPECT_EQ(census.others_at_load[load], expected) << "crowd " << crowd << ", load " << load;
      } else {  // the second round's order is new: its model's own copy may leave the crowd
        EXPECT_LE(census.others_at_load[load], expected) << "crowd " << crowd << ", load " << load;
        EXPECT_GE(census.others_at_load[load], expected - 1)
            << "crowd " << crowd << ", load " << load;
      }
    }
    for (const int live : census.live) EXPECT_EQ(live, 0) << "crowd " << crowd;
  }
}

// Where the loads and the inferences ran: every CPU set seen, per side.
struct Placements {
  std::mutex mutex;
  std::set<std::vector<int>> loads, inferences;
};

class PlacedModel final : public LoadedModel {
 public:
  explicit PlacedModel(Placements& seen) : seen_(seen) {}
  const std::vector<TensorSpec>& inputs() const override { return specs_; }
  const std::vector<TensorSpec>& outputs() const override { return specs_; }
  std::vector<Tensor> infer(const std::vector<Tensor>&) override {
    std::lock_guard lock(seen_.mutex);
    seen_.inferences.insert(thread_cpus());
    return {};
  }
  double load_time_s() const override { return 0.001; }
  std::uint64_t resident_bytes() const override { return 1000; }

 private:
  Placements& seen_;
  std::vector<TensorSpec> specs_{TensorSpec{"x", DType::kFloat32, {1, 2}}};
};

TEST(RuntimeProfiler, LoadsAndInferencesRunOnTheCpusGiven) {
  const std::vector<int> allowed = allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  Placements seen;
  std::vector<ProfileSubject> subjects(2);
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    subjects[i].name = "m" + std::to_string(i);
    subjects[i].backend = "fake";
    subjects[i].load = [&seen]() -> std::unique_ptr<LoadedModel> {
      std::lock_guard lock(seen.mutex);
      seen.loads.insert(thread_cpus());
      return std::make_unique<PlacedModel>(seen);
    };
  }
  ProfileOptions options;
  options.cold_pause_s = 0.02;  // the cold inferences quickly (their own test sets it)
  options.runs = 2;
  options.execs_per_load = 2;
  options.exec_cpus = {allowed.back()};
  options.load_cpus = {allowed.front()};
  const auto profiles = profile_subjects(subjects, options);
  for (const auto& p : profiles) EXPECT_TRUE(p.error.empty()) << p.error;
  EXPECT_EQ(seen.loads, (std::set<std::vector<int>>{{allowed.front()}}));
  EXPECT_EQ(seen.inferences, (std::set<std::vector<int>>{{allowed.back()}}));
  EXPECT_EQ(thread_cpus(), allowed);  // the caller's CPUs are given back after the profile
}

// A model whose inference takes 10x longer on non-zero inputs than on zeros, as some real ones
// run longer on values than on zeros (docs/fidelity.md, "Inputs of zeros").
class ValueSensitiveModel final : public LoadedModel {
 public:
  const std::vector<TensorSpec>& inputs() const override { return specs_; }
  const std::vector<TensorSpec>& outputs() const override { return specs_; }
  std::vector<Tensor> infer(const std::vector<Tensor>& inputs) override {
    const auto& data = inputs.at(0).data;
    const bool zeros =
        std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
    std::this_thread::sleep_for(std::chrono::duration<double>(zeros ? 0.002 : 0.02));
    return {};
  }
  double load_time_s() const override { return 0.001; }
  std::uint64_t resident_bytes() const override { return 1000; }

 private:
  std::vector<TensorSpec> specs_{TensorSpec{"x", DType::kFloat32, {1, 64}}};
};

TEST(RuntimeProfiler, InferencesAreTimedOnValuesNotZeros) {
  ProfileSubject subject;
  subject.name = "values";
  subject.backend = "fake";
  subject.load = [] { return std::make_unique<ValueSensitiveModel>(); };
  const auto profiles = profile_subjects({subject}, one_round_without_interference());
  ASSERT_EQ(profiles.size(), 1u);
  // 0.02 s on values (sleeps only run longer); 0.002 s had the inputs been zeros.
  EXPECT_GE(profiles[0].exec.mean_s, 0.02);
  EXPECT_GE(profiles[0].first_exec.mean_s, 0.02);
}

}  // namespace
}  // namespace brulee::runtime
