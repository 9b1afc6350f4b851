#pragma once
// The process budget (docs/server.md, "Process memory"): one count of every byte the server
// knowingly holds beyond its idle baseline, by kind, against one limit (--process-memory):
//   resting    models' resident bytes (measured; reserved at the estimate while loading),
//   loading    a load's peak above its resting estimate, reserved from its start to its end,
//   workspace  one inference's peak above resting, reserved while it runs,
//   buffers    request and response bytes in flight (the InflightBudget charges them here too).
// The scheduler charges and releases the first three at the start and end of loads and
// executions; try_charge refuses what would take baseline + charged above the limit. Lock-free:
// one atomic total (the check) and one atomic per kind (the report).
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace brulee::serve {

// Raises `value` to `at_least` if it is below (a high-water mark shared between threads).
inline void raise_to(std::atomic<std::uint64_t>& value, std::uint64_t at_least) {
  std::uint64_t held = value.load(std::memory_order_relaxed);
  while (at_least > held &&
         !value.compare_exchange_weak(held, at_least, std::memory_order_relaxed)) {
  }
}

enum class MemoryKind : std::uint8_t { kResting, kLoading, kWorkspace, kBuffers };
inline constexpr std::size_t kMemoryKinds = 4;
// "resting", "loading", "workspace", "buffers" (JSON keys and metric labels).
std::string_view memory_kind_name(MemoryKind kind);

class ProcessBudget {
 public:
  // limit_bytes 0: no limit (every charge succeeds; the counts are still kept for reports).
  explicit ProcessBudget(std::uint64_t limit_bytes = 0, std::uint64_t baseline_bytes = 0)
      : limit_(limit_bytes), baseline_(baseline_bytes) {}
  ProcessBudget(const ProcessBudget&) = delete;
  ProcessBudget& operator=(const ProcessBudget&) = delete;

  bool limited() const { return limit() != 0; }
  std::uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // Set once at start, before any load (the limit may be relative to the measured baseline).
  void set_limit(std::uint64_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }
  // The process's resident bytes with nothing loaded and nothing in flight (measured at start).
  std::uint64_t baseline() const { return baseline_.load(std::memory_order_relaxed); }
  void set_baseline(std::uint64_t bytes) { baseline_.store(bytes, std::memory_order_relaxed); }

  // Memory the process holds that no charge covers (the allocator's free lists and fragments,
  // libraries' caches, thread stacks): RSS - baseline - charged, as measured. The budget keeps
  // room for the most of it seen so far (its high-water mark), so that what is charged plus what
  // is not stays within the limit once it has been seen (docs/server.md, "The reserve for
  // uncharged memory"). Charges count it as used. It comes out of the buffers' share (most of
  // it is what requests' buffers leave with the allocator), and is at most half of it: requests
  // then wait longer for in-flight room, but no model's load peak stops fitting.
  std::uint64_t reserve() const { return reserve_.load(std::memory_order_relaxed); }
  // What the allocator does with freed memory (docs/server.md, "Process memory"). While RSS
  // stays under half the budget over the baseline the limit is far, and freed memory stays with
  // the allocator for reuse as it does without a limit (`keeping_freed`): giving it back costs
  // the next load and inference their page faults. Once RSS reaches that mark, freed memory
  // goes back to the system at once (thresholds of 1 MiB, trims after loads, unloads and large
  // requests) until a measurement finds RSS under a quarter of the budget again. While the
  // allocator keeps, its keep is not uncharged memory to reserve for: it is handed back at the
  // switch.
  enum class Switch : std::uint8_t { kNone, kReturnFreed, kKeepFreed };
  bool keeping_freed() const { return limited() && keeping_.load(std::memory_order_relaxed); }
  // One measurement of the process's resident bytes. Returning: raises the reserve to the
  // uncharged bytes it shows (never lowers it; capped). Says when the allocator must switch (to
  // exactly one caller): kReturnFreed (set the thresholds, trim, measure again), kKeepFreed.
  // No effect without a limit.
  Switch observe_rss(std::uint64_t rss_bytes);

  // Charges `bytes` if baseline + reserve + charged + bytes stays within the limit, and if what
  // is left afterwards is at least `keep_free` (room kept for other kinds: the scheduler's
  // charges leave the buffers' share free).
  bool try_charge(MemoryKind kind, std::uint64_t bytes, std::uint64_t keep_free = 0);
  // Charges unconditionally (a measurement above its reservation).
  void charge(MemoryKind kind, std::uint64_t bytes);
  void release(MemoryKind kind, std::uint64_t bytes);

  std::uint64_t charged() const { return total_.load(std::memory_order_relaxed); }
  std::uint64_t charged(MemoryKind kind) const {
    return kinds_[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
  }
  // What may still be charged (0 when at or above the limit; UINT64_MAX without a limit).
  std::uint64_t room() const;
  // Whether `bytes` more would fit now (no charge).
  bool fits(std::uint64_t bytes) const { return bytes <= room(); }

  // The bytes over the baseline that may be charged (0 without a limit).
  std::uint64_t budget() const;

  // Request and response buffers get their share of the budget (a fraction, set by the
  // scheduler, whose own charges keep it free), and only that: memory that resident models do
  // not use now is not lent to buffers, because requests holding it would wait for loads that
  // need it back.
  bool try_charge_buffers(std::uint64_t bytes);
  // Whether `bytes` of buffers could be charged with no other buffer in flight.
  bool could_fit_buffers(std::uint64_t bytes) const;
  std::uint64_t buffer_share() const;  // bytes
  // The share less the reserve: what buffers may hold.
  std::uint64_t buffer_room_share() const;
  void set_buffer_share(double fraction) { share_.store(fraction, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> limit_;
  std::atomic<std::uint64_t> baseline_;
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> reserve_{0};
  std::atomic<bool> keeping_{true};
  // baseline + reserve: what is used before any charge.
  std::uint64_t floor() const { return baseline() + reserve(); }
  std::array<std::atomic<std::uint64_t>, kMemoryKinds> kinds_{};
  std::atomic<double> share_{0.0};
};

// A figure of the process for reports (/metrics, /v2/cache).
struct ProcessMemoryReport {
  std::uint64_t rss_bytes = 0;
  std::uint64_t baseline_bytes = 0;
  std::uint64_t limit_bytes = 0;  // 0: no limit
  std::array<std::uint64_t, kMemoryKinds> charged{};
  std::uint64_t charged_bytes = 0;
  // RSS - baseline - charged (0 if negative): memory nobody charged (allocator caches,
  // fragmentation, libraries' own buffers, measurement error).
  std::uint64_t unattributed_bytes = 0;
  std::uint64_t reserve_bytes = 0;  // room kept for it (ProcessBudget::reserve)
};
ProcessMemoryReport report(const ProcessBudget& budget);
// The report as Prometheus families (brulee_process_*; docs/api.md, "Metrics").
std::string prometheus_text(const ProcessMemoryReport& report);

}  // namespace brulee::serve
