#pragma once
// The in-flight ceiling: one budget for the request and response memory of every request in
// flight, whatever protocol carried it (docs/server.md, "Limits"). A front-end charges what a
// request will allocate before allocating it and answers "unavailable, retry" when the charge
// is refused. With a process budget (--process-memory), every charge must also fit there, as
// kind "buffers" (docs/server.md, "Process memory").
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>

#include "runtime/memory.hpp"
#include "serve/process_budget.hpp"

namespace brulee::serve {

inline constexpr std::uint64_t kDefaultInflightBytes = 512ull << 20;
// Below this, one request's fixed overhead would not fit (--max-inflight-bytes).
inline constexpr std::uint64_t kMinInflightBytes = 64ull << 10;
// Under a process limit, a request that held at least this much gives the allocator's free
// memory back to the system when it is done (malloc_trim; docs/server.md, "Process memory").
inline constexpr std::uint64_t kTrimAfterBytes = 8ull << 20;

// The bytes all requests in flight may still allocate, shared by every front-end.
class InflightBudget {
 public:
  explicit InflightBudget(std::uint64_t limit_bytes, ProcessBudget* process = nullptr)
      : limit_bytes_(limit_bytes), process_(process) {}
  bool try_charge(std::uint64_t bytes) {
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > limit_bytes_ || used > limit_bytes_ - bytes) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    if (process_ && !process_->try_charge_buffers(bytes)) {
      used_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void release(std::uint64_t bytes) {
    if (process_) process_->release(MemoryKind::kBuffers, bytes);
    used_.fetch_sub(bytes, std::memory_order_relaxed);
    if (process_ && bytes >= kTrimAfterBytes && process_->limited() && !process_->keeping_freed()) {
      runtime::release_free_memory();
    }
  }
  // Under a process limit an open connection is charged too (docs/server.md, "Process memory"),
  // but connections together take at most half of the buffers' room (the share less the
  // reserve): the other half stays for requests, so however many clients connect, their
  // requests' bodies can still be read. Without the cap, 512 connections held 8 MiB of a
  // 13 MiB room and bodies were read one or two at a time while execution threads idled; a
  // few hundred more would have left no room for any body at all.
  bool try_charge_connection(std::uint64_t bytes) {
    const std::uint64_t cap = process_ ? process_->buffer_room_share() / 2 : limit_bytes_ / 2;
    std::uint64_t held = connection_bytes_.load(std::memory_order_relaxed);
    do {
      if (bytes > cap || held > cap - bytes) return false;
    } while (
        !connection_bytes_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
    if (!try_charge(bytes)) {
      connection_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  // Charges past the ceiling and the process budget's share, for one request at a time (false
  // while another holds such a charge): an answer that must not wait (docs/server.md,
  // "Limits"), bounded by its caller. Given back with end_over_budget.
  bool try_charge_over_budget(std::uint64_t bytes) {
    bool free = false;
    if (!over_.compare_exchange_strong(free, true, std::memory_order_acq_rel)) return false;
    used_.fetch_add(bytes, std::memory_order_relaxed);
    if (process_) process_->charge(MemoryKind::kBuffers, bytes);
    return true;
  }
  void end_over_budget() { over_.store(false, std::memory_order_release); }
  void release_connection(std::uint64_t bytes) {
    release(bytes);
    connection_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  std::uint64_t connection_bytes() const {
    return connection_bytes_.load(std::memory_order_relaxed);
  }
  // The waiter's place: at most one request at a time holds its body's charge while it waits
  // for more room (its parse charge beyond what its admission reserved). Two such requests can
  // each hold the room the other waits for: with the buffers' room nearly full, three requests
  // admitted with their bodies alone each waited for 27 kB of parse room that only their own
  // bodies held, until all three were refused at --inflight-wait. Every other request either
  // reserved its parse with its body or waits, holding nothing, for body and reservation.
  bool try_take_waiter_place() {
    bool free = false;
    return waiter_.compare_exchange_strong(free, true, std::memory_order_acq_rel);
  }
  void free_waiter_place() { waiter_.store(false, std::memory_order_release); }
  // Whether `bytes` could be charged with nothing else in flight (the process budget's share for
  // buffers included): a charge that could not is refused rather than waited for.
  bool could_fit(std::uint64_t bytes) const {
    if (bytes > limit_bytes_) return false;
    return !process_ || process_->could_fit_buffers(bytes);
  }
  // The line of requests waiting for room (docs/server.md, "Limits"): a request that must wait
  // joins it, and takes room only once no request that joined before it is still waiting, so
  // room given back goes to the requests in the order they began to wait.
  std::uint64_t join_line() {
    std::lock_guard lock(line_mutex_);
    const std::uint64_t ticket = next_ticket_++;
    line_.insert(ticket);
    return ticket;
  }
  void leave_line(std::uint64_t ticket) {
    std::lock_guard lock(line_mutex_);
    line_.erase(ticket);
  }
  bool first_in_line(std::uint64_t ticket) const {
    std::lock_guard lock(line_mutex_);
    return !line_.empty() && *line_.begin() == ticket;
  }
  bool line_empty() const {
    std::lock_guard lock(line_mutex_);
    return line_.empty();
  }
  std::size_t line_length() const {
    std::lock_guard lock(line_mutex_);
    return line_.size();
  }
  // Whether its charges also count against a process limit (--process-memory).
  bool process_limited() const { return process_ && process_->limited(); }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_bytes_; }

 private:
  const std::uint64_t limit_bytes_;
  ProcessBudget* const process_;
  std::atomic<std::uint64_t> used_{0};
  std::atomic<std::uint64_t> connection_bytes_{0};  // part of used_
  std::atomic<bool> waiter_{false};
  std::atomic<bool> over_{false};
  mutable std::mutex line_mutex_;
  std::set<std::uint64_t> line_;
  std::uint64_t next_ticket_ = 1;
};

// An open connection's charge (InflightBudget::try_charge_connection, or 0 bytes when nothing
// was charged); given back when the connection closes.
class ConnectionCharge {
 public:
  ConnectionCharge(InflightBudget& budget, std::uint64_t charged)
      : budget_(budget), bytes_(charged) {}
  ~ConnectionCharge() {
    if (bytes_ != 0) budget_.release_connection(bytes_);
  }
  ConnectionCharge(const ConnectionCharge&) = delete;
  ConnectionCharge& operator=(const ConnectionCharge&) = delete;

 private:
  InflightBudget& budget_;
  const std::uint64_t bytes_;
};

// What one request has charged to the budget; given back when the request is done.
class Charge {
 public:
  explicit Charge(InflightBudget& budget) : budget_(budget) {}
  // Takes over `charged` bytes already charged to `budget` (released with the rest).
  Charge(InflightBudget& budget, std::uint64_t charged) : budget_(budget), bytes_(charged) {}
  ~Charge() {
    free_waiter_place();
    budget_.release(bytes_);
    if (over_) budget_.end_over_budget();
  }
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;
  // InflightBudget::try_take_waiter_place for this request (true if it holds the place already).
  bool take_waiter_place() {
    if (!waiter_) waiter_ = budget_.try_take_waiter_place();
    return waiter_;
  }
  void free_waiter_place() {
    if (waiter_) budget_.free_waiter_place();
    waiter_ = false;
  }
  bool add(std::uint64_t bytes) {
    if (!budget_.try_charge(bytes)) return false;
    bytes_ += bytes;
    return true;
  }
  // InflightBudget::try_charge_over_budget, given back with the rest.
  bool add_over_budget(std::uint64_t bytes) {
    if (over_ || !budget_.try_charge_over_budget(bytes)) return false;
    over_ = true;
    bytes_ += bytes;
    return true;
  }
  // Gives back part of what was charged (a reservation found larger than needed).
  void give_back(std::uint64_t bytes) {
    bytes = std::min(bytes, bytes_);
    budget_.release(bytes);
    bytes_ -= bytes;
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  InflightBudget& budget_;
  std::uint64_t bytes_ = 0;
  bool waiter_ = false;
  bool over_ = false;
};

}  // namespace brulee::serve
