#pragma once
// The in-flight ceiling: one budget for the request and response memory of every request in
// flight, whatever protocol carried it (docs/server.md, "Limits"). A front-end charges what a
// request will allocate before allocating it and answers "unavailable, retry" when the charge
// is refused.
#include <atomic>
#include <cstdint>

namespace brulee::serve {

inline constexpr std::uint64_t kDefaultInflightBytes = 512ull << 20;
// Below this, one request's fixed overhead would not fit (--max-inflight-bytes).
inline constexpr std::uint64_t kMinInflightBytes = 64ull << 10;

// The bytes all requests in flight may still allocate, shared by every front-end.
class InflightBudget {
 public:
  explicit InflightBudget(std::uint64_t limit_bytes) : limit_bytes_(limit_bytes) {}
  bool try_charge(std::uint64_t bytes) {
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > limit_bytes_ || used > limit_bytes_ - bytes) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  void release(std::uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_bytes_; }

 private:
  const std::uint64_t limit_bytes_;
  std::atomic<std::uint64_t> used_{0};
};

// What one request has charged to the budget; given back when the request is done.
class Charge {
 public:
  explicit Charge(InflightBudget& budget) : budget_(budget) {}
  ~Charge() { budget_.release(bytes_); }
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;
  bool add(std::uint64_t bytes) {
    if (!budget_.try_charge(bytes)) return false;
    bytes_ += bytes;
    return true;
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  InflightBudget& budget_;
  std::uint64_t bytes_ = 0;
};

}  // namespace brulee::serve
