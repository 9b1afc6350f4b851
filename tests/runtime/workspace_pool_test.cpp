// The workspace pool (runtime/workspace_pool.hpp): blocks are reused within the capacity and
// never held beyond it, free neighbours join, lowering the capacity gives the free top back,
// blocks outlive their pool, and memory outside a pool's scope or below the block size is plain
// malloc memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/workspace_pool.hpp"

namespace brulee::runtime {
namespace {

constexpr std::uint64_t kKiB = 1 << 10;
constexpr std::uint64_t kMiB = 1 << 20;

// What a block of `bytes` takes from the pool: 64-byte multiples and a 64-byte header.
std::uint64_t whole(std::uint64_t bytes) { return (bytes + 63) / 64 * 64 + 64; }

TEST(WorkspacePool, ReusesABlockOnlyInItsScopeAndOnlyWithinItsCapacity) {
  WorkspacePool pool;
  pool.set_capacity(1 * kMiB);
  void* outside = workspace_allocate(256 * kKiB);  // no scope: malloc
  EXPECT_EQ(pool.held(), 0u);
  workspace_free(outside);
  void* first = nullptr;
  {
    const WorkspacePool::Scope scope(&pool);
    first = workspace_allocate(256 * kKiB);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % 64, 0u);
    std::memset(first, 7, 256 * kKiB);
    EXPECT_EQ(pool.held(), whole(256 * kKiB));
    void* small = workspace_allocate(16 * kKiB);  // below the block size: malloc
    EXPECT_EQ(pool.held(), whole(256 * kKiB));
    workspace_free(small);
    workspace_free(first);
    EXPECT_EQ(pool.idle(), whole(256 * kKiB));
    void* again = workspace_allocate(256 * kKiB);
    EXPECT_EQ(again, first);  // the kept block, no fresh memory
    EXPECT_EQ(pool.idle(), 0u);
    // Beyond the capacity: plain memory, nothing more held.
    void* large = workspace_allocate(1 * kMiB);
    ASSERT_NE(large, nullptr);
    std::memset(large, 1, 1 * kMiB);
    EXPECT_EQ(pool.held(), whole(256 * kKiB));
    workspace_free(large);
    workspace_free(again);
    EXPECT_EQ(workspace_allocate(0), nullptr);
    workspace_free(nullptr);
  }
  void* after = workspace_allocate(256 * kKiB);  // the scope is over: malloc again
  EXPECT_EQ(pool.idle(), whole(256 * kKiB));
  workspace_free(after);
}

TEST(WorkspacePool, LoweringTheCapacityFreesIdleBlocksAndLentOnesOnTheirReturn) {
  WorkspacePool pool;
  pool.set_capacity(4 * kMiB);
  const WorkspacePool::Scope scope(&pool);
  std::vector<void*> lent;
  for (int i = 0; i < 3; ++i) lent.push_back(workspace_allocate(512 * kKiB));
  EXPECT_EQ(pool.held(), 3 * whole(512 * kKiB));
  workspace_free(lent.back());
  lent.pop_back();
  EXPECT_EQ(pool.idle(), whole(512 * kKiB));
  pool.set_capacity(0);
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_EQ(pool.held(), 2 * whole(512 * kKiB));  // lent out: freed when they come back
  for (void* block : lent) workspace_free(block);
  EXPECT_EQ(pool.held(), 0u);
  // A smaller block is carved from a free range; the rest stays free and joins it again.
  pool.set_capacity(whole(512 * kKiB));
  workspace_free(workspace_allocate(512 * kKiB));
  EXPECT_EQ(pool.idle(), whole(512 * kKiB));
  void* part = workspace_allocate(300 * kKiB);
  EXPECT_EQ(pool.held(), whole(512 * kKiB));
  EXPECT_EQ(pool.idle(), whole(512 * kKiB) - whole(300 * kKiB));
  workspace_free(part);
  EXPECT_EQ(pool.idle(), whole(512 * kKiB));
}

TEST(WorkspacePool, FreeNeighboursJoinIntoOneBlock) {
  WorkspacePool pool;
  pool.set_capacity(4 * kMiB);
  const WorkspacePool::Scope scope(&pool);
  void* a = workspace_allocate(256 * kKiB);
  void* b = workspace_allocate(256 * kKiB);
  void* c = workspace_allocate(256 * kKiB);
  workspace_free(b);
  workspace_free(a);  // joins b
  void* ab = workspace_allocate(500 * kKiB);
  EXPECT_EQ(ab, a);  // in the joined range, not from the top
  EXPECT_EQ(pool.held(), 3 * whole(256 * kKiB));
  workspace_free(c);
  workspace_free(ab);
  EXPECT_EQ(pool.idle(), pool.held());
}

TEST(WorkspacePool, BlocksOutliveTheirPoolAndComeBackFromOtherThreads) {
  auto pool = std::make_unique<WorkspacePool>();
  pool->set_capacity(8 * kMiB);
  std::vector<void*> lent;
  {
    const WorkspacePool::Scope scope(pool.get());
    for (int i = 0; i < 4; ++i) lent.push_back(workspace_allocate(1 * kMiB));
  }
  std::thread other([&] { workspace_free(lent[0]); });  // back from another thread
  other.join();
  EXPECT_EQ(pool->idle(), whole(1 * kMiB));
  pool.reset();  // two blocks still lent out
  for (std::size_t i = 1; i < lent.size(); ++i) workspace_free(lent[i]);  // freed, not kept
}

TEST(WorkspacePool, ThreadsSharingAPoolNeverMakeItHoldMoreThanItsCapacity) {
  WorkspacePool pool;
  const std::uint64_t kCapacity = 3 * kMiB;
  pool.set_capacity(kCapacity);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t, kCapacity] {
      const WorkspacePool::Scope scope(&pool);
      for (int i = 0; i < 300; ++i) {
        const std::uint64_t bytes = (64 + 64 * ((i + t) % 8)) * kKiB;
        auto* block = static_cast<unsigned char*>(workspace_allocate(bytes));
        block[0] = block[bytes - 1] = static_cast<unsigned char>(i);
        EXPECT_LE(pool.held(), kCapacity);
        workspace_free(block);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(pool.held(), kCapacity);
  EXPECT_EQ(pool.held(), pool.idle());
}

}  // namespace
}  // namespace brulee::runtime
