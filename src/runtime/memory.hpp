#pragma once
// Measuring the memory a model holds (docs/runtime.md, "Measured bytes").
// Bytes = growth of the allocator's in-use bytes (glibc mallinfo2: uordblks + hblkhd, i.e. bytes
// in malloc chunks plus bytes in mmapped blocks) across load + one warm-up inference, with all
// loads in the process serialized by load_mutex(). Unaffected by memory freed earlier and kept by
// glibc, unlike RSS growth. Where the allocator keeps no such statistics (another malloc
// preloaded, e.g. jemalloc or tcmalloc, or a sanitizer's), bytes = RSS growth instead.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

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
// What the calling thread has used so far: CPU time and page faults (getrusage RUSAGE_THREAD).
// Differences of two snapshots tell what one load cost beyond its wall time (docs/fidelity.md).
struct ThreadUsage {
  double cpu_s = 0.0;
  std::uint64_t minor_faults = 0;
  std::uint64_t major_faults = 0;
  static ThreadUsage now();
  ThreadUsage since(const ThreadUsage& earlier) const;
};
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

// The peak of the process's memory during one scope (a load, an inference), above its level at
// the start: a thread samples RSS (/proc/self/statm) and, where available, the allocator's in-use
// bytes (mallinfo2) every `period` from construction until stop(); the figure is the larger of
// the two peak growths (RSS catches file pages and memory outside malloc, the heap catches reuse
// of memory malloc kept). Resolution: one period (default 1 ms): a spike shorter than that can be
// missed, so the figure is a lower bound off by at most what the scope allocates and frees
// again within one period. Process-wide: what other threads allocate meanwhile is in it too.
class PeakMeter {
 public:
  explicit PeakMeter(std::chrono::microseconds period = std::chrono::milliseconds(1));
  ~PeakMeter();
  PeakMeter(const PeakMeter&) = delete;
  PeakMeter& operator=(const PeakMeter&) = delete;
  // Stops sampling (takes one last sample) and returns the peak growth in bytes (0 if none).
  std::uint64_t stop();
  std::uint64_t rss_at_start() const { return rss_start_; }

 private:
  void sample();
  std::uint64_t rss_start_ = 0;
  std::uint64_t heap_start_ = 0;
  bool heap_ = false;
  std::atomic<std::uint64_t> rss_peak_{0};
  std::atomic<std::uint64_t> heap_peak_{0};
  std::atomic<bool> done_{false};
  std::chrono::microseconds period_;
  std::thread thread_;
  std::uint64_t result_ = 0;
  bool stopped_ = false;
};

// Samples taken by every PeakMeter of the process so far (tests wait on it to know a held
// allocation was seen).
std::uint64_t peak_meter_samples();
// PeakMeters sampling right now.
int peak_meters_running();

// Tunes glibc malloc for a long-running server (docs/runtime.md, "Giving memory back"): at most
// `arenas` malloc arenas (0 leaves glibc's default of 8 per core). Returns whether glibc took it.
bool limit_malloc_arenas(int arenas);

// Makes glibc keep freed memory for reuse instead of handing it back on its own (docs/runtime.md,
// "Giving memory back"): no automatic trimming of a heap's top, and allocations up to 32 MiB (a
// model's largest tensors) from the heap rather than from mmap, whose blocks go back to the
// system on free. A model loaded into memory freed by an unload then takes no page fault; loads
// into fresh pages cost 1.2-5x as much on this machine (docs/fidelity.md). Only an explicit
// release_free_memory() hands memory back (the server does under --process-memory). Call it
// before the threads that allocate start. Returns whether glibc took both settings.
bool keep_freed_memory();

// The opposite, for a process bounded as a whole (--process-memory): every allocation of
// `mmap_bytes` or more is an mmap of its own, unmapped when freed, and a heap whose free top
// exceeds `trim_bytes` shrinks at once. Large request bodies, tensors and answers then leave no
// freed memory behind in the allocator between requests (smaller ones are reused). Setting the
// thresholds also stops glibc from raising them on its own after such a block is freed.
// Returns whether glibc took both settings.
bool return_freed_memory(int mmap_bytes = 1 << 20, int trim_bytes = 1 << 20);

}  // namespace brulee::runtime
