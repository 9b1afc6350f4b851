#pragma once
// The simulator's in-memory trace: three parallel columns, 16 bytes per request
// (u32 model + f64 arrival time + u32 next-use index). Model ids index the catalog's ModelTable.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/model_info.hpp"

namespace brulee::sim {

// next_use value of a request whose model is never requested again.
inline constexpr std::uint32_t kNoNextUse = std::numeric_limits<std::uint32_t>::max();
// Largest trace the u32 columns can index (next_use needs one value for "never").
inline constexpr std::uint64_t kMaxTraceRequests = kNoNextUse - 1ULL;

// The columns' allocator: elements are left uninitialised on resize (the reader overwrites
// them: no pass of zeroes over hundreds of MB), and columns of 4 MiB or more are 2 MiB aligned
// and advised to use transparent huge pages (fewer page faults while the trace is read, fewer
// TLB misses while it is walked). Defined in compact_trace.cpp.
void* allocate_column(std::size_t bytes);
void free_column(void* data, std::size_t bytes) noexcept;
template <typename T>
struct ColumnAllocator {
  using value_type = T;
  ColumnAllocator() = default;
  template <typename U>
  ColumnAllocator(const ColumnAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_column(n * sizeof(T))); }
  void deallocate(T* data, std::size_t n) noexcept { free_column(data, n * sizeof(T)); }
  template <typename U, typename... Args>
  void construct(U* at, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      ::new (static_cast<void*>(at)) U;  // default-initialised: no zeroing
    } else {
      ::new (static_cast<void*>(at)) U(std::forward<Args>(args)...);
    }
  }
  template <typename U>
  bool operator==(const ColumnAllocator<U>&) const noexcept {
    return true;
  }
};
template <typename T>
using Column = std::vector<T, ColumnAllocator<T>>;

struct CompactTrace {
  Column<ModelId> model;
  Column<double> time_s;
  Column<std::uint32_t> next_use;  // index of the model's next request, or kNoNextUse
  std::size_t size() const { return model.size(); }
  void push_back(ModelId model_id, double arrival_s) {
    model.push_back(model_id);
    time_s.push_back(arrival_s);
  }
};

// Fills trace.next_use in one backwards pass. Throws UsageError if a model id is not below
// `model_count` or if the trace is longer than kMaxTraceRequests.
void compute_next_use(CompactTrace& trace, std::size_t model_count);

// Checks what the simulator relies on: times finite and non-decreasing, model ids known.
// Throws InputError(source, 0, "request N: ...") on the first problem.
void validate_trace(const CompactTrace& trace, std::size_t model_count, const std::string& source);

// A brulee trace (CSV or binary, via workload::TraceReader) read a block at a time, its model
// names mapped to ids of `models` (by name), with the checks the simulator relies on (times
// finite and in order, models in the catalog, at most kMaxTraceRequests requests). load_trace
// reads one into columns; a run that needs no more than one pass over the requests can read it
// itself (simulate(models, TraceStream&, ...)) and never hold the whole trace.
class TraceStream {
 public:
  // Throws InputError naming the file if it cannot be opened or is too long to index.
  TraceStream(const std::string& path, const ModelTable& models);
  ~TraceStream();
  TraceStream(const TraceStream&) = delete;
  TraceStream& operator=(const TraceStream&) = delete;

  const std::string& path() const;
  bool binary() const;
  // Binary: the exact number of requests (from the header); CSV: 0 (unknown).
  std::uint64_t size_hint() const;
  // Fills up to min(time_s.size(), model.size()) requests, ids of `models`; fewer only at the
  // end of the trace (0 after it). Throws InputError naming the file and the request on unknown
  // models or bad rows.
  std::size_t read(std::span<double> time_s, std::span<ModelId> model);
  std::uint64_t requests_read() const { return size_; }
  // How many of `models` the requests read so far name.
  std::size_t models_requested() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t size_ = 0;
};

// Reads a whole trace (TraceStream) into compact form. Throws InputError naming the file on
// unknown models or bad rows, or if it holds no requests. Fills next_use when `with_next_use`
// (oracle policies and the bounds need it; the others do not).
CompactTrace load_trace(const std::string& path, const ModelTable& models,
                        bool with_next_use = true);

}  // namespace brulee::sim
