// The process budget (docs/server.md, "Process memory") over fake models that allocate real
// memory with known load peaks and workspaces: a load reserves its peak until it ends, an
// execution its workspace while it runs, the limit is never crossed by what the fakes hold,
// work that does not fit waits, and a request that cannot get memory before its deadline is
// answered "unavailable" with a retry time. Assertions on charges, states and counts only.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_model.hpp"
#include "runtime/memory.hpp"
#include "runtime/workspace_pool.hpp"
#include "serve/inflight.hpp"
#include "serve/process_budget.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve {
namespace {

using testing::Gate;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

// What the fakes hold right now, and the most they ever held at once.
struct Ledger {
  std::atomic<std::uint64_t> live{0};
  std::atomic<std::uint64_t> peak{0};
  void add(std::uint64_t bytes) {
    const std::uint64_t now = live.fetch_add(bytes) + bytes;
    std::uint64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void sub(std::uint64_t bytes) { live.fetch_sub(bytes); }
};

// Real memory, touched, counted in the ledger while it lives.
class Block {
 public:
  Block(Ledger& ledger, std::uint64_t bytes) : ledger_(ledger), bytes_(bytes) {
    ledger_.add(bytes_);
    data_.assign(bytes_, std::byte{1});
  }
  ~Block() { ledger_.sub(bytes_); }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

 private:
  Ledger& ledger_;
  std::uint64_t bytes_;
  std::vector<std::byte> data_;
};

// Waits (bounded) until a peak meter has sampled at least twice since `before`: whatever the
// caller holds now was seen by it, if one is running.
void let_meters_see(std::uint64_t before) {
  if (runtime::peak_meters_running() == 0) return;
  for (int i = 0; i < 2000 && runtime::peak_meter_samples() < before + 2; ++i) {
    std::this_thread::sleep_for(1ms);
  }
}

struct Figures {
  std::uint64_t resting = 0;
  std::uint64_t peak = 0;  // during load, including the resting bytes
  std::uint64_t workspace = 0;
  bool pooled = false;  // the workspace from the thread's pool, as TorchScript's allocator does
};

// A workspace block from runtime::workspace_allocate (the scheduler's pool while it executes).
class PooledBlock {
 public:
  PooledBlock(Ledger& ledger, std::uint64_t bytes)
      : ledger_(ledger), bytes_(bytes), data_(runtime::workspace_allocate(bytes)) {
    ledger_.add(bytes_);
    std::memset(data_, 1, bytes_);
  }
  ~PooledBlock() {
    runtime::workspace_free(data_);
    ledger_.sub(bytes_);
  }
  PooledBlock(const PooledBlock&) = delete;
  PooledBlock& operator=(const PooledBlock&) = delete;
  void* data() const { return data_; }

 private:
  Ledger& ledger_;
  std::uint64_t bytes_;
  void* data_;
};

class HeavyModel : public runtime::LoadedModel {
 public:
  HeavyModel(Ledger& ledger, Figures figures, Gate& exec_gate, std::atomic<int>& executing,
             std::atomic<void*>& last_pooled, const std::vector<std::uint64_t>& workspaces,
             std::atomic<int>& infers)
      : ledger_(ledger),
        figures_(figures),
        resting_(ledger, figures.resting),
        exec_gate_(exec_gate),
        executing_(executing),
        last_pooled_(last_pooled),
        workspaces_(workspaces),
        infers_(infers) {
    inputs_.push_back({"x", runtime::DType::kFloat32, {1}});
    outputs_.push_back({"y", runtime::DType::kFloat32, {1}});
  }
  const std::vector<runtime::TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<runtime::TensorSpec>& outputs() const override { return outputs_; }
  std::vector<runtime::Tensor> infer(const std::vector<runtime::Tensor>&) override {
    const std::uint64_t samples = runtime::peak_meter_samples();
    const auto n = static_cast<std::size_t>(infers_++);
    std::optional<Block> workspace;
    std::optional<PooledBlock> pooled;
    if (figures_.pooled) {  // a measured workspace includes the allocator's headers: 4 KiB here
      last_pooled_ = pooled.emplace(ledger_, figures_.workspace - 4096).data();
    } else {
      workspace.emplace(ledger_, n < workspaces_.size() ? workspaces_[n] : figures_.workspace);
    }
    ++executing_;
    let_meters_see(samples);
    exec_gate_.wait();
    --executing_;
    return {
        runtime::Tensor{"y", runtime::DType::kFloat32, {1}, std::vector<std::byte>(sizeof(float))}};
  }
  double load_time_s() const override { return 0.001; }
  std::uint64_t resident_bytes() const override { return figures_.resting; }

 private:
  Ledger& ledger_;
  Figures figures_;
  Block resting_;
  Gate& exec_gate_;
  std::atomic<int>& executing_;
  std::atomic<void*>& last_pooled_;
  const std::vector<std::uint64_t>& workspaces_;
  std::atomic<int>& infers_;
  std::vector<runtime::TensorSpec> inputs_, outputs_;
};

class HeavyLoader : public ModelLoader {
 public:
  explicit HeavyLoader(Figures given) : figures(given) {}
  std::unique_ptr<runtime::LoadedModel> load(const ServedModel& served) override {
    const auto n = static_cast<std::size_t>(loads++);
    const auto own = per_model.find(served.name);
    const Figures& f = own == per_model.end() ? figures : own->second;
    const std::uint64_t peak = n < peaks.size() ? peaks[n] : f.peak;
    const std::uint64_t samples = runtime::peak_meter_samples();
    Block transient(ledger, peak - f.resting);  // parse buffers and the like
    auto model = std::make_unique<HeavyModel>(ledger, f, exec_gate, executing, last_pooled,
                                              workspaces, infers);
    let_meters_see(samples);
    load_gate.wait();
    return model;
  }
  Figures figures;
  std::map<std::string, Figures> per_model;  // by name; the others have `figures`
  std::vector<std::uint64_t> peaks;          // the nth load's peak instead, where given
  std::vector<std::uint64_t> workspaces;     // the nth inference's workspace instead (unpooled)
  std::atomic<int> infers{0};
  Ledger ledger;
  Gate load_gate;
  Gate exec_gate;
  std::atomic<int> executing{0};
  std::atomic<int> loads{0};
  std::atomic<void*> last_pooled{nullptr};  // the last pooled workspace block handed out
};

std::vector<ServedModel> heavy_models(int count, const Figures& figures, bool catalog) {
  std::vector<ServedModel> models;
  for (int i = 0; i < count; ++i) {
    ServedModel m;
    m.name = "h" + std::to_string(i);
    m.platform = "fake";
    m.path = m.name;
    m.estimate_bytes = figures.resting;
    if (catalog) {
      m.load_peak_bytes = figures.peak;
      m.workspace_bytes = figures.workspace;
    }
    models.push_back(m);
  }
  return models;
}

SchedulerOptions limited(std::uint64_t process_bytes, unsigned exec_threads = 2) {
  SchedulerOptions options;
  options.memory_bytes = 1ull << 40;  // the models' own budget never binds here
  options.policy = "lru";
  options.exec_threads = exec_threads;
  options.process_memory_bytes = process_bytes;  // baseline 0: the fakes' bytes are the process
  options.process_buffer_share = 0.0;            // no request buffers here
  return options;
}

std::vector<runtime::Tensor> one_input() {
  return {
      runtime::Tensor{"x", runtime::DType::kFloat32, {1}, std::vector<std::byte>(sizeof(float))}};
}

Clock::time_point later() { return Clock::now() + 60s; }

template <typename Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

const ModelSnapshot& entry(const CacheSnapshot& snap, const std::string& name) {
  for (const auto& m : snap.models) {
    if (m.name == name) return m;
  }
  throw std::runtime_error("no model " + name);
}

TEST(ProcessBudget, ChargesStayWithinTheLimitAndKeepTheirKinds) {
  ProcessBudget budget(100, 10);  // 90 bytes over the baseline
  EXPECT_TRUE(budget.try_charge(MemoryKind::kResting, 50));
  EXPECT_TRUE(budget.try_charge(MemoryKind::kWorkspace, 40));
  EXPECT_FALSE(budget.try_charge(MemoryKind::kBuffers, 1));
  EXPECT_EQ(budget.room(), 0u);
  budget.release(MemoryKind::kWorkspace, 40);
  EXPECT_FALSE(budget.try_charge(MemoryKind::kBuffers, 30, 20));  // would leave 10 < 20 free
  EXPECT_TRUE(budget.try_charge(MemoryKind::kBuffers, 20, 20));
  EXPECT_EQ(budget.charged(MemoryKind::kResting), 50u);
  EXPECT_EQ(budget.charged(MemoryKind::kBuffers), 20u);
  EXPECT_EQ(budget.charged(), 70u);
  budget.charge(MemoryKind::kLoading, 100);  // forced: above the limit
  EXPECT_EQ(budget.room(), 0u);
  ProcessBudget unlimited;
  EXPECT_TRUE(unlimited.try_charge(MemoryKind::kBuffers, 1ull << 50));
  EXPECT_EQ(unlimited.charged(MemoryKind::kBuffers), 1ull << 50);
}

// Buffers get their share of the budget (the scheduler keeps it free of its own charges), at
// any time and never more: memory the models leave unused is not lent to requests, which would
// hold it while they wait for loads that need it.
TEST(ProcessBudget, BuffersGetTheirShareAndNoMore) {
  ProcessBudget budget(110, 10);  // 100 bytes over the baseline
  budget.set_buffer_share(0.25);
  EXPECT_EQ(budget.budget(), 100u);
  EXPECT_EQ(budget.buffer_share(), 25u);
  EXPECT_TRUE(budget.try_charge_buffers(20));  // nothing else charged: still the share only
  EXPECT_FALSE(budget.try_charge_buffers(6));
  EXPECT_TRUE(budget.try_charge_buffers(5));
  EXPECT_EQ(budget.charged(MemoryKind::kBuffers), 25u);
  EXPECT_EQ(budget.charged(), 25u);
  budget.release(MemoryKind::kBuffers, 25);
  EXPECT_TRUE(budget.try_charge(MemoryKind::kResting, 75, budget.buffer_share()));
  EXPECT_FALSE(budget.try_charge(MemoryKind::kResting, 1, budget.buffer_share()));
  EXPECT_TRUE(budget.try_charge_buffers(25));  // the models' three quarters do not touch it
  budget.release(MemoryKind::kBuffers, 25);
  budget.charge(MemoryKind::kLoading, 10);      // forced (a measurement above its estimate)
  EXPECT_FALSE(budget.try_charge_buffers(25));  // the limit holds all the same
  EXPECT_TRUE(budget.try_charge_buffers(15));
  EXPECT_EQ(budget.charged(MemoryKind::kBuffers), 15u);
  EXPECT_TRUE(budget.could_fit_buffers(25));
  EXPECT_FALSE(budget.could_fit_buffers(26));
  ProcessBudget unlimited;
  EXPECT_TRUE(unlimited.try_charge_buffers(1ull << 50));
  EXPECT_TRUE(unlimited.could_fit_buffers(1ull << 60));
}

// Memory nobody charged (RSS - baseline - charged) is kept room for once seen: its high-water
// mark counts as used. It comes out of the buffers' share, and is at most half of it, so the
// models' three quarters stay whole (no load peak that fitted stops fitting).
TEST(ProcessBudget, KeepsRoomForWhatNobodyChargedOnceSeen) {
  ProcessBudget budget(1010, 10);  // 1000 bytes over the baseline
  budget.set_buffer_share(0.25);   // 250 for buffers; the reserve at most 125
  // Half the budget reached: the allocator gives freed memory back from now on, and what is
  // uncharged is reserved for.
  EXPECT_EQ(budget.observe_rss(10 + 500), ProcessBudget::Switch::kReturnFreed);
  EXPECT_EQ(budget.reserve(), 0u);
  EXPECT_TRUE(budget.try_charge(MemoryKind::kResting, 400));
  budget.observe_rss(10 + 400);  // everything charged: nothing to keep room for
  EXPECT_EQ(budget.reserve(), 0u);
  budget.observe_rss(10 + 400 + 60);
  EXPECT_EQ(budget.reserve(), 60u);
  EXPECT_EQ(budget.room(), 1000u - 400u - 60u);
  EXPECT_EQ(budget.buffer_room_share(), 250u - 60u);
  budget.observe_rss(10 + 400 + 20);  // never lowered
  EXPECT_EQ(budget.reserve(), 60u);
  // The models' part is whole: 750 - 400 = 350 more, keeping the buffers' 190 free.
  EXPECT_FALSE(budget.try_charge(MemoryKind::kLoading, 351, budget.buffer_room_share()));
  EXPECT_TRUE(budget.try_charge(MemoryKind::kLoading, 350, budget.buffer_room_share()));
  EXPECT_FALSE(budget.try_charge_buffers(191));
  EXPECT_TRUE(budget.try_charge_buffers(190));  // and the limit is reached, not crossed
  EXPECT_EQ(budget.room(), 0u);
  budget.release(MemoryKind::kBuffers, 190);
  budget.release(MemoryKind::kLoading, 350);
  budget.observe_rss(10 + 400 + 900);  // capped at half the buffers' share
  EXPECT_EQ(budget.reserve(), 125u);
  EXPECT_EQ(budget.buffer_room_share(), 125u);
  EXPECT_FALSE(budget.could_fit_buffers(126));
  EXPECT_TRUE(budget.could_fit_buffers(125));
  EXPECT_EQ(report(budget).reserve_bytes, 125u);
  ProcessBudget unlimited;
  unlimited.observe_rss(1ull << 40);
  EXPECT_EQ(unlimited.reserve(), 0u);
}

// Far from the limit freed memory stays with the allocator (as without a limit), and its keep is
// not reserved for; from half the budget over the baseline it goes back to the system, until RSS
// is under a quarter again. Each switch is said once.
TEST(ProcessBudget, FreedMemoryIsKeptFarFromTheLimitAndGivenBackNearIt) {
  using Switch = ProcessBudget::Switch;
  ProcessBudget budget(1010, 10);  // 1000 bytes over the baseline
  budget.set_buffer_share(0.25);
  EXPECT_TRUE(budget.keeping_freed());
  EXPECT_EQ(budget.observe_rss(10 + 499), Switch::kNone);
  EXPECT_TRUE(budget.keeping_freed());
  EXPECT_EQ(budget.reserve(), 0u);  // 499 uncharged, kept by the allocator: no reserve
  EXPECT_EQ(budget.observe_rss(10 + 500), Switch::kReturnFreed);
  EXPECT_FALSE(budget.keeping_freed());
  EXPECT_EQ(budget.reserve(), 0u);  // the caller trims and measures again
  EXPECT_EQ(budget.observe_rss(10 + 600), Switch::kNone);
  EXPECT_EQ(budget.reserve(), 125u);  // returning: uncharged memory is reserved for (capped)
  EXPECT_EQ(budget.observe_rss(10 + 250), Switch::kNone);
  EXPECT_FALSE(budget.keeping_freed());
  EXPECT_EQ(budget.observe_rss(10 + 249), Switch::kKeepFreed);
  EXPECT_TRUE(budget.keeping_freed());
  EXPECT_EQ(budget.observe_rss(10 + 249), Switch::kNone);
  EXPECT_EQ(budget.reserve(), 125u);  // never lowered
  ProcessBudget unlimited;
  EXPECT_FALSE(unlimited.keeping_freed());
  EXPECT_EQ(unlimited.observe_rss(1ull << 40), Switch::kNone);
}

TEST(ProcessBudget, InflightChargesAreBuffersOfTheProcess) {
  ProcessBudget process(10 * kMiB, 0);
  process.set_buffer_share(1.0);
  InflightBudget inflight(64 * kMiB, &process);
  {
    Charge first(inflight);
    EXPECT_TRUE(first.add(6 * kMiB));
    EXPECT_EQ(process.charged(MemoryKind::kBuffers), 6 * kMiB);
    Charge second(inflight);
    EXPECT_FALSE(second.add(6 * kMiB));  // the in-flight ceiling has room, the process not
    EXPECT_EQ(inflight.used(), 6 * kMiB);
  }
  EXPECT_EQ(process.charged(), 0u);
  EXPECT_EQ(inflight.used(), 0u);
}

// Requests waiting for in-flight room take it in the order they began to wait; /v2/cache shows
// how many wait (inflight_waiting).
TEST(ProcessBudget, TheLineForInflightRoomIsFirstComeFirstServed) {
  InflightBudget inflight(64 * kMiB);
  EXPECT_TRUE(inflight.line_empty());
  const std::uint64_t a = inflight.join_line();
  const std::uint64_t b = inflight.join_line();
  EXPECT_EQ(inflight.line_length(), 2u);
  EXPECT_TRUE(inflight.first_in_line(a));
  EXPECT_FALSE(inflight.first_in_line(b));
  inflight.leave_line(a);
  EXPECT_TRUE(inflight.first_in_line(b));
  inflight.leave_line(b);
  EXPECT_EQ(inflight.line_length(), 0u);
}

TEST(ProcessBudget, ConnectionsTakeAtMostHalfOfTheBuffersRoom) {
  ProcessBudget process(8 * kMiB, 0);
  process.set_buffer_share(0.5);  // 4 MiB for buffers; connections at most 2 MiB of it
  InflightBudget inflight(64 * kMiB, &process);
  {
    ConnectionCharge first(inflight, inflight.try_charge_connection(kMiB) ? kMiB : 0);
    ConnectionCharge second(inflight, inflight.try_charge_connection(kMiB) ? kMiB : 0);
    EXPECT_EQ(inflight.connection_bytes(), 2 * kMiB);
    EXPECT_FALSE(inflight.try_charge_connection(1));
    Charge request(inflight);
    EXPECT_TRUE(request.add(2 * kMiB));  // the other half is left for requests
    EXPECT_EQ(process.charged(MemoryKind::kBuffers), 4 * kMiB);
  }
  EXPECT_EQ(inflight.connection_bytes(), 0u);
  EXPECT_EQ(inflight.used(), 0u);
  EXPECT_TRUE(inflight.try_charge_connection(2 * kMiB));
  inflight.release_connection(2 * kMiB);
  EXPECT_EQ(process.charged(), 0u);
}

TEST(ProcessBudget, OneRequestAtATimeWaitsHoldingMemoryOrGoesOverTheBudget) {
  ProcessBudget process(4 * kMiB, 0);
  process.set_buffer_share(1.0);
  InflightBudget inflight(64 * kMiB, &process);
  {
    Charge a(inflight), b(inflight);
    EXPECT_TRUE(a.take_waiter_place());
    EXPECT_TRUE(a.take_waiter_place());  // held already
    EXPECT_FALSE(b.take_waiter_place());
    a.free_waiter_place();
    EXPECT_TRUE(b.take_waiter_place());  // freed by a, and by b's end below
    EXPECT_TRUE(a.add(4 * kMiB));
    EXPECT_TRUE(a.add_over_budget(kMiB));  // past the ceiling, one request at a time
    EXPECT_FALSE(b.add_over_budget(kMiB));
    EXPECT_EQ(process.charged(MemoryKind::kBuffers), 5 * kMiB);
  }
  EXPECT_EQ(process.charged(), 0u);
  Charge c(inflight);
  EXPECT_TRUE(c.take_waiter_place());
  EXPECT_TRUE(c.add_over_budget(kMiB));
}

TEST(ProcessMemory, ALoadReservesItsPeakUntilItEnds) {
  const Figures figures{4 * kMiB, 12 * kMiB, 2 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(1, figures, true), loader, limited(64 * kMiB));
  loader.load_gate.close();
  auto done = scheduler.load(0);
  ASSERT_TRUE(eventually([&] { return loader.loads.load() == 1; }));
  const ProcessBudget& budget = scheduler.process_budget();
  EXPECT_EQ(budget.charged(MemoryKind::kLoading), figures.peak);
  EXPECT_EQ(budget.charged(MemoryKind::kResting), 0u);
  loader.load_gate.open();
  ASSERT_EQ(done.get().status, Status::kOk);
  EXPECT_EQ(budget.charged(MemoryKind::kLoading), 0u);
  EXPECT_EQ(budget.charged(MemoryKind::kResting), figures.resting);
  EXPECT_EQ(scheduler.unload(0).status, Status::kOk);
  EXPECT_EQ(budget.charged(), 0u);
}

TEST(ProcessMemory, AnExecutionReservesItsWorkspaceWhileItRuns) {
  const Figures figures{4 * kMiB, 8 * kMiB, 3 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(1, figures, true), loader, limited(64 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  loader.exec_gate.close();
  auto answer = scheduler.submit(0, one_input(), later());
  ASSERT_TRUE(eventually([&] { return loader.executing.load() == 1; }));
  // The catalog's figure, or the first load's measurement if that saw more.
  const std::uint64_t charged = scheduler.process_budget().charged(MemoryKind::kWorkspace);
  EXPECT_EQ(charged, entry(scheduler.snapshot(), "h0").workspace_bytes);
  EXPECT_GE(charged, figures.workspace);
  loader.exec_gate.open();
  EXPECT_EQ(answer.get().status, Status::kOk);
  EXPECT_EQ(scheduler.process_budget().charged(MemoryKind::kWorkspace), 0u);
}

// Under a process limit an inference's workspace blocks are kept for the next inference and
// stay charged; a load that needs their room gets it before any model is evicted, and an
// explicit unload gives it back too.
TEST(ProcessMemory, KeptWorkspaceBlocksStayChargedAndMakeWayForALoad) {
  Figures figures{4 * kMiB, 8 * kMiB, 3 * kMiB};
  figures.pooled = true;
  HeavyLoader loader(figures);
  // h0 resident (4) and its kept 3 MiB leave 6 of 13 MiB: h1's 8 MiB load peak fits only once
  // the kept blocks go, and with h0 still resident.
  Scheduler scheduler(heavy_models(2, figures, true), loader, limited(13 * kMiB));
  const ProcessBudget& budget = scheduler.process_budget();
  const std::uint64_t block = figures.workspace - 4096;  // what the fake's block takes
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  void* const first = loader.last_pooled.load();
  EXPECT_GE(budget.charged(MemoryKind::kWorkspace), block);  // kept, charged
  EXPECT_LE(budget.charged(MemoryKind::kWorkspace), figures.workspace + kMiB);
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  EXPECT_EQ(loader.last_pooled.load(), first);  // the same block again: no fresh memory
  EXPECT_GE(budget.charged(MemoryKind::kWorkspace), block);

  ASSERT_EQ(scheduler.submit(1, one_input(), later()).get().status, Status::kOk);
  EXPECT_EQ(loader.loads.load(), 2);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").counters.evictions, 0u);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").state, ModelState::kReady);
  EXPECT_GE(budget.charged(MemoryKind::kWorkspace), block);  // h1's, kept
  EXPECT_LE(budget.charged(), 13 * kMiB);

  EXPECT_EQ(scheduler.unload(1).status, Status::kOk);
  EXPECT_EQ(budget.charged(MemoryKind::kWorkspace), 0u);
  EXPECT_EQ(budget.charged(), figures.resting);
}

// A load that lacks room even with the pool's kept blocks, and cannot evict (every resident
// model pinned), goes on waiting and leaves the kept blocks alone: giving them back for every
// load that lacked room gave them back 223 times in one run, and every inference after faulted
// its activations in again.
TEST(ProcessMemory, KeptWorkspaceBlocksStayWhileALoadStillWaits) {
  Figures figures{4 * kMiB, 8 * kMiB, 3 * kMiB};
  HeavyLoader loader(figures);
  Figures pooled = figures;
  pooled.pooled = true;
  loader.per_model["h0"] = pooled;
  // h2's inference takes over 1 MiB of the kept charge; the rest stays the pool's.
  loader.per_model["h2"] = Figures{4 * kMiB, 8 * kMiB, 1 * kMiB};
  auto models = heavy_models(3, figures, true);
  models[1].load_peak_bytes = 12 * kMiB;  // h1 fits only once h0 or h2 goes
  models[2].workspace_bytes = 1 * kMiB;
  Scheduler scheduler(models, loader, limited(16 * kMiB, 1));
  const ProcessBudget& budget = scheduler.process_budget();
  const std::uint64_t block = figures.workspace - 4096;
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  ASSERT_EQ(scheduler.load(2).get().status, Status::kOk);
  ASSERT_GE(budget.charged(MemoryKind::kWorkspace), block);  // h0's, kept

  loader.exec_gate.close();
  auto on_h2 = scheduler.submit(2, one_input(), later());  // runs, pins h2
  ASSERT_TRUE(eventually([&] { return loader.executing.load() == 1; }));
  auto on_h0 = scheduler.submit(0, one_input(), later());  // waits for the one thread, pins h0
  auto on_h1 = scheduler.submit(1, one_input(), later());  // its load cannot start
  std::this_thread::sleep_for(20ms);  // gives a wrong scheduler the chance to give them back
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kWaiting);
  EXPECT_GE(budget.charged(MemoryKind::kWorkspace), block);  // kept (given back: 1 MiB)

  loader.exec_gate.open();
  EXPECT_EQ(on_h2.get().status, Status::kOk);
  EXPECT_EQ(on_h0.get().status, Status::kOk);
  EXPECT_EQ(on_h1.get().status, Status::kOk);
  EXPECT_LE(loader.ledger.peak.load(), 16 * kMiB);
}

TEST(ProcessMemory, TwoExecutionsThatDoNotFitTogetherRunOneAfterTheOther) {
  // Two resident models (2 x 4 MiB) and room for one 6 MiB workspace, not two.
  const Figures figures{4 * kMiB, 8 * kMiB, 6 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(2, figures, true), loader, limited(19 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_EQ(scheduler.load(1).get().status, Status::kOk);
  loader.exec_gate.close();
  auto a = scheduler.submit(0, one_input(), later());
  auto b = scheduler.submit(1, one_input(), later());
  ASSERT_TRUE(eventually([&] { return loader.executing.load() == 1; }));
  const CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(snap.executing, 1u);
  EXPECT_EQ(snap.queued, 1u);  // the other waits for memory, not for a thread
  loader.exec_gate.open();
  EXPECT_EQ(a.get().status, Status::kOk);
  EXPECT_EQ(b.get().status, Status::kOk);
  EXPECT_LE(loader.ledger.peak.load(), 19 * kMiB);
}

TEST(ProcessMemory, ALoadWaitsForAnExecutionsWorkspaceAndEvictsForItsPeak) {
  // h0 resident and executing (4 + 6 MiB); h1's load peak (12 MiB) fits only once h0's
  // workspace is back and h0 itself is evicted.
  const Figures figures{4 * kMiB, 12 * kMiB, 6 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(2, figures, true), loader, limited(15 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  loader.exec_gate.close();
  auto a = scheduler.submit(0, one_input(), later());
  ASSERT_TRUE(eventually([&] { return loader.executing.load() == 1; }));
  auto b = scheduler.submit(1, one_input(), later());
  std::this_thread::sleep_for(20ms);  // gives a wrong scheduler the chance to start the load
  EXPECT_EQ(loader.loads.load(), 1);
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kWaiting);
  loader.exec_gate.open();
  EXPECT_EQ(a.get().status, Status::kOk);
  EXPECT_EQ(b.get().status, Status::kOk);
  EXPECT_EQ(loader.loads.load(), 2);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").counters.evictions, 1u);
  EXPECT_LE(loader.ledger.peak.load(), 15 * kMiB);
}

TEST(ProcessMemory, ALoadLeavesTheLargestWorkspaceFreeOnceResident) {
  // h0's inference needs 6 MiB (its catalog says), h1's 1 MiB. Both fit at rest (8 of 11 MiB)
  // and h1's own load and inference (5 MiB) fit beside h0, but then h0's inference would not:
  // with requests waiting for both, h0's could not run and neither model is idle to evict. So
  // loading h1 evicts h0.
  const Figures figures{4 * kMiB, 5 * kMiB, 1 * kMiB};
  HeavyLoader loader(figures);
  auto models = heavy_models(2, figures, true);
  models[0].workspace_bytes = 6 * kMiB;
  Scheduler scheduler(models, loader, limited(11 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_EQ(scheduler.load(1).get().status, Status::kOk);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").counters.evictions, 1u);
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kReady);
  auto a = scheduler.submit(0, one_input(), later());
  auto b = scheduler.submit(1, one_input(), later());
  EXPECT_EQ(a.get().status, Status::kOk);
  EXPECT_EQ(b.get().status, Status::kOk);
  EXPECT_LE(loader.ledger.peak.load(), 11 * kMiB);
}

// A hold (a request whose body is not read yet) starts its model's load and pins it while
// resident, so another model's load that needs its memory waits until the hold ends; a hold is
// not a request (the policy does not see it).
TEST(ProcessMemory, AHeldModelLoadsAndStaysUntilReleased) {
  const Figures figures{4 * kMiB, 8 * kMiB, kMiB};
  HeavyLoader loader(figures);
  // 10 MiB: one model resting (4) and another's load peak (8) do not fit together.
  Scheduler scheduler(heavy_models(2, figures, true), loader, limited(10 * kMiB));
  loader.load_gate.close();
  ASSERT_TRUE(scheduler.hold(0));
  ASSERT_TRUE(eventually([&] { return loader.loads.load() == 1; }));
  EXPECT_FALSE(scheduler.hold_settled(0));
  loader.load_gate.open();
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(0); }));
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").state, ModelState::kReady);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").pins, 1u);
  ASSERT_TRUE(scheduler.hold(1));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(loader.loads.load(), 1);  // h1 waits: h0 is held
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kWaiting);
  EXPECT_FALSE(scheduler.hold_settled(1));
  scheduler.release_hold(0);  // h0 may go now: h1 loads in its place
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(1); }));
  CacheSnapshot snap = scheduler.snapshot();
  EXPECT_EQ(entry(snap, "h0").state, ModelState::kAbsent);
  EXPECT_EQ(entry(snap, "h1").state, ModelState::kReady);
  EXPECT_EQ(entry(snap, "h0").counters.requests, 0u);
  EXPECT_EQ(entry(snap, "h1").counters.requests, 0u);
  auto outcome = scheduler.submit(1, one_input(), later());
  EXPECT_EQ(outcome.get().status, Status::kOk);
  scheduler.release_hold(1);
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").pins, 0u);
  EXPECT_LE(loader.ledger.peak.load(), 10 * kMiB);
  scheduler.stop();
  EXPECT_FALSE(scheduler.hold(0));  // shutting down: refused, nothing held
}

// A request for h0 is answered within its deadline because held-only h1 made way (evicted
// once); h1's hold still waits for it, so h1 loads again (h0, idle now, makes way) and the hold
// settles.
void h0_runs_and_held_h1_reloads(Scheduler& scheduler, HeavyLoader& loader) {
  const InferOutcome outcome = scheduler.submit(0, one_input(), Clock::now() + 10s).get();
  EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").counters.evictions, 1u);
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(1); }));
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kReady);
  EXPECT_EQ(loader.loads.load(), 3);
}

// A model loaded on an estimate below what it really holds leaves less room than the load
// reserved: a resident model with a queued request can then not charge its workspace while the
// other resident model is pinned only by a hold (a request whose body waits). Nothing executes
// or loads to give memory back, so the held model is evicted for the inference (it waits for
// its hold again and reloads), rather than the request waiting out its deadline.
TEST(ProcessMemory, AnInferenceThatCannotFitEvictsAModelPinnedOnlyByHolds) {
  HeavyLoader loader(Figures{3 * kMiB, 4 * kMiB, kMiB});  // h1: 3 MiB at rest
  loader.per_model["h0"] = Figures{4 * kMiB, 5 * kMiB, 6 * kMiB};
  auto models = heavy_models(2, loader.figures, true);
  models[0].estimate_bytes = 4 * kMiB;
  models[0].load_peak_bytes = 5 * kMiB;
  models[0].workspace_bytes = 6 * kMiB;
  models[1].estimate_bytes = kMiB;  // below its 3 MiB: h1's load leaves 5 MiB, not 6
  Scheduler scheduler(models, loader, limited(12 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_TRUE(scheduler.hold(1));  // fits beside h0 on its estimate (1 + h0's workspace 6 < 8)
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(1); }));
  ASSERT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kReady);
  ASSERT_EQ(loader.loads.load(), 2);
  // 4 + 3 MiB resident: h0's 6 MiB workspace does not fit, and h1 is held.
  ASSERT_NO_FATAL_FAILURE(h0_runs_and_held_h1_reloads(scheduler, loader));
  EXPECT_EQ(scheduler.submit(1, one_input(), later()).get().status, Status::kOk);
  scheduler.release_hold(1);
  EXPECT_EQ(entry(scheduler.snapshot(), "h1").pins, 0u);
  EXPECT_LE(loader.ledger.peak.load(), 12 * kMiB);
}

// The same for a load: a request for an absent model was read and waits (in the server it
// holds buffers), and the only resident model is pinned by a hold alone (whose body may wait
// for those buffers). Nothing executes or loads, so the held model makes way for the load.
TEST(ProcessMemory, ALoadThatCannotFitEvictsAModelPinnedOnlyByHolds) {
  HeavyLoader loader(Figures{3 * kMiB, 4 * kMiB, kMiB});  // h1
  loader.per_model["h0"] = Figures{4 * kMiB, 5 * kMiB, kMiB};
  auto models = heavy_models(2, loader.figures, true);
  models[0].estimate_bytes = 4 * kMiB;
  models[0].load_peak_bytes = 5 * kMiB;
  Scheduler scheduler(models, loader, limited(7 * kMiB));
  ASSERT_TRUE(scheduler.hold(1));
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(1); }));
  ASSERT_EQ(entry(scheduler.snapshot(), "h1").state, ModelState::kReady);
  // h0's load peak (5 MiB) does not fit beside h1 (3 of 7 MiB), and h1 is held.
  ASSERT_NO_FATAL_FAILURE(h0_runs_and_held_h1_reloads(scheduler, loader));
  scheduler.release_hold(1);
  EXPECT_LE(loader.ledger.peak.load(), 7 * kMiB);
}

// Of a resident model's held requests, only process_read_ahead may read their bodies at once
// (from reading to the answer): the rest keep holding, so one model's requests cannot fill the
// buffers' share. A turn comes back with its hold; a model whose load failed lets every hold go
// on (the submit answers why) without a turn.
TEST(ProcessMemory, OnlyAFewHeldRequestsOfAModelReadTheirBodiesAtOnce) {
  const Figures figures{kMiB, 2 * kMiB, kMiB};
  HeavyLoader loader(figures);
  SchedulerOptions options = limited(64 * kMiB);
  options.process_read_ahead = 2;
  Scheduler scheduler(heavy_models(1, figures, true), loader, options);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(scheduler.hold(0));
  bool turns[3] = {false, false, false};
  loader.load_gate.close();
  ASSERT_TRUE(eventually([&] { return loader.loads.load() == 1; }));
  EXPECT_FALSE(scheduler.take_read_turn(0, turns[0]));  // loading: nobody reads yet
  EXPECT_FALSE(turns[0]);
  loader.load_gate.open();
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(0); }));
  EXPECT_TRUE(scheduler.take_read_turn(0, turns[0]));
  EXPECT_TRUE(scheduler.take_read_turn(0, turns[1]));
  EXPECT_TRUE(turns[0] && turns[1]);
  EXPECT_FALSE(scheduler.take_read_turn(0, turns[2]));  // two read already
  EXPECT_FALSE(turns[2]);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").held, 3u);  // as /v2/cache shows them
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").read_turns, 2u);
  scheduler.release_hold(0, turns[0]);  // answered: its turn comes back
  EXPECT_TRUE(scheduler.take_read_turn(0, turns[2]));
  EXPECT_TRUE(turns[2]);
  scheduler.release_hold(0, turns[1]);
  scheduler.release_hold(0, turns[2]);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").pins, 0u);
}

// While an isolated load measures its peak, held requests of a resident model read no body
// (what they read would count as the load's); they do once it is over.
TEST(ProcessMemory, NoHeldRequestReadsItsBodyWhileALoadMeasuresItsPeak) {
  const Figures figures{kMiB, 2 * kMiB, kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(2, figures, true), loader, limited(64 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_TRUE(scheduler.hold(0));
  loader.load_gate.close();
  auto loading = scheduler.load(1);  // its first load: isolated, measured
  ASSERT_TRUE(eventually([&] { return loader.loads.load() == 2; }));
  bool turn = false;
  EXPECT_FALSE(scheduler.take_read_turn(0, turn));
  EXPECT_FALSE(turn);
  loader.load_gate.open();
  ASSERT_EQ(loading.get().status, Status::kOk);
  EXPECT_TRUE(scheduler.take_read_turn(0, turn));
  EXPECT_TRUE(turn);
  scheduler.release_hold(0, turn);
}

// Holds count against the queue limits as queued requests do (a header alone must not pin a
// model more than a queue may), and a held request's own submit is not refused for its hold.
TEST(ProcessMemory, HoldsCountAgainstTheQueueLimits) {
  const Figures figures{kMiB, 2 * kMiB, kMiB};
  HeavyLoader loader(figures);
  SchedulerOptions options = limited(64 * kMiB);
  options.max_queue_per_model = 2;
  Scheduler scheduler(heavy_models(1, figures, true), loader, options);
  const auto first = scheduler.hold(0);
  ASSERT_TRUE(first);
  ASSERT_TRUE(scheduler.hold(0));
  EXPECT_FALSE(scheduler.hold(0));  // the model's queue is full of holds
  ASSERT_TRUE(eventually([&] { return scheduler.hold_settled(0); }));
  std::promise<InferOutcome> answered;
  scheduler.submit(
      0, one_input(), later(), std::nullopt,
      [&answered](InferOutcome outcome) { answered.set_value(std::move(outcome)); }, first);
  const InferOutcome outcome = answered.get_future().get();
  EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
  EXPECT_FALSE(outcome.hit);  // its model was not resident when it arrived
  scheduler.release_hold(0);
  scheduler.release_hold(0);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").pins, 0u);
}

TEST(ProcessMemory, ARequestThatCannotGetMemoryInTimeIsToldToRetry) {
  const Figures figures{4 * kMiB, 8 * kMiB, 6 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(2, figures, true), loader, limited(19 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_EQ(scheduler.load(1).get().status, Status::kOk);
  loader.exec_gate.close();
  auto a = scheduler.submit(0, one_input(), later());
  ASSERT_TRUE(eventually([&] { return loader.executing.load() == 1; }));
  auto b = scheduler.submit(1, one_input(), Clock::now() + 30ms);
  const InferOutcome refused = b.get();  // answered while h0 still holds its workspace
  EXPECT_EQ(refused.status, Status::kUnavailable);
  EXPECT_GT(refused.retry_after_s, 0.0);
  loader.exec_gate.open();
  EXPECT_EQ(a.get().status, Status::kOk);
}

TEST(ProcessMemory, AModelWhosePeakExceedsTheWholeBudgetFails) {
  const Figures figures{4 * kMiB, 40 * kMiB, 1 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(1, figures, true), loader, limited(32 * kMiB));
  const InferOutcome outcome = scheduler.submit(0, one_input(), later()).get();
  EXPECT_EQ(outcome.status, Status::kFailed);
  EXPECT_NE(outcome.error.find("load peak"), std::string::npos);
  EXPECT_EQ(loader.loads.load(), 0);
}

// One load peak measured above what any load may take (something outside the gate grew the
// process meanwhile) is measured again before it refuses the model: the next load is isolated
// and its figure counts. Two in a row refuse it.
TEST(ProcessMemory, APeakMeasuredAboveTheBudgetIsMeasuredAgainBeforeItRefuses) {
  const Figures figures{4 * kMiB, 8 * kMiB, 1 * kMiB};
  HeavyLoader loader(figures);
  loader.peaks = {40 * kMiB};  // the first load's only
  Scheduler scheduler(heavy_models(1, figures, true), loader, limited(32 * kMiB));
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").load_peak_bytes, figures.peak);  // not kept
  ASSERT_EQ(scheduler.unload(0).status, Status::kOk);
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  EXPECT_EQ(loader.loads.load(), 2);
  EXPECT_LT(entry(scheduler.snapshot(), "h0").load_peak_bytes, 32 * kMiB);
}

TEST(ProcessMemory, APeakMeasuredAboveTheBudgetTwiceRefusesTheModel) {
  const Figures figures{4 * kMiB, 8 * kMiB, 1 * kMiB};
  HeavyLoader loader(figures);
  loader.peaks = {40 * kMiB, 40 * kMiB};
  Scheduler scheduler(heavy_models(1, figures, true), loader, limited(32 * kMiB));
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  ASSERT_EQ(scheduler.unload(0).status, Status::kOk);
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  ASSERT_EQ(scheduler.unload(0).status, Status::kOk);
  const InferOutcome refused = scheduler.submit(0, one_input(), later()).get();
  EXPECT_EQ(refused.status, Status::kFailed);
  EXPECT_NE(refused.error.find("load peak"), std::string::npos);
  EXPECT_EQ(loader.loads.load(), 2);
}

// A workspace measured too large to fit beside the model's own resting bytes (the first load's
// measurement took in memory something else touched) would leave its requests waiting until
// their deadlines with nothing under way: the catalog's figure, which fits, is charged instead.
TEST(ProcessMemory, AWorkspaceMeasuredTooLargeToEverFitFallsBackToTheCatalogs) {
  const Figures figures{4 * kMiB, 8 * kMiB, 1 * kMiB};
  HeavyLoader loader(figures);
  loader.workspaces = {30 * kMiB};  // the first load's measuring inference only
  Scheduler scheduler(heavy_models(1, figures, true), loader, limited(32 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  ASSERT_GE(entry(scheduler.snapshot(), "h0").workspace_bytes, 28 * kMiB);  // 4 + 28 > 32
  const InferOutcome outcome = scheduler.submit(0, one_input(), Clock::now() + 20s).get();
  EXPECT_EQ(outcome.status, Status::kOk) << outcome.error;
  EXPECT_EQ(entry(scheduler.snapshot(), "h0").workspace_bytes, figures.workspace);
  EXPECT_EQ(loader.loads.load(), 1);
}

// A model measured larger than its estimate, so that even the catalog's workspace does not fit
// beside its resting bytes: its request fails at once and says why, not at its deadline.
TEST(ProcessMemory, AWorkspaceThatCanNeverFitFailsItsRequests) {
  const Figures figures{20 * kMiB, 24 * kMiB, 14 * kMiB};
  HeavyLoader loader(figures);
  std::vector<ServedModel> models = heavy_models(1, figures, true);
  models[0].estimate_bytes = 4 * kMiB;  // admitted on 4 + 14 <= 32; it holds 20
  Scheduler scheduler(models, loader, limited(32 * kMiB));
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  const auto start = Clock::now();
  const InferOutcome outcome = scheduler.submit(0, one_input(), Clock::now() + 20s).get();
  EXPECT_EQ(outcome.status, Status::kFailed);
  EXPECT_NE(outcome.error.find("for an inference"), std::string::npos) << outcome.error;
  EXPECT_LT(Clock::now() - start, 10s);  // not at its deadline
}

TEST(ProcessMemory, ABurstNeverTakesTheFakesAboveTheLimit) {
  const Figures figures{3 * kMiB, 9 * kMiB, 2 * kMiB};
  HeavyLoader loader(figures);
  constexpr std::uint64_t kLimit = 16 * kMiB;  // two resting + one peak + workspaces, not four
  Scheduler scheduler(heavy_models(4, figures, true), loader, limited(kLimit, 3));
  std::vector<std::future<InferOutcome>> answers;
  for (int i = 0; i < 64; ++i) {
    answers.push_back(scheduler.submit(static_cast<ModelId>((i * 7) % 4), one_input(), later()));
  }
  for (auto& answer : answers) EXPECT_EQ(answer.get().status, Status::kOk);
  EXPECT_LE(loader.ledger.peak.load(), kLimit);
  EXPECT_GE(loader.loads.load(), 4);
}

TEST(ProcessMemory, WithoutCatalogFiguresTheFirstLoadMeasuresThem) {
  const Figures figures{6 * kMiB, 10 * kMiB, 5 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(1, figures, false), loader, limited(1ull << 34));
  const ModelSnapshot before = entry(scheduler.snapshot(), "h0");
  EXPECT_EQ(before.load_peak_bytes, 2 * figures.resting);  // the default: twice the estimate
  ASSERT_EQ(scheduler.load(0).get().status, Status::kOk);
  const ModelSnapshot after = entry(scheduler.snapshot(), "h0");
  // The fakes hold their peak and workspace until a meter has sampled them; the measurement
  // may include other memory of the process, never less than what the fakes held (RSS pages
  // and heap bytes both count the touched blocks). Under AddressSanitizer too: RSS grows.
  EXPECT_GE(after.load_peak_bytes, figures.peak * 9 / 10);
  EXPECT_GE(after.workspace_bytes, figures.workspace * 9 / 10);
}

TEST(ProcessMemory, WithoutALimitNothingIsMeasuredAndNothingWaits) {
  const Figures figures{4 * kMiB, 8 * kMiB, 2 * kMiB};
  HeavyLoader loader(figures);
  Scheduler scheduler(heavy_models(2, figures, false), loader, limited(0));
  const std::uint64_t samples = runtime::peak_meter_samples();
  ASSERT_EQ(scheduler.submit(0, one_input(), later()).get().status, Status::kOk);
  EXPECT_EQ(runtime::peak_meter_samples(), samples);
  EXPECT_EQ(scheduler.process_budget().charged(MemoryKind::kResting), figures.resting);
}

}  // namespace
}  // namespace brulee::serve
