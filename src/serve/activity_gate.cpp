#include "serve/activity_gate.hpp"

namespace brulee::serve {

void ActivityGate::enter() {
  std::unique_lock lock(mutex_);
  if (exclusive_ || exclusive_waiting_ > 0) {
    shared_cv_.wait(lock, [&] { return !exclusive_ && exclusive_waiting_ == 0; });
  }
  ++shared_;
  ++entries_;
}

void ActivityGate::leave() {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    --shared_;
    wake = shared_ == 0 && exclusive_waiting_ > 0;
  }
  if (wake) exclusive_cv_.notify_all();
}

void ActivityGate::lock_exclusive() {
  std::unique_lock lock(mutex_);
  ++exclusive_waiting_;
  exclusive_cv_.wait(lock, [&] { return shared_ == 0 && !exclusive_; });
  --exclusive_waiting_;
  exclusive_ = true;
}

void ActivityGate::unlock_exclusive() {
  {
    std::lock_guard lock(mutex_);
    exclusive_ = false;
  }
  exclusive_cv_.notify_all();
  shared_cv_.notify_all();
}

ActivityGate::Mark ActivityGate::mark() const {
  std::lock_guard lock(mutex_);
  return {entries_, shared_ > 0};
}

bool ActivityGate::quiet_since(const Mark& since) const {
  std::lock_guard lock(mutex_);
  return !since.busy && entries_ == since.entries;
}

}  // namespace brulee::serve
