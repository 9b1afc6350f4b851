#pragma once
// brulee traces: a time-sorted stream of requests for models, in CSV
// (`request_id,time_s,model`) or a compact little-endian binary form (docs/formats.md).
// This header is the contract between the workload tools, the simulator and replay.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/model_info.hpp"

namespace brulee::workload {

struct TraceRecord {
  std::uint64_t request_id = 0;
  double time_s = 0.0;
  ModelId model = kNoModel;  // index into the trace's model_names
};

enum class TraceFormat { kAuto, kCsv, kBinary };

// A whole trace in memory, columnar.
struct Trace {
  std::vector<std::string> model_names;  // index = ModelId used in `model`
  std::vector<std::uint64_t> request_id;
  std::vector<double> time_s;
  std::vector<ModelId> model;
  std::size_t size() const { return model.size(); }
};

// Streams a trace of either format without holding its text in memory. Throws InputError
// naming the file and line on bad input (malformed rows, unsorted times, ...).
class TraceReader {
 public:
  explicit TraceReader(const std::string& path, TraceFormat format = TraceFormat::kAuto);
  ~TraceReader();
  TraceReader(TraceReader&&) noexcept;
  TraceReader& operator=(TraceReader&&) noexcept;

  TraceFormat format() const;
  // Binary: every model name, from the header. CSV: the names seen so far (ids in order of
  // first appearance).
  const std::vector<std::string>& model_names() const;
  // Binary: the exact number of records; CSV: 0 (unknown).
  std::uint64_t size_hint() const;
  // Fills up to out.size() records; returns how many were read (0 at the end).
  std::size_t read(std::span<TraceRecord> out);
  // Added: the same records as read() with the same checks and errors, straight into two
  // columns (request ids are not kept); up to min(time_s.size(), model.size()). Binary records
  // are decoded from the read block straight into the columns. Use either read() or
  // read_columns() on one reader, not both (std::logic_error).
  std::size_t read_columns(std::span<double> time_s, std::span<ModelId> model);

  // Makes model ids index `names` (e.g. a catalog's models, in catalog order) instead of
  // the trace's own table. A model the trace names that is not in `names` is an InputError
  // (CSV: with its line). Call before the first read().
  void restrict_models(const std::vector<std::string>& names);
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Binary layout choices (docs/formats.md). By default request ids are implied by
// position (first id + index, 12-byte records); explicit ids store them (20-byte records).
struct TraceWriterOptions {
  bool explicit_request_ids = false;
};

// Writes a trace. Times must be non-decreasing; model ids index `model_names`.
class TraceWriter {
 public:
  TraceWriter(const std::string& path, TraceFormat format, std::vector<std::string> model_names);
  TraceWriter(const std::string& path, TraceFormat format, std::vector<std::string> model_names,
              TraceWriterOptions options);  // added
  ~TraceWriter();                           // closes; errors are reported by close()
  void write(const TraceRecord& record);
  void write(std::span<const TraceRecord> records);
  void close();  // flushes; throws on an I/O error

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Trace read_trace(const std::string& path, TraceFormat format = TraceFormat::kAuto);
void write_trace(const std::string& path, const Trace& trace, TraceFormat format);
// ".csv" -> CSV, anything else -> binary (".bin", ".brt", ...).
TraceFormat format_for_path(const std::string& path);

// Binary layout constants (docs/formats.md).
inline constexpr char kTraceMagic[8] = {'B', 'R', 'U', 'L', 'T', 'R', 'C', '\0'};
inline constexpr std::uint32_t kTraceVersion = 1;
inline constexpr std::uint32_t kTraceFlagExplicitIds = 1;
inline constexpr std::size_t kTraceHeaderBytes = 48;
// True when request ids are first, first+1, ... (the compact binary layout can imply them).
bool request_ids_consecutive(const Trace& trace);

}  // namespace brulee::workload
