// brulee trace files (workload/trace.hpp), CSV and binary, as the simulator, replay and the
// converters read them:
// - TraceReader ends every file in records or an InputError / UsageError (nothing else escapes,
//   no sanitizer report), by read() and by read_columns() alike, with the same records (before
//   an error, the same up to where the shorter stopped);
// - every record's model id indexes model_names(); with restrict_models, the given table;
// - the peak heap stays within a bound linear in the file (the reader streams: its blocks are
//   fixed, and a binary header cannot make it allocate for names or records the file lacks).
// Input layout: byte 0 = mode (bits 0-1: format auto / CSV / binary; bit 2: restrict the models
// to {a, b, m0}), then the file's bytes.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "core/error.hpp"
#include "workload/trace.hpp"

using namespace brulee;
using brulee::fuzz::fail;

namespace {

// The bytes as a file with a path, in memory (memfd): the reader opens paths.
class MemoryFile {
 public:
  MemoryFile(const std::uint8_t* data, std::size_t size) {
    fd_ = memfd_create("trace", 0);
    if (fd_ < 0) fail("memfd_create");
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) fail("write to memfd");
      done += static_cast<std::size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { close(fd_); }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

struct Records {
  std::vector<double> time_s;
  std::vector<ModelId> model;
  bool failed = false;  // an InputError / UsageError ended the reading
};

workload::TraceReader open(const std::string& path, std::uint8_t mode) {
  static const workload::TraceFormat formats[] = {
      workload::TraceFormat::kAuto, workload::TraceFormat::kCsv, workload::TraceFormat::kBinary,
      workload::TraceFormat::kAuto};
  workload::TraceReader reader(path, formats[mode & 3]);
  if (mode & 4) reader.restrict_models({"a", "b", "m0"});
  return reader;
}

void check_ids(const workload::TraceReader& reader, std::uint8_t mode, ModelId id) {
  const std::size_t table = (mode & 4) ? 3 : reader.model_names().size();
  if (id >= table) fail("a record's model id is outside the model table");
}

Records by_records(const std::string& path, std::uint8_t mode) {
  Records out;
  try {
    workload::TraceReader reader = open(path, mode);
    std::array<workload::TraceRecord, 7> block;  // odd-sized: records straddle blocks
    while (const std::size_t n = reader.read(block)) {
      for (std::size_t i = 0; i < n; ++i) {
        check_ids(reader, mode, block[i].model);
        out.time_s.push_back(block[i].time_s);
        out.model.push_back(block[i].model);
      }
    }
  } catch (const InputError&) {
    out.failed = true;
  } catch (const UsageError&) {
    out.failed = true;
  }
  return out;
}

Records by_columns(const std::string& path, std::uint8_t mode) {
  Records out;
  try {
    workload::TraceReader reader = open(path, mode);
    std::array<double, 5> times;
    std::array<ModelId, 5> models;
    while (const std::size_t n = reader.read_columns(times, models)) {
      for (std::size_t i = 0; i < n; ++i) {
        check_ids(reader, mode, models[i]);
        out.time_s.push_back(times[i]);
        out.model.push_back(models[i]);
      }
    }
  } catch (const InputError&) {
    out.failed = true;
  } catch (const UsageError&) {
    out.failed = true;
  }
  return out;
}

bool same_times(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i]) && !(a[i] != a[i] && b[i] != b[i])) return false;  // NaN == NaN here
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const MemoryFile file(data + 1, size - 1);
  Records records, columns;
  {
    fuzz::HeapPeak heap;
    records = by_records(file.path(), mode);
    // The reader's buffers (a few MiB at most), plus what the records kept here take (12 bytes
    // each, doubled by vector growth; a record takes at least 2 bytes of the file).
    heap.expect_at_most((8u << 20) + 64 * size, "TraceReader::read");
  }
  columns = by_columns(file.path(), mode);
  if (records.failed != columns.failed) fail("read() and read_columns() disagree on failing");
  if (!records.failed) {
    if (records.model != columns.model || !same_times(records.time_s, columns.time_s)) {
      fail("read() and read_columns() give different records");
    }
  } else {
    // A failing block is not delivered: each read delivered records up to a block boundary
    // before the bad one, so the shorter list is a prefix of the longer.
    const Records& shorter = records.model.size() <= columns.model.size() ? records : columns;
    const Records& longer = &shorter == &records ? columns : records;
    if (!std::equal(shorter.model.begin(), shorter.model.end(), longer.model.begin())) {
      fail("before an error, read() and read_columns() give different records");
    }
  }
  return 0;
}
