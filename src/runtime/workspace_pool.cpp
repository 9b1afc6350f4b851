#include "runtime/workspace_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <utility>

namespace brulee::runtime {

namespace {

constexpr std::uint64_t kAlignment = 64;              // what libtorch's own CPU allocator gives
constexpr std::uint64_t kMagic = 0x62726c65776b7370;  // "brlewksp"
constexpr std::uint64_t kPageBytes = 4096;
// Address space a pool reserves at its first block (none of it memory until used), and the
// steps in which it becomes writable.
constexpr std::uint64_t kReservedBytes = 64ull << 30;
constexpr std::uint64_t kGrowBytes = 2ull << 20;

// `value` rounded up to a multiple of `unit` (no overflow for the sizes checked by callers).
constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t unit) {
  return (value + unit - 1) / unit * unit;
}

// Ahead of every block workspace_allocate hands out, one alignment unit long.
struct alignas(kAlignment) BlockHeader {
  WorkspacePool::State* pool;  // nullptr: from malloc, back to malloc
  std::uint64_t bytes;         // the whole allocation, header included
  std::uint64_t magic;
};
static_assert(sizeof(BlockHeader) == kAlignment);

void* data_of(BlockHeader* header) { return reinterpret_cast<char*>(header) + kAlignment; }

BlockHeader* make_block(std::uint64_t bytes, WorkspacePool::State* pool) {
  void* base = std::aligned_alloc(kAlignment, bytes);
  if (base == nullptr) throw std::bad_alloc();
  return new (base) BlockHeader{pool, bytes, kMagic};
}

thread_local WorkspacePool::State* t_pool = nullptr;

}  // namespace

// The pool's memory is one range of address space reserved at its first block (no memory until
// touched). Blocks are carved from it best-fit, neighbours coalesce when given back, and
// everything below `top` is lent or free: `top` is what the pool may hold resident. Free ranges
// at the top go back to the system (madvise) when the capacity falls below `top`. If the system
// refuses the reservation (an address-space limit), every block comes from malloc instead.
struct WorkspacePool::State {
  std::mutex mutex;
  char* base = nullptr;  // the reserved range: PROT_NONE beyond `writable`
  std::uint64_t writable = 0;
  std::uint64_t capacity = 0;
  std::uint64_t top = 0;
  std::uint64_t idle_bytes = 0;                                    // in free ranges
  std::map<std::uint64_t, std::uint64_t> free_at;                  // offset -> size
  std::set<std::pair<std::uint64_t, std::uint64_t>> free_by_size;  // (size, offset)
  std::uint64_t lent = 0;                                          // blocks
  bool alive = true;     // the pool still exists (else the last block back deletes this)
  bool refused = false;  // the system refused the reservation

  ~State() {
    if (base != nullptr) munmap(base, kReservedBytes);
  }

  void add_free_locked(std::uint64_t offset, std::uint64_t size) {
    free_at.emplace(offset, size);
    free_by_size.emplace(size, offset);
    idle_bytes += size;
  }
  void remove_free_locked(std::uint64_t offset, std::uint64_t size) {
    free_at.erase(offset);
    free_by_size.erase({size, offset});
    idle_bytes -= size;
  }
  // The free range that ends at `top`, if any: its offset (else top).
  std::uint64_t top_free_locked() const {
    if (free_at.empty()) return top;
    const auto last = std::prev(free_at.end());
    return last->first + last->second == top ? last->first : top;
  }
  // While the pool holds more than its capacity, the free range at the top goes back to the
  // system.
  void trim_locked() {
    while (top > capacity) {
      const std::uint64_t from = top_free_locked();
      if (from == top) return;  // a lent block is at the top: trimmed when it comes back
      remove_free_locked(from, top - from);
      // Whole pages only: the page the block below ends in stays (counted up to `from`).
      const std::uint64_t page = round_up(from, kPageBytes);
      if (page < top) madvise(base + page, top - page, MADV_DONTNEED);
      top = from;
    }
  }

  // A block of `bytes` (a multiple of 64, header included): the smallest free range
  // that holds it, else from the top if the capacity allows; nullptr when it does not.
  void* take(std::uint64_t bytes) {
    std::lock_guard lock(mutex);
    std::uint64_t offset = 0;
    const auto fit = free_by_size.lower_bound({bytes, 0});
    if (fit != free_by_size.end()) {
      const auto [size, at] = *fit;
      remove_free_locked(at, size);
      if (size > bytes) add_free_locked(at + bytes, size - bytes);
      offset = at;
    } else {
      offset = top_free_locked();
      if (bytes > capacity || offset > capacity - bytes || !writable_to_locked(offset + bytes)) {
        return nullptr;
      }
      if (offset < top) remove_free_locked(offset, top - offset);
      top = offset + bytes;
    }
    ++lent;
    return data_of(new (base + offset) BlockHeader{this, bytes, kMagic});
  }

  // Makes the range writable up to `end` (reserving it first); false if the system refuses.
  bool writable_to_locked(std::uint64_t end) {
    if (end <= writable) return true;
    if (end > kReservedBytes) return false;
    if (base == nullptr) {
      if (refused) return false;  // asked once
      void* range = mmap(nullptr, kReservedBytes, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (range == MAP_FAILED) {
        refused = true;
        return false;
      }
      base = static_cast<char*>(range);
    }
    const std::uint64_t grown = std::min(kReservedBytes, round_up(end, kGrowBytes));
    if (mprotect(base + writable, grown - writable, PROT_READ | PROT_WRITE) != 0) return false;
    writable = grown;
    return true;
  }

  // A lent block comes back: free, joined with free neighbours; the top is trimmed to the
  // capacity.
  void give_back(BlockHeader* header) {
    bool last = false;
    {
      std::lock_guard lock(mutex);
      --lent;
      std::uint64_t offset = static_cast<std::uint64_t>(reinterpret_cast<char*>(header) - base);
      std::uint64_t size = header->bytes;
      const auto next = free_at.find(offset + size);
      if (next != free_at.end()) {
        const std::uint64_t next_size = next->second;
        remove_free_locked(offset + size, next_size);
        size += next_size;
      }
      const auto after = free_at.lower_bound(offset);
      if (after != free_at.begin()) {
        const auto before = std::prev(after);
        if (before->first + before->second == offset) {
          const auto [before_offset, before_size] = *before;
          remove_free_locked(before_offset, before_size);
          offset = before_offset;
          size += before_size;
        }
      }
      add_free_locked(offset, size);
      trim_locked();
      last = !alive && lent == 0;
    }
    if (last) delete this;
  }
};

WorkspacePool::WorkspacePool() : state_(new State) {}

WorkspacePool::~WorkspacePool() {
  bool last = false;
  {
    std::lock_guard lock(state_->mutex);
    state_->alive = false;
    state_->capacity = 0;
    state_->trim_locked();
    last = state_->lent == 0;
  }
  if (last) delete state_;
}

void WorkspacePool::set_capacity(std::uint64_t bytes) {
  std::lock_guard lock(state_->mutex);
  state_->capacity = bytes;
  state_->trim_locked();
}

std::uint64_t WorkspacePool::held() const {
  std::lock_guard lock(state_->mutex);
  return state_->top;
}

std::uint64_t WorkspacePool::idle() const {
  std::lock_guard lock(state_->mutex);
  return state_->idle_bytes;
}

WorkspacePool::Scope::Scope(WorkspacePool* pool) : previous_(t_pool) {
  t_pool = pool != nullptr ? pool->state_ : nullptr;
}

WorkspacePool::Scope::~Scope() { t_pool = previous_; }

bool workspace_pool_in_scope() { return t_pool != nullptr; }

void* workspace_allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  if (bytes > std::numeric_limits<std::uint64_t>::max() - 2 * kAlignment) throw std::bad_alloc();
  const std::uint64_t whole = round_up(bytes, kAlignment) + kAlignment;
  if (t_pool != nullptr && bytes >= WorkspacePool::kMinBlockBytes) {
    if (void* data = t_pool->take(whole)) return data;
  }
  return data_of(make_block(whole, nullptr));
}

void workspace_free(void* data) {
  if (data == nullptr) return;
  auto* header = reinterpret_cast<BlockHeader*>(static_cast<char*>(data) - kAlignment);
  if (header->magic != kMagic) std::abort();  // not from workspace_allocate: memory is corrupt
  if (header->pool != nullptr) {
    header->pool->give_back(header);
  } else {
    std::free(header);
  }
}

}  // namespace brulee::runtime
