#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
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
//
// A block also carries a byte per request (`mark`), written by the consumer. With `after` set,
// a block given back (by next() or finish()) is passed to it with the range the consumer names,
// before the block is read into again: on the reader's thread when threaded, in block order, so
// that per-request work that only needs what the consumer decided (the simulator's tallies of
// pure cache mode) runs on the second core beside the consumer's loop.
class ReadAhead {
 public:
  static constexpr std::size_t kBlock = std::size_t{1} << 15;

  struct Block {
    double* time_s;      // the block's front room, then its requests
    ModelId* model;      // idem
    std::uint8_t* mark;  // idem; the consumer's
    std::size_t got;     // requests after the front room; < kBlock only at the trace's end
  };
  // Called with a block given back and the range [from, from + count) of its slots (front room
  // included) the consumer named.
  using After = std::function<void(const Block&, std::size_t from, std::size_t count)>;

  ReadAhead(TraceStream& stream, std::size_t front, bool threaded, After after = {});
  ~ReadAhead();  // stops the reader thread (after the block it is reading) and joins it
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The next block (waiting for it); the one returned before is given back to the reader, with
  // [from, from + count) for `after`. Not to be called again after a block with got < kBlock.
  Block next(std::size_t from = 0, std::size_t count = 0);

  // Gives back the block returned last (with its range for `after`) and waits until `after` has
  // seen every block given back. Rethrows what `after` threw.
  void finish(std::size_t from = 0, std::size_t count = 0);

 private:
  static constexpr std::size_t kBuffers = 3;
  struct Buffer {
    std::vector<double> time_s;
    std::vector<ModelId> model;
    std::vector<std::uint8_t> mark;
    std::size_t got = 0;
    std::exception_ptr error;
    bool filled = false;
    std::size_t after_from = 0;  // given back: the range for `after`
    std::size_t after_count = 0;
  };
  Block block_of(Buffer& buffer);
  void give_back(std::size_t from, std::size_t count);
  void run_after(Buffer& buffer);
  void read_all();

  TraceStream& stream_;
  std::size_t front_;
  After after_;
  Buffer buffers_[kBuffers];
  std::size_t next_ = 0;  // the consumer's next buffer (count, modulo kBuffers)
  bool holding_ = false;  // the consumer holds the buffer before next_
  std::mutex mutex_;
  std::condition_variable filled_;
  std::condition_variable freed_;
  bool stop_ = false;
  bool finished_ = false;           // finish() called: no more blocks will be asked for
  std::exception_ptr after_error_;  // what `after` threw on the reader's thread
  std::thread reader_;
};

}  // namespace brulee::sim
