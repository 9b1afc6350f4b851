#include "sim/read_ahead.hpp"

#include <span>

namespace brulee::sim {

ReadAhead::ReadAhead(TraceStream& stream, std::size_t front, bool threaded)
    : stream_(stream), front_(front) {
  for (std::size_t b = 0; b < (threaded ? kBuffers : 1); ++b) {
    buffers_[b].time_s.resize(front + kBlock);
    buffers_[b].model.resize(front + kBlock);
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

void ReadAhead::read_all() {
  for (std::size_t n = 0;; ++n) {
    Buffer& buffer = buffers_[n % kBuffers];
    {
      std::unique_lock lock(mutex_);
      freed_.wait(lock, [&] { return stop_ || !buffer.filled; });
      if (stop_) return;
    }
    std::size_t got = 0;
    std::exception_ptr error;
    try {
      got = stream_.read(std::span<double>(buffer.time_s.data() + front_, kBlock),
                         std::span<ModelId>(buffer.model.data() + front_, kBlock));
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      buffer.got = got;
      buffer.error = error;
      buffer.filled = true;
    }
    filled_.notify_one();
    if (error || got < kBlock) return;
  }
}

ReadAhead::Block ReadAhead::next() {
  if (!reader_.joinable()) {  // no thread: read here, into the one buffer
    Buffer& buffer = buffers_[0];
    buffer.got = stream_.read(std::span<double>(buffer.time_s.data() + front_, kBlock),
                              std::span<ModelId>(buffer.model.data() + front_, kBlock));
    return {buffer.time_s.data(), buffer.model.data(), buffer.got};
  }
  if (holding_) {
    {
      std::lock_guard lock(mutex_);
      buffers_[(next_ + kBuffers - 1) % kBuffers].filled = false;
    }
    freed_.notify_one();
  }
  Buffer& buffer = buffers_[next_ % kBuffers];
  ++next_;
  holding_ = true;
  {
    std::unique_lock lock(mutex_);
    filled_.wait(lock, [&] { return buffer.filled; });
  }
  if (buffer.error) std::rethrow_exception(buffer.error);
  return {buffer.time_s.data(), buffer.model.data(), buffer.got};
}

}  // namespace brulee::sim
