#pragma once
// What the fuzz targets check beyond the sanitizers. fail(): a finding (printed on stdout, which
// run.sh keeps, then abort: libFuzzer saves the input). HeapPeak: peak heap bytes allocated between
// start() and peak_bytes(), from AddressSanitizer's malloc and free hooks (every thread, OpenCV and
// libpng/libjpeg included). The fuzz targets use it to check that the cost estimates the server
// charges (json_limits.hpp, kserve.hpp, image.hpp) bound what parsing really takes.
#include <sanitizer/allocator_interface.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace brulee::fuzz {

[[noreturn]] inline void fail(const char* what) {
  std::printf("fuzz check failed: %s\n", what);
  std::fflush(stdout);
  std::abort();
}

class HeapPeak {
 public:
  HeapPeak() {
    static const bool installed = [] {
      return __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free) != 0;
    }();
    if (!installed) {
      std::fprintf(stdout, "heap_peak: no room for another malloc hook\n");
      std::fflush(stdout);
      std::abort();
    }
    live_ = 0;
    peak_ = 0;
    on_ = true;
  }
  ~HeapPeak() { on_ = false; }
  std::int64_t peak_bytes() const { return peak_.load(); }

  // Aborts (a crash for libFuzzer) when the peak went past `bound`.
  void expect_at_most(std::uint64_t bound, const char* what) const {
    if (peak_bytes() > 0 && static_cast<std::uint64_t>(peak_bytes()) > bound) {
      std::fprintf(stdout, "%s: peak heap %lld bytes above the estimate %llu\n", what,
                   static_cast<long long>(peak_bytes()), static_cast<unsigned long long>(bound));
      std::fflush(stdout);
      std::abort();
    }
  }

 private:
  // Frees of blocks allocated before start() lower `live`: the peak can only be under-counted.
  static void on_malloc(const volatile void*, std::size_t bytes) {
    if (!on_) return;
    const std::int64_t live = live_ += static_cast<std::int64_t>(bytes);
    std::int64_t peak = peak_.load();
    while (live > peak && !peak_.compare_exchange_weak(peak, live)) {
    }
  }
  static void on_free(const volatile void* pointer) {
    if (!on_ || !pointer) return;
    live_ -= static_cast<std::int64_t>(__sanitizer_get_allocated_size(pointer));
  }
  static inline std::atomic<bool> on_{false};
  static inline std::atomic<std::int64_t> live_{0};
  static inline std::atomic<std::int64_t> peak_{0};
};

}  // namespace brulee::fuzz
