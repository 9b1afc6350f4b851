// The machine's speed, sampled: a fixed piece of work timed again and again, for telling a slow
// phase of a shared machine from a slow program (docs/fidelity.md, "The machine's speed,
// probed"). On the VM brulee is measured on, inference times drift by up to 1.8x from one minute
// to the next on an idle machine, the load average does not see it and the hypervisor reports no
// steal time; the time of a pointer chase through memory the caches cannot hold moves with the
// inferences (correlation 0.55-0.87 over 15 s windows), so each sample times one.
//
//   speed_probe [--every SECONDS] [--count N]
//
// Prints one line per sample, "UNIX_TIME MEMORY_MS COMPUTE_MS": MEMORY_MS is a chase of 100,000
// dependent loads through a 32 MiB random cycle (memory latency), COMPUTE_MS 300 products of
// 64x64 matrices (the cores alone). Samples every SECONDS (default 2) until killed, or N times.
// A sample takes about 25 ms of one core: 1-2% of it at the default rate.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double steady_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: speed_probe [--every SECONDS] [--count N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  double every_s = 2.0;
  long count = -1;  // until killed
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) usage();
    char* end = nullptr;
    if (arg == "--every") {
      every_s = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(every_s >= 0.0) || every_s > 3600.0) usage();
    } else if (arg == "--count") {
      count = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || count < 1) usage();
    } else {
      usage();
    }
  }
  // One random cycle through 32 MiB of 4-byte indices (Sattolo's shuffle: a single cycle, so
  // the chase never settles into a short loop that the caches could hold).
  constexpr std::uint32_t kSlots = (32u << 20) / sizeof(std::uint32_t);
  std::vector<std::uint32_t> next(kSlots);
  std::iota(next.begin(), next.end(), 0u);
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  for (std::uint32_t i = kSlots - 1; i > 0; --i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::swap(next[i], next[state % i]);
  }
  constexpr int kDim = 64;
  std::vector<float> a(kDim * kDim), b(kDim * kDim), c(kDim * kDim, 0.0f);
  for (int i = 0; i < kDim * kDim; ++i) {
    a[i] = static_cast<float>(i % 7) * 0.1f;
    b[i] = static_cast<float>(i % 5) * 0.2f;
  }
  std::uint32_t at = 0;
  for (long n = 0; count < 0 || n < count; ++n) {
    const double begin_s = seconds_now();
    const double t0 = steady_ms();
    for (int step = 0; step < 100000; ++step) at = next[at];
    const double t1 = steady_ms();
    for (int round = 0; round < 300; ++round) {
      for (int i = 0; i < kDim; ++i) {
        for (int j = 0; j < kDim; ++j) {
          float sum = 0.0f;
          for (int k = 0; k < kDim; ++k) sum += a[i * kDim + k] * b[k * kDim + j];
          c[i * kDim + j] += sum;
        }
      }
    }
    const double t2 = steady_ms();
    // The results are printed (at the end), so neither loop can be left out.
    std::printf("%.3f %.3f %.3f\n", begin_s, t1 - t0, t2 - t1);
    std::fflush(stdout);
    if (count >= 0 && n + 1 >= count) break;
    const double left_s = every_s - (seconds_now() - begin_s);
    if (left_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(left_s));
  }
  std::fprintf(stderr, "speed_probe: done (%u %.1f)\n", at, static_cast<double>(c[5]));
  return 0;
}
