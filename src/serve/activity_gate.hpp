#pragma once
// Keeps the server's own transient allocations out of a model's measured bytes
// (docs/server.md, "Measured bytes under load").
//
// The runtime measures a model's bytes as the growth of the process's allocator in-use bytes
// across its load (docs/runtime.md). Anything else the process allocates or frees during that
// window lands in the figure: an inference of another model, a request body being parsed. The
// server's allocating work (parsing a request into tensors, running an inference) holds this
// gate shared; a load that needs a clean measurement holds it exclusively, so it waits for the
// running sections to end and keeps new ones out until it is done. Exclusive holders take
// precedence over new shared ones (no starvation of a load under steady traffic).
//
// The gate also tells whether a load that did not hold it was quiet anyway: no shared section
// was running when it began and none began before it ended.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace brulee::serve {

class ActivityGate {
 public:
  // Shared: waits while an exclusive holder holds or waits for the gate.
  void enter();
  void leave();
  // Shared without waiting: false (and nothing entered) while an exclusive holder holds or
  // waits for the gate. For threads that must not block (the network threads).
  bool try_enter();
  // An exclusive holder holds or waits for the gate: a shared section would wait now.
  bool contended() const { return exclusive_.load() > 0; }
  // Exclusive: waits until no shared section runs; new ones wait meanwhile.
  void lock_exclusive();
  void unlock_exclusive();

  // A position in the gate's history, to ask later whether anything ran since.
  struct Mark {
    std::uint64_t entries = 0;
    bool busy = false;  // a shared section was running when the mark was taken
  };
  Mark mark() const;
  // No shared section was running at `since` and none has begun after it.
  bool quiet_since(const Mark& since) const;

  // Leaves, when it goes, a shared section entered before it (enter, or a try_enter that
  // returned true).
  class Entered {
   public:
    explicit Entered(ActivityGate& gate) : gate_(gate) {}
    ~Entered() { gate_.leave(); }
    Entered(const Entered&) = delete;
    Entered& operator=(const Entered&) = delete;

   private:
    ActivityGate& gate_;
  };

  class Exclusive {
   public:
    explicit Exclusive(ActivityGate& gate) : gate_(gate) { gate_.lock_exclusive(); }
    ~Exclusive() { gate_.unlock_exclusive(); }
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;

   private:
    ActivityGate& gate_;
  };

 private:
  // Shared sections take no lock while no exclusive holder is around (the hit path crosses the
  // gate on every request): they count themselves in shared_ and check exclusive_; an exclusive
  // holder announces itself in exclusive_ first, then waits for shared_ to drain.
  std::atomic<unsigned> shared_{0};        // shared sections running
  std::atomic<unsigned> exclusive_{0};     // exclusive holders holding or waiting
  std::atomic<std::uint64_t> entries_{0};  // shared sections begun so far
  mutable std::mutex mutex_;               // for the waits below, and one exclusive at a time
  std::condition_variable shared_cv_;
  std::condition_variable exclusive_cv_;
  bool held_ = false;  // an exclusive holder holds the gate (under mutex_)
};

}  // namespace brulee::serve
