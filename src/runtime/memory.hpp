#pragma once
// Measuring the memory a model holds (docs/runtime.md, "Measured bytes").
// Bytes = growth of the allocator's in-use bytes (glibc mallinfo2: uordblks + hblkhd, i.e. bytes
// in malloc chunks plus bytes in mmapped blocks) across load + one warm-up inference, with all
// loads in the process serialized by load_mutex(). Unaffected by memory freed earlier and kept by
// glibc, unlike RSS growth. Where the allocator keeps no such statistics (another malloc
// preloaded, e.g. jemalloc or tcmalloc, or a sanitizer's), bytes = RSS growth instead.
#include <chrono>
#include <cstdint>
#include <mutex>

namespace brulee::runtime {

struct HeapStats {
  std::uint64_t arena_in_use_bytes = 0;  // mallinfo2().uordblks
  std::uint64_t mmapped_bytes = 0;       // mallinfo2().hblkhd
  std::uint64_t in_use_bytes() const { return arena_in_use_bytes + mmapped_bytes; }
};

HeapStats heap_stats();
// Whether heap_stats() follows this process's allocations (probed once: a 4 MiB allocation
// must show up in it).
bool heap_stats_available();
// Resident set size of this process from /proc/self/statm.
std::uint64_t resident_set_bytes();
// Gives freed heap memory back to the system (malloc_trim(0)).
void release_free_memory();
// Every backend load holds this, so per-model byte measurements do not overlap.
std::mutex& load_mutex();

// Wall time and heap growth of one scope (a load plus its warm-up inference).
class LoadMeasurement {
 public:
  LoadMeasurement();
  double elapsed_s() const;
  std::uint64_t grown_bytes() const;  // 0 if the heap shrank

 private:
  std::chrono::steady_clock::time_point start_;
  HeapStats before_;
  std::uint64_t rss_before_ = 0;  // used when heap statistics are unavailable
};

}  // namespace brulee::runtime
