#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/model_info.hpp"
#include "sim/compact_trace.hpp"

namespace brulee::sim {

// Reads a TraceStream a block at a time: with `threaded`, on a thread of its own, up to two
// blocks ahead of its consumer, so that a streamed run's reading and decoding go on a second core
// while the loop simulates; otherwise in next(), on the caller's thread.
//
// Each block keeps `front` free slots before its requests, for the consumer to put the end of
// the block before it (the loop looks a few requests ahead across blocks). A block stays valid
// until the next call to next(). The reader's errors (unknown models, bad records) are thrown
// by next() at the block where the reading stopped, after every block before it: the same order
// as reading in the loop itself.
class ReadAhead {
 public:
  static constexpr std::size_t kBlock = std::size_t{1} << 14;

  struct Block {
    double* time_s;   // the block's front room, then its requests
    ModelId* model;   // idem
    std::size_t got;  // requests after the front room; < kBlock only at the trace's end
  };

  ReadAhead(TraceStream& stream, std::size_t front, bool threaded);
  ~ReadAhead();  // stops the reader thread (after the block it is reading) and joins it
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The next block (waiting for it); the one returned before is given back to the reader. Not
  // to be called again after a block with got < kBlock.
  Block next();

 private:
  static constexpr std::size_t kBuffers = 3;
  struct Buffer {
    std::vector<double> time_s;
    std::vector<ModelId> model;
    std::size_t got = 0;
    std::exception_ptr error;
    bool filled = false;
  };

  void read_all();

  TraceStream& stream_;
  std::size_t front_;
  Buffer buffers_[kBuffers];
  std::size_t next_ = 0;  // the consumer's next buffer (count, modulo kBuffers)
  bool holding_ = false;  // the consumer holds the buffer before next_
  std::mutex mutex_;
  std::condition_variable filled_;
  std::condition_variable freed_;
  bool stop_ = false;
  std::thread reader_;
};

}  // namespace brulee::sim
