// The scheduler's parts shared by its source files (scheduler.cpp; the loader threads in
// scheduler_loader.cpp; the prefetch hooks in scheduler_prefetch.cpp). Not part of its
// interface: include serve/scheduler.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "runtime/memory.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve {
// How far (a share of it) a clean measurement may be from the profiled size and confirm it.
inline constexpr double kProfiledSizeTolerance = 0.05;
namespace detail {

// What tells cheaply that a model file was replaced or rewritten: any field changes.
struct FileFingerprint {
  bool exists = false;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileFingerprint&) const = default;
};

FileFingerprint file_fingerprint(const std::string& path);

}  // namespace detail

struct Scheduler::Request {
  std::vector<runtime::Tensor> inputs;
  InferDone done;
  Clock::time_point arrival;
  Clock::time_point deadline;
  std::uint64_t sequence = 0;  // its ticket's, once queued
  bool hit = false;
};

struct Scheduler::LoadWaiter {
  LoadDone done;
};

// Everything the scheduler holds for one model of the repository, resident or not: its state,
// queued requests, loaded handle, measured size, counters and failed-load back-off.
struct Scheduler::ModelEntry {
  ModelState state = ModelState::kAbsent;
  std::deque<std::unique_ptr<Request>> queue;
  std::vector<LoadWaiter> waiters;  // explicit loads; each holds one pin
  std::uint32_t holds = 0;          // requests whose bodies wait for the model (hold); one pin each
  std::vector<std::uint64_t> unsubmitted;  // the tokens of holds whose requests are not submitted
  std::atomic<ModelState> published{ModelState::kAbsent};  // `state`, for hold_settled
  std::atomic<std::uint32_t> read_turns{0};  // held requests past their hold (take_read_turn)
  std::unique_ptr<runtime::LoadedModel> handle;
  bool executing = false;
  bool runnable = false;  // in runnable_
  bool known_specs = false;
  std::vector<runtime::TensorSpec> inputs, outputs;
  std::uint64_t measured_bytes = 0;  // charged size from a clean measurement (0 = none yet)
  bool size_known = false;           // measured_bytes came from a load nothing else disturbed
  bool size_seeded = false;          // ... or, with size_known, from the profiled catalog
  // The profiled catalog's size while the clean measurements confirm it (within
  // kProfiledSizeTolerance): it stays the charged size, as the simulator sizes the model.
  // 0: not profiled, or a clean measurement contradicted it.
  std::uint64_t profiled_bytes = 0;
  bool remeasuring = false;       // the last measurement exceeded the budget; one more try
  bool peak_remeasuring = false;  // the same for the load peak (process limit)
  ModelCounters counters;
  std::string last_error;
  // The last load's work began (victims' unload, then load; an isolated load's wait at the
  // activity gate moves it later: that wait is not the load's work).
  Clock::time_point load_started;
  Clock::time_point ready_since;
  // Failed loads (docs/server.md, "Failed loads"); all reset by a successful load.
  std::uint32_t consecutive_failures = 0;
  Clock::time_point backoff_until;      // while absent: requests are refused until then
  detail::FileFingerprint failed_file;  // the file as the last failed load saw it
  Clock::time_point next_file_check;    // the file is read again from then on
  std::string load_note;                // why the next load happens (for its log line)
  // Process memory (docs/server.md, "Process memory"): what the model charges as resting bytes
  // while resident (until its memory is really freed), its load peak and workspace (catalog or
  // learned; 0 = unknown), and whether its work waits for process memory.
  std::uint64_t charged_resting = 0;
  std::uint64_t load_peak_bytes = 0;
  std::uint64_t workspace_bytes = 0;
  bool memory_wait = false;
};

// An explicit unload: the model has left the cache; a loader thread drops its handle.
struct Scheduler::UnloadJob {
  ModelId model = kNoModel;
  std::unique_ptr<runtime::LoadedModel> handle;
  std::uint64_t bytes = 0;
  LoadDone done;
};

struct Scheduler::LoadJob {
  ModelId model = kNoModel;
  std::vector<ModelId> victims;
  std::vector<std::unique_ptr<runtime::LoadedModel>> victim_handles;
  std::uint64_t reserved_bytes = 0;
  std::uint64_t process_bytes = 0;  // charged to the process budget as "loading"
  detail::FileFingerprint file;     // read by the loader thread just before it loads
  std::string note;
  bool prefetch = false;  // run by the prefetch thread (docs/prefetch.md)
};

// What one backend load gave the loader thread, before the scheduler takes it in.
struct Scheduler::LoadResult {
  std::unique_ptr<runtime::LoadedModel> handle;
  std::string error;  // why the backend gave no model (empty: it did)
  double load_s = 0.0;
  runtime::ThreadUsage work;    // the loader thread's CPU time and page faults over the load
  std::uint64_t load_peak = 0;  // measured at an isolated load under a process limit (0: not)
  std::uint64_t workspace = 0;  // one inference's, measured likewise (0: not)
  bool clean = false;           // nothing else ran during it: the bytes it grew are its own
};

}  // namespace brulee::serve
