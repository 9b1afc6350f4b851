// The scheduler alone (no HTTP), over the fake runtime (fake_model.hpp): the residency state
// machine's table, failed loads (back-off, the failed mark and what clears it), cancellation,
// and the counters' one list. Assertions are on counts and states, never on durations.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/model_cache.hpp"
#include "fake_model.hpp"
#include "runtime/cpus.hpp"
#include "serve/metrics.hpp"
#include "serve/scheduler.hpp"
#include "task_cpus.hpp"

namespace brulee::serve {
namespace {

using testing::fake_models;
using testing::FakeLoader;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

std::vector<runtime::Tensor> one_input() {
  runtime::Tensor x{"x", runtime::DType::kFloat32, {1}, std::vector<std::byte>(sizeof(float))};
  return {x};
}

Clock::time_point later() { return Clock::now() + 60s; }

SchedulerOptions options_with(std::uint64_t memory_bytes) {
  SchedulerOptions options;
  options.memory_bytes = memory_bytes;
  options.policy = "lru";
  return options;
}

const ModelSnapshot& entry(const CacheSnapshot& snap, const std::string& name) {
  for (const auto& m : snap.models) {
    if (m.name == name) return m;
  }
  throw std::runtime_error("no model " + name);
}

// Polls until `done` holds (states that settle on a loader thread after a request is answered).
template <typename Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

ModelState state_of(Scheduler& scheduler, const std::string& name) {
  for (const auto& m : scheduler.snapshot().models) {
    if (m.name == name) return m.state;
  }
  throw std::runtime_error("no model " + name);
}

InferOutcome infer(Scheduler& scheduler, ModelId id) {
  return scheduler.submit(id, one_input(), later()).get();
}

// A request submitted with a callback, which counts its calls.
struct Submitted {
  RequestTicket ticket;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::promise<InferOutcome>> promise =
      std::make_shared<std::promise<InferOutcome>>();
  std::shared_future<InferOutcome> outcome = promise->get_future().share();
};

Submitted submit(Scheduler& scheduler, ModelId id, Clock::time_point deadline = later()) {
  Submitted submitted;
  submitted.ticket = scheduler.submit(
      id, one_input(), deadline, std::nullopt,
      [calls = submitted.calls, promise = submitted.promise](InferOutcome outcome) {
        if (++*calls == 1) promise->set_value(std::move(outcome));
      });
  return submitted;
}

// Options under which m0's loads always fail: an 8 MiB budget, back-off from `backoff_s`.
SchedulerOptions failing_options(double backoff_s) {
  SchedulerOptions options = options_with(8 * kMiB);
  options.load_backoff_initial_s = backoff_s;
  return options;
}

// A scheduler over `models` whose m0 always fails to load.
std::unique_ptr<Scheduler> with_failing_m0(FakeLoader& loader, const SchedulerOptions& options,
                                           std::vector<ServedModel> models = fake_models(1, kMiB)) {
  loader.set_failing("m0");
  return std::make_unique<Scheduler>(std::move(models), loader, options);
}

// A file for a model whose path the scheduler reads (its fingerprint); removed at the end.
class TempFile {
 public:
  TempFile() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("brulee_sched_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    append("v1");
  }
  ~TempFile() {
    std::error_code error;
    std::filesystem::remove(path_, error);
  }
  void append(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::app);
    out << bytes;
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// m0, on `file`, marked failed after 3 failed loads; the file is read at most every interval_s.
std::unique_ptr<Scheduler> failed_on_file(FakeLoader& loader, const TempFile& file,
                                          double interval_s) {
  auto models = fake_models(1, kMiB);
  models[0].path = file.path();
  SchedulerOptions options = failing_options(0.0);
  options.file_check_interval_s = interval_s;
  auto scheduler = with_failing_m0(loader, options, models);
  for (int i = 0; i < 3; ++i) infer(*scheduler, 0);
  return scheduler;
}

// ---- the state machine ----------------------------------------------------------------------

TEST(SchedulerStates, TheTableAllowsExactlyTheDocumentedChanges) {
  using S = ModelState;
  const std::vector<S> states{S::kAbsent, S::kWaiting,   S::kLoading,
                              S::kReady,  S::kUnloading, S::kFailed};
  const std::set<std::pair<S, S>> legal{
      {S::kAbsent, S::kWaiting},    {S::kWaiting, S::kLoading}, {S::kWaiting, S::kAbsent},
      {S::kLoading, S::kReady},     {S::kLoading, S::kWaiting}, {S::kLoading, S::kAbsent},
      {S::kLoading, S::kFailed},    {S::kReady, S::kUnloading}, {S::kUnloading, S::kAbsent},
      {S::kUnloading, S::kWaiting}, {S::kFailed, S::kAbsent},
  };
  for (const S from : states) {
    for (const S to : states) {
      const bool expected = legal.contains({from, to});
      EXPECT_EQ(transition_allowed(from, to), expected)
          << state_name(from) << " -> " << state_name(to);
      if (expected) {
        EXPECT_NO_THROW(check_transition(from, to));
      } else {
        EXPECT_THROW(check_transition(from, to), std::logic_error);
      }
    }
  }
  try {
    check_transition(S::kAbsent, S::kReady);
    FAIL() << "absent -> ready was allowed";
  } catch (const std::logic_error& error) {
    EXPECT_NE(std::string(error.what()).find("absent -> ready"), std::string::npos) << error.what();
  }
  EXPECT_EQ(state_name(S::kFailed), "failed");
  EXPECT_EQ(status_name(Status::kCancelled), "cancelled");
}

// Every path below changes states only through the checked function: an illegal change would
// throw (on a scheduler thread: terminate the test). This one walks load, eviction, explicit
// unload, a load that does not fit yet and a failed load.
TEST(SchedulerStates, TheUsualPathsStayInsideTheTable) {
  auto models = fake_models(3, kMiB);
  FakeLoader loader;
  loader.set_failing("m2");
  SchedulerOptions options = options_with(2 * kMiB);
  options.load_backoff_initial_s = 0.0;
  Scheduler scheduler(models, loader, options);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
  EXPECT_EQ(infer(scheduler, 1).status, Status::kOk);
  loader.measured["m0"] = 2 * kMiB;  // the reload is larger than its estimate: m1 must go
  ASSERT_EQ(scheduler.unload(0).status, Status::kOk);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
  EXPECT_TRUE(eventually([&] { return state_of(scheduler, "m1") == ModelState::kAbsent; }));
  EXPECT_EQ(entry(scheduler.snapshot(), "m1").counters.evictions, 1u);
  EXPECT_EQ(infer(scheduler, 2).status, Status::kFailed);  // evicts m0 for its try
  EXPECT_EQ(infer(scheduler, 1).status, Status::kOk);
  EXPECT_TRUE(eventually([&] { return state_of(scheduler, "m0") == ModelState::kAbsent; }));
  const CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "m1").state, ModelState::kReady);
  EXPECT_EQ(entry(snap, "m2").state, ModelState::kAbsent);
  EXPECT_LE(snap.used_bytes, options.memory_bytes);
}

// "Can make room" is asked before acting: the answer matches what make_room then does.
TEST(SchedulerStates, CanMakeRoomAnswersWhatMakeRoomDoes) {
  ModelTable table(3);
  for (std::size_t i = 0; i < table.size(); ++i) {
    table[i].name = "m" + std::to_string(i);
    table[i].size_bytes = 4;
  }
  ModelCache cache(10, table, make_policy("lru", table, {}));
  std::vector<ModelId> evicted;
  cache.admit(0, evicted);
  cache.admit(1, evicted);
  EXPECT_TRUE(cache.can_make_room(2));    // free already
  EXPECT_TRUE(cache.can_make_room(10));   // evicting both
  EXPECT_FALSE(cache.can_make_room(11));  // more than the capacity
  cache.state().pin(0);
  EXPECT_TRUE(cache.can_make_room(6));   // 2 free + m1
  EXPECT_FALSE(cache.can_make_room(7));  // m0 is pinned
  EXPECT_THROW(cache.make_room(7, evicted), CacheError);
  cache.make_room(6, evicted);
  EXPECT_EQ(evicted, (std::vector<ModelId>{1}));
  cache.state().unpin(0);
}

// ---- failed loads -----------------------------------------------------------------------------

// The reported problem: a model whose load always fails was loaded again, exclusively, on every
// request. Now one failed load is followed by a back-off during which requests are answered at
// once (kUnavailable, retry_after_s, the reason) and start no load.
TEST(SchedulerFailedLoads, RequestsDuringTheBackOffAreRefusedWithoutLoading) {
  FakeLoader loader;
  auto owned = with_failing_m0(loader, failing_options(600.0));  // longer than the test
  Scheduler& scheduler = *owned;
  const InferOutcome first = infer(scheduler, 0);
  EXPECT_EQ(first.status, Status::kFailed);
  EXPECT_NE(first.error.find("corrupt file"), std::string::npos) << first.error;
  for (int i = 0; i < 20; ++i) {
    const InferOutcome refused = infer(scheduler, 0);
    EXPECT_EQ(refused.status, Status::kUnavailable);
    EXPECT_GT(refused.retry_after_s, 0.0);
    EXPECT_LE(refused.retry_after_s, 600.0);
    EXPECT_NE(refused.error.find("corrupt file"), std::string::npos) << refused.error;
  }
  EXPECT_EQ(loader.loads("m0"), 1);
  const CacheSnapshot snap = scheduler.snapshot();
  const ModelSnapshot& m0 = entry(snap, "m0");
  EXPECT_EQ(m0.state, ModelState::kAbsent);
  EXPECT_FALSE(m0.failed);
  EXPECT_TRUE(m0.servable);  // backing off is not failed
  EXPECT_EQ(m0.consecutive_failures, 1u);
  EXPECT_GT(m0.backoff_remaining_s, 0.0);
  EXPECT_NE(m0.last_error.find("corrupt file"), std::string::npos);
  EXPECT_EQ(m0.counters.load_failures, 1u);
  EXPECT_EQ(m0.counters.requests, 1u);  // refused requests are not accepted ...
  EXPECT_EQ(m0.counters.rejected, 20u);
  EXPECT_EQ(m0.counters.errors, 1u);
  EXPECT_EQ(m0.pins, 0u);  // ... and hold no pin
  EXPECT_EQ(snap.queued, 0u);
  EXPECT_TRUE(scheduler.servable(0));
}

// The back-off doubles from load_backoff_initial_s up to load_backoff_max_s (the load events say
// how long), and a request after it ends loads again.
TEST(SchedulerFailedLoads, TheBackOffDoublesUpToItsCapAndEnds) {
  FakeLoader loader;
  loader.set_failing("m0");
  SchedulerOptions options = failing_options(0.01);
  options.load_backoff_max_s = 0.03;
  options.load_failures_until_failed = 0;  // never marked failed
  std::mutex mutex;
  std::vector<std::string> failures;
  Scheduler scheduler(fake_models(1, kMiB), loader, options, [&](const SchedulerEvent& event) {
    if (event.kind != SchedulerEvent::Kind::kLoadFailed) return;
    std::lock_guard lock(mutex);
    failures.push_back(event.detail);
  });
  for (int load = 1; load <= 4; ++load) {
    // Sleep past the current back-off (at most 30 ms), then a request loads again.
    std::this_thread::sleep_for(40ms);
    EXPECT_EQ(infer(scheduler, 0).status, Status::kFailed) << "load " << load;
    EXPECT_EQ(loader.loads("m0"), load);
  }
  // The event is emitted after the requests are answered.
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return failures.size() == 4;
  }));
  std::lock_guard lock(mutex);
  ASSERT_EQ(failures.size(), 4u);
  EXPECT_NE(failures[0].find("1 consecutive failed load(s), requests refused for 0.01 s"),
            std::string::npos)
      << failures[0];
  EXPECT_NE(failures[1].find("refused for 0.02 s"), std::string::npos) << failures[1];
  EXPECT_NE(failures[2].find("refused for 0.03 s"), std::string::npos) << failures[2];
  EXPECT_NE(failures[3].find("4 consecutive failed load(s), requests refused for 0.03 s"),
            std::string::npos)
      << failures[3];
  EXPECT_FALSE(entry(scheduler.snapshot(), "m0").failed);
}

// After load_failures_until_failed consecutive failures the model is marked failed: requests get
// kFailed at once with the reason, no load is tried, and the model is not servable.
TEST(SchedulerFailedLoads, RepeatedFailuresMarkTheModelFailed) {
  FakeLoader loader;
  SchedulerOptions options = failing_options(0.0);  // every request may load: no sleeps needed
  options.load_failures_until_failed = 3;
  auto owned = with_failing_m0(loader, options);
  Scheduler& scheduler = *owned;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(scheduler.servable(0));
    EXPECT_EQ(infer(scheduler, 0).status, Status::kFailed);
  }
  EXPECT_EQ(loader.loads("m0"), 3);
  for (int i = 0; i < 10; ++i) {
    const InferOutcome refused = infer(scheduler, 0);
    EXPECT_EQ(refused.status, Status::kFailed);
    EXPECT_NE(refused.error.find("marked failed after 3 consecutive failed loads"),
              std::string::npos)
        << refused.error;
    EXPECT_NE(refused.error.find("corrupt file"), std::string::npos) << refused.error;
  }
  EXPECT_EQ(loader.loads("m0"), 3);
  EXPECT_FALSE(scheduler.servable(0));
  const ModelSnapshot m0 = entry(scheduler.snapshot(), "m0");
  EXPECT_EQ(m0.state, ModelState::kFailed);
  EXPECT_TRUE(m0.failed);
  EXPECT_FALSE(m0.servable);
  EXPECT_EQ(m0.consecutive_failures, 3u);
  EXPECT_EQ(m0.backoff_remaining_s, 0.0);
  EXPECT_EQ(m0.counters.load_failures, 3u);
  EXPECT_EQ(m0.counters.rejected, 10u);
  EXPECT_EQ(m0.pins, 0u);
  EXPECT_EQ(scheduler.unload(0).status, Status::kOk);  // nothing resident to unload
}

// An explicit load (the operator's) clears the mark and tries once: failing again marks the
// model failed again at once; a success resets everything.
TEST(SchedulerFailedLoads, AnExplicitLoadClearsTheMarkAndTriesOnce) {
  FakeLoader loader;
  auto owned = with_failing_m0(loader, failing_options(0.0));
  Scheduler& scheduler = *owned;
  for (int i = 0; i < 3; ++i) infer(scheduler, 0);
  ASSERT_TRUE(entry(scheduler.snapshot(), "m0").failed);

  const LoadOutcome again = scheduler.load(0).get();
  EXPECT_EQ(again.status, Status::kFailed);
  EXPECT_NE(again.error.find("corrupt file"), std::string::npos) << again.error;
  EXPECT_EQ(loader.loads("m0"), 4);
  EXPECT_TRUE(entry(scheduler.snapshot(), "m0").failed);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kFailed);
  EXPECT_EQ(loader.loads("m0"), 4);

  loader.set_failing("m0", false);
  EXPECT_EQ(scheduler.load(0).get().status, Status::kOk);
  EXPECT_EQ(loader.loads("m0"), 5);
  const ModelSnapshot m0 = entry(scheduler.snapshot(), "m0");
  EXPECT_EQ(m0.state, ModelState::kReady);
  EXPECT_FALSE(m0.failed);
  EXPECT_EQ(m0.consecutive_failures, 0u);
  EXPECT_TRUE(m0.last_error.empty());
  EXPECT_TRUE(scheduler.servable(0));
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
}

// An explicit load also skips a back-off.
TEST(SchedulerFailedLoads, AnExplicitLoadDoesNotWaitForTheBackOff) {
  FakeLoader loader;
  auto owned = with_failing_m0(loader, failing_options(600.0));
  Scheduler& scheduler = *owned;
  EXPECT_EQ(infer(scheduler, 0).status, Status::kFailed);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kUnavailable);
  loader.set_failing("m0", false);
  EXPECT_EQ(scheduler.load(0).get().status, Status::kOk);
  EXPECT_EQ(loader.loads("m0"), 2);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
  EXPECT_EQ(entry(scheduler.snapshot(), "m0").backoff_remaining_s, 0.0);
}

// A changed model file (size, mtime, inode) clears the mark: readiness turns true without a
// request (so a client waiting for readiness sees the fix), and the next request loads.
TEST(SchedulerFailedLoads, AChangedFileClearsTheMark) {
  TempFile file;
  FakeLoader loader;
  auto owned = failed_on_file(loader, file, 0.0);  // the file is read at every look
  Scheduler& scheduler = *owned;
  ASSERT_TRUE(entry(scheduler.snapshot(), "m0").failed);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kFailed);  // the file did not change
  EXPECT_FALSE(scheduler.servable(0));
  EXPECT_EQ(loader.loads("m0"), 3);

  file.append(" fixed");
  loader.set_failing("m0", false);
  EXPECT_TRUE(scheduler.servable(0));
  const ModelSnapshot cleared = entry(scheduler.snapshot(), "m0");
  EXPECT_EQ(cleared.state, ModelState::kAbsent);
  EXPECT_FALSE(cleared.failed);
  EXPECT_EQ(cleared.consecutive_failures, 0u);
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
  EXPECT_EQ(loader.loads("m0"), 4);
}

// The file is read at most once per file_check_interval_s: within the interval a changed file is
// not noticed by requests (an explicit load always looks).
TEST(SchedulerFailedLoads, TheFileIsReadAtMostOncePerInterval) {
  TempFile file;
  FakeLoader loader;
  auto owned = failed_on_file(loader, file, 3600.0);
  Scheduler& scheduler = *owned;
  ASSERT_TRUE(entry(scheduler.snapshot(), "m0").failed);
  file.append(" fixed");
  EXPECT_EQ(infer(scheduler, 0).status, Status::kFailed);
  EXPECT_FALSE(scheduler.servable(0));
  EXPECT_EQ(loader.loads("m0"), 3);
  loader.set_failing("m0", false);
  EXPECT_EQ(scheduler.load(0).get().status, Status::kOk);
  EXPECT_EQ(loader.loads("m0"), 4);
}

// The reported interference: clients hammering a model whose load always fails no longer cost
// other models anything: one load attempt in all, and every request of the resident model is a
// hit served without error.
TEST(SchedulerFailedLoads, AFailingModelLeavesOtherModelsAlone) {
  FakeLoader loader;
  auto owned = with_failing_m0(loader, failing_options(600.0), fake_models(2, kMiB));
  Scheduler& scheduler = *owned;
  ASSERT_EQ(infer(scheduler, 1).status, Status::kOk);
  constexpr int kClients = 4;
  constexpr int kRequests = 50;
  std::atomic<int> bad_other{0};
  std::atomic<int> failing_ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < kRequests; ++i) {
        if (infer(scheduler, 0).status == Status::kOk) ++failing_ok;
      }
    });
    clients.emplace_back([&] {
      for (int i = 0; i < kRequests; ++i) {
        const InferOutcome outcome = infer(scheduler, 1);
        if (outcome.status != Status::kOk || !outcome.hit) ++bad_other;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(failing_ok.load(), 0);
  EXPECT_EQ(bad_other.load(), 0);
  EXPECT_EQ(loader.loads("m0"), 1);
  EXPECT_EQ(loader.loads("m1"), 1);
  const CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "m1").counters.hits, std::uint64_t{kClients * kRequests});
  EXPECT_EQ(entry(snap, "m1").counters.evictions, 0u);
  EXPECT_EQ(entry(snap, "m0").counters.load_failures, 1u);
  EXPECT_EQ(entry(snap, "m0").counters.rejected + entry(snap, "m0").counters.requests,
            std::uint64_t{kClients * kRequests});
}

// ---- cancellation -----------------------------------------------------------------------------

TEST(SchedulerCancel, AQueuedRequestLeavesWithoutRunning) {
  auto models = fake_models(1, kMiB);
  FakeLoader loader;
  SchedulerOptions options = options_with(8 * kMiB);
  options.exec_threads = 1;
  options.inline_exec_max_s = -1.0;  // everything through the execution thread
  Scheduler scheduler(models, loader, options);
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  loader.exec_gate.close();
  Submitted running = submit(scheduler, 0);
  loader.exec_gate.await_waiters(1);
  Submitted queued = submit(scheduler, 0);
  Submitted expired = submit(scheduler, 0, Clock::now() + 1ms);
  ASSERT_TRUE(queued.ticket);
  ASSERT_TRUE(expired.ticket);
  EXPECT_EQ(entry(scheduler.snapshot(), "m0").pins, 3u);

  EXPECT_TRUE(scheduler.cancel(queued.ticket));
  ASSERT_EQ(queued.calls->load(), 1);  // answered before cancel returned
  EXPECT_EQ(queued.outcome.get().status, Status::kCancelled);
  EXPECT_FALSE(queued.outcome.get().error.empty());
  EXPECT_FALSE(scheduler.cancel(queued.ticket));  // once only
  std::this_thread::sleep_for(5ms);               // let the second deadline pass
  EXPECT_TRUE(scheduler.cancel(expired.ticket));
  EXPECT_EQ(expired.outcome.get().status, Status::kTimeout);
  EXPECT_FALSE(scheduler.cancel(running.ticket));  // executing: it finishes as usual
  EXPECT_FALSE(scheduler.cancel(RequestTicket{}));

  CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "m0").pins, 1u);
  EXPECT_EQ(entry(snap, "m0").queue_depth, 0u);
  EXPECT_EQ(snap.queued, 0u);
  EXPECT_EQ(entry(snap, "m0").counters.cancelled, 1u);
  EXPECT_EQ(entry(snap, "m0").counters.timeouts, 1u);

  loader.exec_gate.open();
  EXPECT_EQ(running.outcome.get().status, Status::kOk);
  EXPECT_TRUE(scheduler.drain(10s));
  snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "m0").pins, 0u);
  EXPECT_EQ(queued.calls->load(), 1);
  EXPECT_EQ(expired.calls->load(), 1);
  EXPECT_EQ(running.calls->load(), 1);
}

// A cancelled miss that was waiting for room takes its model out of the waiting list: no load
// happens for nobody.
TEST(SchedulerCancel, ACancelledMissWaitingForRoomLeavesNoLoadBehind) {
  auto models = fake_models(2, kMiB);
  FakeLoader loader;
  SchedulerOptions options = options_with(kMiB);  // room for one model
  options.exec_threads = 1;
  options.inline_exec_max_s = -1.0;
  Scheduler scheduler(models, loader, options);
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  loader.exec_gate.close();
  Submitted running = submit(scheduler, 0);  // pins m0: no room for m1
  loader.exec_gate.await_waiters(1);
  Submitted miss = submit(scheduler, 1);
  ASSERT_TRUE(miss.ticket);
  EXPECT_EQ(entry(scheduler.snapshot(), "m1").state, ModelState::kWaiting);
  EXPECT_TRUE(scheduler.cancel(miss.ticket));
  EXPECT_EQ(miss.outcome.get().status, Status::kCancelled);
  EXPECT_EQ(entry(scheduler.snapshot(), "m1").state, ModelState::kAbsent);
  loader.exec_gate.open();
  EXPECT_EQ(running.outcome.get().status, Status::kOk);
  EXPECT_TRUE(scheduler.drain(10s));
  EXPECT_EQ(loader.loads("m1"), 0);
  const CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "m0").state, ModelState::kReady);
  EXPECT_EQ(entry(snap, "m1").pins, 0u);
}

// A load that cannot make room waits, and a later one that fits starts before it
// (start_loads_locked skips it): the simulator's --parallel-load models the same order
// (sim_examples_test, ParallelLoadStartsALaterLoadThatFitsBeforeOneWaitingForRoom, the same
// sizes: memory 3, m0 and m1 2 each, m2 1).
TEST(SchedulerStates, ALoadThatFitsPassesOneWaitingForRoom) {
  auto models = fake_models(3, 2 * kMiB);
  models[2].estimate_bytes = kMiB;
  for (auto& model : models) model.size_profiled = true;  // first loads beside inferences
  FakeLoader loader;
  SchedulerOptions options = options_with(3 * kMiB);
  options.exec_threads = 1;
  options.inline_exec_max_s = -1.0;
  options.concurrent_first_loads = true;
  Scheduler scheduler(models, loader, options);
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  loader.exec_gate.close();
  Submitted running = submit(scheduler, 0);  // pins m0: 1 MiB free, too little for m1
  loader.exec_gate.await_waiters(1);
  Submitted blocked = submit(scheduler, 1);
  EXPECT_EQ(state_of(scheduler, "m1"), ModelState::kWaiting);
  Submitted fits = submit(scheduler, 2);
  EXPECT_TRUE(eventually([&] { return state_of(scheduler, "m2") == ModelState::kReady; }));
  EXPECT_EQ(state_of(scheduler, "m1"), ModelState::kWaiting);  // still: m0 is pinned
  EXPECT_EQ(loader.loads("m1"), 0);
  loader.exec_gate.open();
  EXPECT_EQ(running.outcome.get().status, Status::kOk);
  EXPECT_EQ(blocked.outcome.get().status, Status::kOk);
  EXPECT_EQ(fits.outcome.get().status, Status::kOk);
  EXPECT_TRUE(scheduler.drain(10s));
  const CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "m0").state, ModelState::kAbsent);  // evicted for m1
  EXPECT_EQ(entry(snap, "m1").state, ModelState::kReady);
  EXPECT_EQ(entry(snap, "m2").state, ModelState::kReady);
}

// A request cancelled while its model loads leaves; the load completes and serves later ones.
TEST(SchedulerCancel, ACancelledMissDuringItsLoadLeavesTheLoadRunning) {
  auto models = fake_models(1, kMiB);
  FakeLoader loader;
  Scheduler scheduler(models, loader, options_with(8 * kMiB));
  loader.load_gate.close();
  Submitted miss = submit(scheduler, 0);
  loader.load_gate.await_waiters(1);
  EXPECT_TRUE(scheduler.cancel(miss.ticket));
  EXPECT_EQ(miss.outcome.get().status, Status::kCancelled);
  loader.load_gate.open();
  EXPECT_TRUE(scheduler.drain(10s));
  const ModelSnapshot m0 = entry(scheduler.snapshot(), "m0");
  EXPECT_EQ(m0.state, ModelState::kReady);
  EXPECT_EQ(m0.pins, 0u);
  EXPECT_EQ(m0.counters.cancelled, 1u);
  EXPECT_EQ(loader.loads("m0"), 1);
}

// Cancels racing with execution: every request is answered exactly once, a successful cancel
// always means a kCancelled answer, and no pin is left.
TEST(SchedulerCancel, RacingCancelsAnswerEveryRequestExactlyOnce) {
  auto models = fake_models(3, kMiB);
  FakeLoader loader;
  SchedulerOptions options = options_with(2 * kMiB);  // room for two of three: loads and waits
  options.inline_exec_max_s = -1.0;
  Scheduler scheduler(models, loader, options);
  constexpr int kClients = 4;
  constexpr int kRequests = 100;
  std::atomic<int> cancelled_true{0};
  std::atomic<int> cancelled_answers{0};
  std::vector<std::thread> clients;
  std::vector<std::vector<Submitted>> all(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kRequests; ++i) {
        Submitted s = submit(scheduler, static_cast<ModelId>((c + i) % 3));
        if (i % 2 == 0 && scheduler.cancel(s.ticket)) ++cancelled_true;
        all[c].push_back(std::move(s));
      }
    });
  }
  for (auto& client : clients) client.join();
  for (auto& list : all) {
    for (auto& s : list) {
      const InferOutcome& outcome = s.outcome.get();
      EXPECT_TRUE(outcome.status == Status::kOk || outcome.status == Status::kCancelled)
          << status_name(outcome.status) << ": " << outcome.error;
      if (outcome.status == Status::kCancelled) ++cancelled_answers;
    }
  }
  EXPECT_TRUE(scheduler.drain(10s));
  for (auto& list : all) {
    for (auto& s : list) EXPECT_EQ(s.calls->load(), 1);
  }
  EXPECT_EQ(cancelled_true.load(), cancelled_answers.load());
  const CacheSnapshot snap = scheduler.snapshot();
  std::uint64_t cancelled_counted = 0;
  for (const auto& m : snap.models) {
    EXPECT_EQ(m.pins, 0u) << m.name;
    cancelled_counted += m.counters.cancelled;
  }
  EXPECT_EQ(cancelled_counted, static_cast<std::uint64_t>(cancelled_true.load()));
  EXPECT_LE(snap.used_bytes, options.memory_bytes);
}

// ---- counters ---------------------------------------------------------------------------------

// The counters' one list reaches /metrics: each counter once per model (errors and cancelled
// included), under its family's HELP and TYPE lines.
TEST(SchedulerCounters, EveryCounterReachesTheMetrics) {
  auto models = fake_models(2, kMiB);
  models[1].path = "corrupt";
  FakeLoader loader;
  Scheduler scheduler(models, loader, options_with(8 * kMiB));
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
  EXPECT_EQ(infer(scheduler, 1).status, Status::kFailed);
  const Metrics metrics(models.size());
  const CacheSnapshot snap = scheduler.snapshot();
  const std::string text = metrics.render(snap);
  std::vector<std::string> keys;
  ModelCounters{}.for_each([&](const CounterInfo& info, auto) {
    keys.emplace_back(info.key);
    const std::string metric(info.metric);
    EXPECT_NE(text.find("# HELP " + metric + " "), std::string::npos) << metric;
    EXPECT_NE(text.find("# TYPE " + metric + " counter\n"), std::string::npos) << metric;
    EXPECT_NE(text.find(metric + "{model=\"m0\"} "), std::string::npos) << metric;
    EXPECT_NE(text.find(metric + "{model=\"m1\"} "), std::string::npos) << metric;
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"requests", "hits", "misses", "loads", "load_failures",
                                            "load_seconds_total", "evictions", "rejected",
                                            "timeouts", "cancelled", "errors"}));
  EXPECT_NE(text.find("brulee_errors_total{model=\"m1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("brulee_model_load_failures_total{model=\"m1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("brulee_model_consecutive_load_failures{model=\"m1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("brulee_model_failed{model=\"m1\"} 0\n"), std::string::npos);
}

// --exec-cpus / --load-cpus: each thread's name and the CPUs it may run on, as the kernel holds
// them.
std::multimap<std::string, std::string> threads_and_cpus() {
  std::multimap<std::string, std::string> found;
  for (const auto& task : test_support::task_cpus("self")) found.emplace(task.name, task.cpus);
  return found;
}

TEST(SchedulerThreads, ExecutionAndLoaderThreadsRunOnTheirCpus) {
  const std::vector<int> allowed = runtime::allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  const std::string exec = std::to_string(allowed.front());
  const std::string load = std::to_string(allowed.back());
  FakeLoader loader;
  SchedulerOptions options = options_with(64 * kMiB);
  options.exec_threads = 2;
  options.loader_threads = 1;
  options.prefetch = true;  // the prefetch thread loads too: the loaders' CPUs
  options.exec_cpus = {allowed.front()};
  options.load_cpus = {allowed.back()};
  Scheduler scheduler(fake_models(2, kMiB), loader, options);
  const auto threads = threads_and_cpus();
  ASSERT_EQ(threads.count("brulee-exec"), 2u);
  ASSERT_EQ(threads.count("brulee-load"), 1u);
  ASSERT_EQ(threads.count("brulee-prefetch"), 1u);
  for (const auto& [name, cpus] : threads) {
    if (name == "brulee-exec") {
      EXPECT_EQ(cpus, exec);
    } else if (name == "brulee-load" || name == "brulee-prefetch") {
      EXPECT_EQ(cpus, load) << name;
    }
  }
  // And they work there.
  EXPECT_EQ(infer(scheduler, 0).status, Status::kOk);
  EXPECT_EQ(infer(scheduler, 1).status, Status::kOk);
}

TEST(SchedulerThreads, WithoutCpuListsTheThreadsRunAnywhereTheProcessMay) {
  FakeLoader loader;
  Scheduler scheduler(fake_models(1, kMiB), loader, options_with(64 * kMiB));
  const std::string any = runtime::format_cpu_list(runtime::allowed_cpus());
  const auto threads = threads_and_cpus();
  ASSERT_EQ(threads.count("brulee-exec"), 2u);
  for (const auto& [name, cpus] : threads) {
    if (name.rfind("brulee-", 0) == 0) {
      EXPECT_EQ(cpus, any) << name;
    }
  }
}

TEST(SchedulerThreads, ACpuTheProcessMayNotUseIsAUsageError) {
  const std::vector<int> allowed = runtime::allowed_cpus();
  int outside = 0;
  while (std::binary_search(allowed.begin(), allowed.end(), outside)) ++outside;
  FakeLoader loader;
  for (const bool exec : {true, false}) {
    SchedulerOptions options = options_with(64 * kMiB);
    (exec ? options.exec_cpus : options.load_cpus) = {outside};
    try {
      Scheduler scheduler(fake_models(1, kMiB), loader, options);
      FAIL() << "CPU " << outside << " was accepted";
    } catch (const UsageError& error) {
      EXPECT_NE(std::string(error.what()).find(exec ? "--exec-cpus" : "--load-cpus"),
                std::string::npos)
          << error.what();
    }
  }
}

}  // namespace
}  // namespace brulee::serve
