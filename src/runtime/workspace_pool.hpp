#pragma once
// Inference workspace kept for reuse under a process limit (docs/server.md, "Process memory").
//
// Near the limit the server gives freed memory back to the system at once (every block of 1 MiB
// or more is an mmap of its own; runtime::return_freed_memory), so that RSS follows what is
// charged. A TorchScript inference allocates its activations afresh each time (resnet18: about
// 40 MB in blocks of 0.2-3 MB), and each of them then costs page faults: measured on this
// machine, resnet18's inference took 120-185 ms instead of 33 ms, with 7,500-9,800 page faults.
// A pool keeps such blocks for the next inference instead, within a capacity the server has
// charged to its process budget, so the memory stays both reused and counted.
//
// A thread uses a pool while it holds a WorkspacePool::Scope of it; the TorchScript backend's
// allocator (workspace_allocate) takes blocks of kMinBlockBytes or more from the thread's pool,
// everything else from malloc. A block is given back to the pool it came from, on any thread.
// The pool's blocks are carved best-fit from one reserved range of address space, and free
// neighbours join: an inference whose live blocks peak at W bytes needs little
// more than W of capacity, whatever sizes it asks for in turn.
#include <cstddef>
#include <cstdint>

namespace brulee::runtime {

class WorkspacePool {
 public:
  static constexpr std::size_t kMinBlockBytes = 64u << 10;

  WorkspacePool();
  // Gives the free blocks back; blocks still lent out go back when they come back.
  ~WorkspacePool();
  WorkspacePool(const WorkspacePool&) = delete;
  WorkspacePool& operator=(const WorkspacePool&) = delete;

  // The most the pool may hold, free and lent blocks together (0 at first: nothing is pooled).
  // Lowering it gives the free range at the top back to the system (madvise) until the pool
  // holds no more, or a lent block is at the top (then when that block comes back).
  void set_capacity(std::uint64_t bytes);
  // The bytes the pool may have resident: up to the end of its highest block, lent or free.
  std::uint64_t held() const;
  std::uint64_t idle() const;  // in free blocks

  struct State;  // shared with the blocks lent out (workspace_pool.cpp)

  // Makes `pool` the calling thread's pool until the scope ends (nullptr: none).
  class Scope {
   public:
    explicit Scope(WorkspacePool* pool);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    State* previous_;
  };

 private:
  State* state_;
};

// Whether the calling thread is in a pool's scope.
bool workspace_pool_in_scope();

// 64-byte aligned memory for an inference library's allocator: from the calling thread's pool
// (WorkspacePool::Scope) when it has one and `bytes` is at least kMinBlockBytes, else from
// malloc. nullptr for 0 bytes; throws std::bad_alloc when memory is exhausted.
void* workspace_allocate(std::size_t bytes);
// Gives back memory from workspace_allocate (nullptr is ignored): to its pool, which keeps it
// while within capacity, or to malloc.
void workspace_free(void* data);

}  // namespace brulee::runtime
