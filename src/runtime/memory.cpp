#include "runtime/memory.hpp"
#include "core/seconds.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

namespace brulee::runtime {

HeapStats heap_stats() {
  const struct mallinfo2 info = mallinfo2();
  HeapStats stats;
  stats.arena_in_use_bytes = info.uordblks;
  stats.mmapped_bytes = info.hblkhd;
  return stats;
}

bool heap_stats_available() {
  static const bool available = [] {
    constexpr std::size_t kProbe = std::size_t{4} << 20;
    // A few tries: another thread freeing memory at the same moment can hide one probe.
    for (int attempt = 0; attempt < 3; ++attempt) {
      const std::uint64_t before = heap_stats().in_use_bytes();
      void* volatile block = std::malloc(kProbe);  // volatile: the pair must not be optimised out
      if (!block) return false;
      std::memset(block, 1, kProbe);
      const std::uint64_t after = heap_stats().in_use_bytes();
      std::free(block);
      if (after >= before + kProbe) return true;
    }
    return false;
  }();
  return available;
}

ThreadUsage ThreadUsage::now() {
  ThreadUsage usage;
  rusage r{};
  if (getrusage(RUSAGE_THREAD, &r) != 0) return usage;
  usage.cpu_s = static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
                1e-6 * static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
  usage.minor_faults = static_cast<std::uint64_t>(r.ru_minflt);
  usage.major_faults = static_cast<std::uint64_t>(r.ru_majflt);
  return usage;
}

ThreadUsage ThreadUsage::since(const ThreadUsage& earlier) const {
  ThreadUsage d;
  d.cpu_s = cpu_s - earlier.cpu_s;
  d.minor_faults = minor_faults >= earlier.minor_faults ? minor_faults - earlier.minor_faults : 0;
  d.major_faults = major_faults >= earlier.major_faults ? major_faults - earlier.major_faults : 0;
  return d;
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

LoadMeasurement::LoadMeasurement() : start_(std::chrono::steady_clock::now()) {
  if (heap_stats_available()) {
    before_ = heap_stats();
  } else {
    rss_before_ = resident_set_bytes();
  }
}

double LoadMeasurement::elapsed_s() const { return seconds_since(start_); }

std::uint64_t LoadMeasurement::grown_bytes() const {
  if (!heap_stats_available()) {
    const std::uint64_t after = resident_set_bytes();
    return after > rss_before_ ? after - rss_before_ : 0;
  }
  const std::uint64_t before = before_.in_use_bytes();
  const std::uint64_t after = heap_stats().in_use_bytes();
  return after > before ? after - before : 0;
}

namespace {
std::atomic<std::uint64_t> g_peak_samples{0};
std::atomic<int> g_peak_meters{0};
}  // namespace

std::uint64_t peak_meter_samples() { return g_peak_samples.load(); }
int peak_meters_running() { return g_peak_meters.load(); }

PeakMeter::PeakMeter(std::chrono::microseconds period) : period_(period) {
  heap_ = heap_stats_available();
  rss_start_ = resident_set_bytes();
  rss_peak_ = rss_start_;
  if (heap_) heap_peak_ = heap_start_ = heap_stats().in_use_bytes();
  g_peak_meters.fetch_add(1);
  thread_ = std::thread([this] {
    while (!done_.load(std::memory_order_relaxed)) {
      sample();
      std::this_thread::sleep_for(period_);
    }
  });
}

PeakMeter::~PeakMeter() { stop(); }

void PeakMeter::sample() {
  const std::uint64_t rss = resident_set_bytes();
  if (rss > rss_peak_.load(std::memory_order_relaxed)) rss_peak_.store(rss);
  if (heap_) {
    const std::uint64_t heap = heap_stats().in_use_bytes();
    if (heap > heap_peak_.load(std::memory_order_relaxed)) heap_peak_.store(heap);
  }
  g_peak_samples.fetch_add(1);
}

std::uint64_t PeakMeter::stop() {
  if (stopped_) return result_;
  stopped_ = true;
  done_.store(true);
  if (thread_.joinable()) thread_.join();
  sample();
  g_peak_meters.fetch_sub(1);
  const std::uint64_t rss_growth = rss_peak_.load() - rss_start_;
  const std::uint64_t heap_growth = heap_ ? heap_peak_.load() - heap_start_ : 0;
  result_ = rss_growth > heap_growth ? rss_growth : heap_growth;
  return result_;
}

namespace {

// Fixed thresholds: glibc no longer moves them on its own.
bool set_malloc_thresholds(int mmap_bytes, int trim_bytes) {
  const bool mmap = mallopt(M_MMAP_THRESHOLD, mmap_bytes) == 1;
  const bool trim = mallopt(M_TRIM_THRESHOLD, trim_bytes) == 1;
  return mmap && trim;
}

}  // namespace

bool keep_freed_memory() {
  // The largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2), and no trimming.
  return set_malloc_thresholds(32 << 20, std::numeric_limits<int>::max());
}

bool return_freed_memory(int mmap_bytes, int trim_bytes) {
  return set_malloc_thresholds(mmap_bytes, trim_bytes);
}

bool limit_malloc_arenas(int arenas) {
  if (arenas <= 0) return true;
  return mallopt(M_ARENA_MAX, arenas) == 1;
}

}  // namespace brulee::runtime
