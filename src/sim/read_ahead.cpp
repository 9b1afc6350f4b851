#include "sim/read_ahead.hpp"

#include <span>
#include <utility>

namespace brulee::sim {

ReadAhead::ReadAhead(TraceStream& stream, std::size_t front, bool threaded, After after)
    : stream_(stream), front_(front), after_(std::move(after)) {
  for (std::size_t b = 0; b < (threaded ? kBuffers : 1); ++b) {
    buffers_[b].time_s.resize(front + kBlock);
    buffers_[b].model.resize(front + kBlock);
    buffers_[b].mark.resize(front + kBlock);
  }
  if (threaded) reader_ = std::thread([this] { read_all(); });
}

ReadAhead::~ReadAhead() {
  if (!reader_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  freed_.notify_all();
  reader_.join();
}

ReadAhead::Block ReadAhead::block_of(Buffer& buffer) {
  return {buffer.time_s.data(), buffer.model.data(), buffer.mark.data(), buffer.got};
}

void ReadAhead::run_after(Buffer& buffer) {
  const std::size_t count = std::exchange(buffer.after_count, 0);
  if (count != 0 && after_) after_(block_of(buffer), buffer.after_from, count);
}

// The reader's thread: buffer n % kBuffers in turn, each once the consumer gave it back: its
// `after`, then the next block read into it. After the last block, the buffers still out are
// waited for, for their `after` (only with one).
void ReadAhead::read_all() {
  std::size_t end = 0;  // with the reading over: the turn after the last buffer's `after`
  bool reading = true;
  for (std::size_t n = 0;; ++n) {
    if (!reading && n == end) return;
    Buffer& buffer = buffers_[n % kBuffers];
    {
      std::unique_lock lock(mutex_);
      freed_.wait(lock, [&] { return stop_ || !buffer.filled; });
      if (stop_) return;
    }
    std::size_t got = 0;
    std::exception_ptr error;
    try {
      run_after(buffer);
    } catch (...) {
      error = std::current_exception();
      std::lock_guard lock(mutex_);
      after_error_ = error;
    }
    if (!reading && !error) continue;
    if (!error) {
      try {
        got = stream_.read(std::span<double>(buffer.time_s.data() + front_, kBlock),
                           std::span<ModelId>(buffer.model.data() + front_, kBlock));
      } catch (...) {
        error = std::current_exception();
      }
    }
    {
      std::lock_guard lock(mutex_);
      buffer.got = got;
      buffer.error = error;
      buffer.filled = true;
    }
    filled_.notify_one();
    if (error || !after_) {
      if (error || got < kBlock) return;
    } else if (got < kBlock) {
      reading = false;
      end = n + kBuffers + 1;
    }
  }
}

void ReadAhead::give_back(std::size_t from, std::size_t count) {
  Buffer& held = buffers_[(next_ + kBuffers - 1) % kBuffers];
  {
    std::lock_guard lock(mutex_);
    held.after_from = from;
    held.after_count = count;
    held.filled = false;
  }
  freed_.notify_one();
  holding_ = false;
}

ReadAhead::Block ReadAhead::next(std::size_t from, std::size_t count) {
  if (!reader_.joinable()) {  // no thread: here, in the one buffer
    Buffer& buffer = buffers_[0];
    if (holding_) {
      buffer.after_from = from;
      buffer.after_count = count;
      run_after(buffer);
    }
    holding_ = true;
    buffer.got = stream_.read(std::span<double>(buffer.time_s.data() + front_, kBlock),
                              std::span<ModelId>(buffer.model.data() + front_, kBlock));
    return block_of(buffer);
  }
  if (holding_) give_back(from, count);
  Buffer& buffer = buffers_[next_ % kBuffers];
  ++next_;
  holding_ = true;
  {
    std::unique_lock lock(mutex_);
    filled_.wait(lock, [&] { return buffer.filled; });
  }
  if (buffer.error) std::rethrow_exception(buffer.error);
  return block_of(buffer);
}

void ReadAhead::finish(std::size_t from, std::size_t count) {
  if (!reader_.joinable()) {
    if (holding_) {
      buffers_[0].after_from = from;
      buffers_[0].after_count = count;
      holding_ = false;
      run_after(buffers_[0]);
    }
    return;
  }
  if (holding_) give_back(from, count);
  if (after_) reader_.join();
  if (after_error_) std::rethrow_exception(after_error_);
}

}  // namespace brulee::sim
