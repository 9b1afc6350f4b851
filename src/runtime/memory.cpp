#include "runtime/memory.hpp"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

namespace brulee::runtime {

HeapStats heap_stats() {
  const struct mallinfo2 info = mallinfo2();
  HeapStats stats;
  stats.arena_in_use_bytes = info.uordblks;
  stats.mmapped_bytes = info.hblkhd;
  return stats;
}

std::uint64_t resident_set_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

void release_free_memory() { malloc_trim(0); }

std::mutex& load_mutex() {
  static std::mutex mutex;
  return mutex;
}

LoadMeasurement::LoadMeasurement() : start_(std::chrono::steady_clock::now()), before_(heap_stats()) {}

double LoadMeasurement::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::uint64_t LoadMeasurement::grown_bytes() const {
  const std::uint64_t before = before_.in_use_bytes();
  const std::uint64_t after = heap_stats().in_use_bytes();
  return after > before ? after - before : 0;
}

}  // namespace brulee::runtime
