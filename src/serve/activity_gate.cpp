#include "serve/activity_gate.hpp"

namespace brulee::serve {

// Every atomic access is sequentially consistent: a shared section that increments shared_ and
// then reads exclusive_ == 0, and an exclusive holder that increments exclusive_ and then reads
// shared_ == 0, cannot both proceed.
void ActivityGate::enter() {
  for (;;) {
    shared_.fetch_add(1);
    if (exclusive_.load() == 0) break;
    leave();  // an exclusive holder is around: step back and wait for it to finish
    std::unique_lock lock(mutex_);
    shared_cv_.wait(lock, [&] { return exclusive_.load() == 0; });
  }
  entries_.fetch_add(1);
}

bool ActivityGate::try_enter() {
  shared_.fetch_add(1);
  if (exclusive_.load() != 0) {
    leave();
    return false;
  }
  entries_.fetch_add(1);
  return true;
}

void ActivityGate::leave() {
  if (shared_.fetch_sub(1) == 1 && exclusive_.load() > 0) {
    // Taking the mutex orders this notification after the waiter's check of shared_.
    { std::lock_guard lock(mutex_); }
    exclusive_cv_.notify_all();
  }
}

void ActivityGate::lock_exclusive() {
  std::unique_lock lock(mutex_);
  exclusive_.fetch_add(1);
  exclusive_cv_.wait(lock, [&] { return shared_.load() == 0 && !held_; });
  held_ = true;
}

void ActivityGate::unlock_exclusive() {
  {
    std::lock_guard lock(mutex_);
    held_ = false;
    exclusive_.fetch_sub(1);
  }
  exclusive_cv_.notify_all();
  shared_cv_.notify_all();
}

ActivityGate::Mark ActivityGate::mark() const {
  Mark mark;
  mark.busy = shared_.load() > 0;
  mark.entries = entries_.load();
  return mark;
}

// A section begun after the mark has counted itself in entries_ by now, or is still between
// its increment of shared_ and of entries_ (so shared_ > 0).
bool ActivityGate::quiet_since(const Mark& since) const {
  return !since.busy && shared_.load() == 0 && entries_.load() == since.entries;
}

}  // namespace brulee::serve
