// The server's prefetching (docs/prefetch.md): a demand miss arriving while a prefetch loads is
// served without waiting for it (the prefetch is abandoned, its load discarded and its bytes
// released when it returns), a request for the model being prefetched waits for that load and
// uses it, and the counters reach /metrics. Ordering only: the fake backend's gates hold loads.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "fake_model.hpp"
#include "serve/metrics.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve {
namespace {

using testing::fake_models;
using testing::FakeLoader;
using testing::Gate;
using namespace std::chrono_literals;

std::vector<runtime::Tensor> input() {
  return {{"x", runtime::DType::kFloat32, {1}, std::vector<std::byte>(sizeof(float))}};
}

const ModelSnapshot& model_of(const CacheSnapshot& snap, const std::string& name) {
  for (const auto& m : snap.models) {
    if (m.name == name) return m;
  }
  throw std::logic_error("no model " + name);
}

// Three models of 4 bytes in 8, of equal costs. m0's request leaves 4 bytes free and the loader
// idle: the warm-up loads m1 (never requested; equal costs per byte, so by id), and m2 no longer
// fits. m1's request uses that prefetch; m2's evicts m0 (LRU; no resident model is below half
// m0's predicted utility and no model is left to warm, so nothing is prefetched while memory is
// full); m1 is unloaded by hand, and a hit on m2 leaves the loader idle with 4 bytes free: the
// prefetcher loads m0 back (the only model ever evicted), on its own thread, where m0's gate
// holds it. `warm_` holds the counters before m0's prefetch (the warm-up's prefetch of m1).
class PrefetchFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.memory_bytes = 8;
    options_.policy = "lru";
    options_.exec_threads = 1;
    options_.prefetch = true;
    options_.ewma_alpha = 0.0;  // equal, fixed costs: only recency and counts tell models apart
    std::vector<ServedModel> models = fake_models(3, 4);
    for (auto& m : models) {
      m.load_latency_s = 1.0;
      m.exec_latency_s = 0.01;
    }
    scheduler_ = std::make_unique<Scheduler>(models, loader_, options_);
    for (const char* name : {"m0", "m1", "m2"}) {
      const InferOutcome outcome = submit(name).get();
      ASSERT_EQ(outcome.status, Status::kOk) << name;
      ASSERT_EQ(outcome.hit, std::string(name) == "m1") << name;  // m1: warmed up
      ASSERT_TRUE(scheduler_->wait_prefetch_settled(60s));
    }
    ASSERT_EQ(loader_.loads("m1"), 1);
    ASSERT_EQ(model_of(scheduler_->snapshot(), "m0").state, ModelState::kAbsent);
    warm_ = *scheduler_->snapshot().prefetch;
    ASSERT_EQ(warm_.prefetches, 1u);
    ASSERT_EQ(warm_.prefetches_used, 1u);
    loader_.set_model_gate("m0", &m0_gate_);
    m0_gate_.close();
    ASSERT_EQ(scheduler_->unload(*scheduler_->find("m1")).status, Status::kOk);
    ASSERT_EQ(submit("m2").get().status, Status::kOk);  // the hit's end: the loader is idle
    m0_gate_.await_waiters(1);                          // the prefetch of m0 is loading
    const CacheSnapshot snap = scheduler_->snapshot();
    ASSERT_TRUE(snap.prefetch);
    ASSERT_EQ(snap.prefetch->prefetches, warm_.prefetches + 1);
    ASSERT_EQ(model_of(snap, "m0").state, ModelState::kLoading);
    ASSERT_EQ(loader_.loads("m0"), 2);
  }
  void TearDown() override {
    m0_gate_.open();
    if (scheduler_) scheduler_->stop();
  }
  std::future<InferOutcome> submit(const std::string& name) {
    return scheduler_->submit(*scheduler_->find(name), input(), Clock::now() + 60s);
  }

  FakeLoader loader_;
  Gate m0_gate_;
  SchedulerOptions options_;
  std::unique_ptr<Scheduler> scheduler_;
  PrefetchCounters warm_;
};

TEST_F(PrefetchFixture, ADemandMissIsServedWhileThePrefetchIsStuck) {
  // m1 is absent: its request needs a load. It is answered while m0's load cannot return.
  const InferOutcome outcome = submit("m1").get();
  EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
  EXPECT_FALSE(outcome.hit);
  CacheSnapshot snap = scheduler_->snapshot();
  EXPECT_EQ(snap.prefetch->prefetches_cancelled, 1u);
  EXPECT_EQ(snap.prefetch->prefetches_used, warm_.prefetches_used);
  EXPECT_EQ(model_of(snap, "m0").state, ModelState::kAbsent);  // abandoned at once
  EXPECT_EQ(model_of(snap, "m0").resident_bytes, 0u);
  EXPECT_EQ(snap.used_bytes, 8u);  // m1 and m2: the abandoned load holds nothing of the budget
  // The abandoned load returns: its model is discarded, its bytes released.
  m0_gate_.open();
  ASSERT_TRUE(scheduler_->wait_prefetch_settled(60s));
  scheduler_->stop();
  snap = scheduler_->snapshot();
  EXPECT_EQ(model_of(snap, "m0").state, ModelState::kAbsent);
  EXPECT_EQ(snap.used_bytes, 8u);
  EXPECT_EQ(loader_.live_bytes.load(), 8);  // m1 and m2 only
  // Nothing prefetched after the cancellation; all of m0's prefetch was wasted.
  EXPECT_EQ(snap.prefetch->prefetches, warm_.prefetches + 1);
  EXPECT_GE(snap.prefetch->prefetch_wasted_s,
            snap.prefetch->prefetch_load_s - warm_.prefetch_load_s);
}

TEST_F(PrefetchFixture, ADemandMissGetsThePrefetchsMemoryAtOnce) {
  // m2 executes, held at the execution gate (so pinned): m1's load can only have the memory that
  // m0's prefetch reserved. It gets it (the prefetch is abandoned) while m0's load is still held.
  loader_.exec_gate.close();
  std::future<InferOutcome> hit = submit("m2");
  loader_.exec_gate.await_waiters(1);
  std::future<InferOutcome> miss = submit("m1");
  // Wait (bounded) for m1 to be loaded; it cannot be while the prefetch keeps its memory.
  const auto give_up = Clock::now() + 60s;
  while (model_of(scheduler_->snapshot(), "m1").state != ModelState::kReady &&
         Clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  const CacheSnapshot snap = scheduler_->snapshot();
  EXPECT_EQ(model_of(snap, "m1").state, ModelState::kReady);
  EXPECT_EQ(model_of(snap, "m0").state, ModelState::kAbsent);
  EXPECT_EQ(snap.prefetch->prefetches_cancelled, 1u);
  EXPECT_EQ(loader_.loads("m0"), 2);  // the prefetch's load, still held at its gate
  loader_.exec_gate.open();
  EXPECT_EQ(hit.get().status, Status::kOk);
  EXPECT_EQ(miss.get().status, Status::kOk);
}

TEST_F(PrefetchFixture, ARequestForThePrefetchedModelWaitsForItsLoad) {
  std::future<InferOutcome> waiting = submit("m0");
  // While m0's load is held the request cannot be answered; a miss for m1 now would not cancel
  // the prefetch either (a request waits for it).
  EXPECT_EQ(waiting.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(scheduler_->snapshot().prefetch->prefetches_used, warm_.prefetches_used + 1);
  m0_gate_.open();
  const InferOutcome outcome = waiting.get();
  EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
  EXPECT_FALSE(outcome.hit);  // it waited for a load
  const CacheSnapshot snap = scheduler_->snapshot();
  EXPECT_EQ(loader_.loads("m0"), 2);  // one load: the prefetch's
  EXPECT_EQ(snap.prefetch->prefetches_used, warm_.prefetches_used + 1);
  EXPECT_EQ(snap.prefetch->prefetches_cancelled, 0u);
  EXPECT_EQ(model_of(snap, "m0").state, ModelState::kReady);
  EXPECT_EQ(snap.prefetch->prefetch_wasted_s, 0.0);
}

TEST_F(PrefetchFixture, TheCountersReachTheMetrics) {
  m0_gate_.open();
  ASSERT_TRUE(scheduler_->wait_prefetch_settled(60s));
  ASSERT_EQ(submit("m0").get().status, Status::kOk);  // a hit on the prefetched model
  const CacheSnapshot snap = scheduler_->snapshot();
  EXPECT_TRUE(model_of(snap, "m0").counters.hits >= 1);
  EXPECT_EQ(snap.prefetch->prefetches_used, warm_.prefetches_used + 1);
  Metrics metrics(snap.models.size());
  const std::string text = metrics.render(snap);
  snap.prefetch->for_each([&](const CounterInfo& info, auto) {
    EXPECT_NE(text.find("\n" + std::string(info.metric) + " "), std::string::npos) << info.metric;
  });
  EXPECT_NE(text.find("\nbrulee_prefetches_used_total 2\n"), std::string::npos);
}

TEST(Prefetch, OffByDefaultNothingIsPrefetchedOrReported) {
  FakeLoader loader;
  SchedulerOptions options;
  options.memory_bytes = 8;
  options.policy = "lru";
  Scheduler scheduler(fake_models(3, 4), loader, options);
  for (const char* name : {"m0", "m1", "m2", "m2"}) {
    ASSERT_EQ(scheduler.submit(*scheduler.find(name), input(), Clock::now() + 60s).get().status,
              Status::kOk);
  }
  ASSERT_EQ(scheduler.unload(*scheduler.find("m1")).status, Status::kOk);
  ASSERT_EQ(scheduler.submit(*scheduler.find("m2"), input(), Clock::now() + 60s).get().status,
            Status::kOk);
  scheduler.stop();
  EXPECT_EQ(loader.loads("m0"), 1);
  const CacheSnapshot snap = scheduler.snapshot();
  EXPECT_FALSE(snap.prefetch);
  Metrics metrics(snap.models.size());
  EXPECT_EQ(metrics.render(snap).find("prefetch"), std::string::npos);
}

}  // namespace
}  // namespace brulee::serve
