// Trace reading and writing: CSV (`request_id,time_s,model`) and the compact binary form.
// Both readers stream in large blocks with POSIX read(); CSV fields are parsed with
// std::from_chars (no iostreams), the binary records are decoded straight from the block.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {
namespace {

constexpr std::size_t kBlockBytes = std::size_t{4} << 20;  // 4 MiB read/write blocks
constexpr std::uint64_t kIncompleteCount = ~std::uint64_t{0};
constexpr std::size_t kImplicitRecordBytes = 12;
constexpr std::size_t kExplicitRecordBytes = 20;
constexpr std::string_view kCsvHeader = "request_id,time_s,model";

static_assert(std::endian::native == std::endian::little ||
              std::endian::native == std::endian::big);

template <typename T>
T load_le(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    auto* bytes = reinterpret_cast<unsigned char*>(&value);
    std::reverse(bytes, bytes + sizeof(T));
  }
  return value;
}

template <typename T>
void store_le(unsigned char* p, T value) {
  if constexpr (std::endian::native == std::endian::big) {
    auto* bytes = reinterpret_cast<unsigned char*>(&value);
    std::reverse(bytes, bytes + sizeof(T));
  }
  std::memcpy(p, &value, sizeof(T));
}

std::string errno_text() { return std::strerror(errno); }

// An open file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Reads up to `size` bytes, retrying short reads; returns bytes read (less only at EOF).
std::size_t read_fully(int fd, unsigned char* data, std::size_t size, const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::read(fd, data + done, size - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw InputError(path, 0, "read failed: " + errno_text());
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

void write_fully(int fd, const unsigned char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t put = ::write(fd, data, size);
    if (put < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("writing " + path + ": " + errno_text());
    }
    data += put;
    size -= static_cast<std::size_t>(put);
  }
}

void check_model_name(const std::string& name, const std::string& where) {
  if (name.empty()) throw UsageError(where + ": empty model name");
  for (const char c : name) {
    if (c == ',' || c == '\n' || c == '\r' || c == '"') {
      throw UsageError(where + ": model name '" + name + "' contains a comma, quote or newline");
    }
  }
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};
using NameIndex = std::unordered_map<std::string, ModelId, StringHash, std::equal_to<>>;

}  // namespace

TraceFormat format_for_path(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot != std::string::npos) {
    std::string ext = path.substr(dot + 1);
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == "csv") return TraceFormat::kCsv;
  }
  return TraceFormat::kBinary;
}

bool request_ids_consecutive(const Trace& trace) {
  for (std::size_t i = 1; i < trace.request_id.size(); ++i) {
    if (trace.request_id[i] != trace.request_id[0] + i) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Reader

struct TraceReader::Impl {
  std::string path;
  TraceFormat format = TraceFormat::kCsv;
  Fd fd;
  std::vector<unsigned char> buffer;
  std::size_t begin = 0;  // unread bytes are buffer[begin, end)
  std::size_t end = 0;
  bool eof = false;
  bool started = false;
  double last_time_s = 0.0;
  std::vector<std::string> names;

  // CSV
  std::uint64_t line = 0;  // last line consumed (1-based)
  NameIndex index;
  bool restricted = false;

  // Binary
  std::uint64_t record_count = 0;
  std::uint64_t records_done = 0;
  std::uint64_t first_request_id = 0;
  ModelId header_model_count = 0;
  std::size_t record_bytes = kImplicitRecordBytes;
  bool explicit_ids = false;
  std::vector<ModelId> remap;  // header id -> output id (restrict_models); size = header models
  std::uint64_t names_bytes = 0;
  bool by_records = false;                // read() was used
  bool by_columns = false;                // read_columns() was used
  std::vector<TraceRecord> column_block;  // read_columns of a CSV trace

  void fill() {
    if (begin > 0) {
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (eof) return;
    const std::size_t got = read_fully(fd.get(), buffer.data() + end, buffer.size() - end, path);
    if (got < buffer.size() - end) eof = true;
    end += got;
  }

  void open_binary() {
    unsigned char header[kTraceHeaderBytes];
    std::memcpy(header, buffer.data() + begin, kTraceHeaderBytes);
    begin += kTraceHeaderBytes;
    const auto version = load_le<std::uint32_t>(header + 8);
    if (version != kTraceVersion) {
      throw InputError(path, 0,
                       "unsupported binary trace version " + std::to_string(version) +
                           " (this build reads version " + std::to_string(kTraceVersion) + ")");
    }
    const auto flags = load_le<std::uint32_t>(header + 12);
    if ((flags & ~kTraceFlagExplicitIds) != 0) throw InputError(path, 0, "unknown header flags");
    record_count = load_le<std::uint64_t>(header + 16);
    const auto model_count = load_le<std::uint32_t>(header + 24);
    header_model_count = model_count;
    const auto record_size = load_le<std::uint32_t>(header + 28);
    first_request_id = load_le<std::uint64_t>(header + 32);
    names_bytes = load_le<std::uint64_t>(header + 40);
    explicit_ids = (flags & kTraceFlagExplicitIds) != 0;
    record_bytes = explicit_ids ? kExplicitRecordBytes : kImplicitRecordBytes;
    if (record_size != record_bytes)
      throw InputError(path, 0, "header record size does not match its flags");
    if (record_count == kIncompleteCount) {
      throw InputError(path, 0, "incomplete binary trace (the writer was not closed)");
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw InputError(path, 0, "stat failed: " + errno_text());
    const auto file_bytes = static_cast<std::uint64_t>(info.st_size);
    if (names_bytes > file_bytes || record_count > file_bytes / record_bytes ||
        kTraceHeaderBytes + names_bytes + record_count * record_bytes != file_bytes) {
      throw InputError(path, 0,
                       "binary trace is truncated or has trailing bytes (header promises " +
                           std::to_string(record_count) + " records)");
    }
    // Name table: u32 length + bytes, model_count times (so at least 5 bytes a name: a header
    // cannot make the reader reserve for names the file does not hold).
    if (std::uint64_t{model_count} * 5 > names_bytes)
      throw InputError(path, 0, "corrupt model name table (more names than its bytes hold)");
    std::uint64_t consumed = 0;
    names.reserve(model_count);
    for (std::uint32_t m = 0; m < model_count; ++m) {
      if (end - begin < 4) fill();
      if (end - begin < 4 || consumed + 4 > names_bytes)
        throw InputError(path, 0, "corrupt model name table");
      const auto length = load_le<std::uint32_t>(buffer.data() + begin);
      begin += 4;
      consumed += 4;
      if (length == 0 || length > 65536 || consumed + length > names_bytes) {
        throw InputError(path, 0, "corrupt model name table (model " + std::to_string(m) + ")");
      }
      if (end - begin < length) fill();
      if (end - begin < length) throw InputError(path, 0, "corrupt model name table");
      names.emplace_back(reinterpret_cast<const char*>(buffer.data() + begin), length);
      begin += length;
      consumed += length;
    }
    if (consumed != names_bytes)
      throw InputError(path, 0, "corrupt model name table (size mismatch)");
    NameIndex seen;
    for (std::size_t m = 0; m < names.size(); ++m) {
      if (!seen.emplace(names[m], static_cast<ModelId>(m)).second) {
        throw InputError(path, 0, "model name '" + names[m] + "' appears twice in the name table");
      }
    }
  }

  std::size_t read_binary(std::span<TraceRecord> out) {
    std::size_t produced = 0;
    const ModelId model_count = header_model_count;
    while (produced < out.size() && records_done < record_count) {
      if (end - begin < record_bytes) {
        fill();
        if (end - begin < record_bytes) {
          throw InputError(path, 0,
                           "binary trace ends early at record " + std::to_string(records_done));
        }
      }
      const std::size_t available = (end - begin) / record_bytes;
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>({available, out.size() - produced, record_count - records_done}));
      const unsigned char* p = buffer.data() + begin;
      TraceRecord* dst = out.data() + produced;
      double last = last_time_s;
      for (std::size_t i = 0; i < n; ++i, p += record_bytes) {
        TraceRecord& record = dst[i];
        if (explicit_ids) {
          record.request_id = load_le<std::uint64_t>(p);
          record.time_s = load_le<double>(p + 8);
          record.model = load_le<std::uint32_t>(p + 16);
        } else {
          record.request_id = first_request_id + records_done + i;
          record.time_s = load_le<double>(p);
          record.model = load_le<std::uint32_t>(p + 8);
        }
        // One branch for all three checks keeps the loop tight; diagnose only on failure.
        if (!(record.time_s >= last) || record.model >= model_count ||
            !std::isfinite(record.time_s)) {
          diagnose_binary(record, records_done + i, last, model_count);
        }
        last = record.time_s;
      }
      if (!remap.empty()) {
        for (std::size_t i = 0; i < n; ++i) dst[i].model = remap[dst[i].model];
      }
      last_time_s = last;
      begin += n * record_bytes;
      produced += n;
      records_done += n;
    }
    return produced;
  }

  // Binary records decoded from the block straight into two columns, with the checks of
  // read_binary.
  std::size_t read_binary_columns(std::span<double> time_out, std::span<ModelId> model_out) {
    const std::size_t want = std::min(time_out.size(), model_out.size());
    const std::size_t id_bytes = explicit_ids ? 8 : 0;
    const ModelId model_count = header_model_count;
    std::size_t produced = 0;
    while (produced < want && records_done < record_count) {
      if (end - begin < record_bytes) {
        fill();
        if (end - begin < record_bytes) {
          throw InputError(path, 0,
                           "binary trace ends early at record " + std::to_string(records_done));
        }
      }
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(
          {(end - begin) / record_bytes, want - produced, record_count - records_done}));
      const unsigned char* p = buffer.data() + begin + id_bytes;
      double* times = time_out.data() + produced;
      ModelId* models = model_out.data() + produced;
      double last = last_time_s;
      for (std::size_t i = 0; i < n; ++i, p += record_bytes) {
        const double time_s = load_le<double>(p);
        const auto model = load_le<std::uint32_t>(p + 8);
        if (!(time_s >= last) || model >= model_count || !std::isfinite(time_s)) {
          TraceRecord record;
          record.time_s = time_s;
          record.model = model;
          diagnose_binary(record, records_done + i, last, model_count);
        }
        last = time_s;
        times[i] = time_s;
        models[i] = model;
      }
      if (!remap.empty()) {
        for (std::size_t i = 0; i < n; ++i) models[i] = remap[models[i]];
      }
      last_time_s = last;
      begin += n * record_bytes;
      produced += n;
      records_done += n;
    }
    return produced;
  }

  [[noreturn]] void diagnose_binary(const TraceRecord& record, std::uint64_t position, double last,
                                    ModelId model_count) const {
    const std::string where = "record " + std::to_string(position) + ": ";
    if (!std::isfinite(record.time_s) || record.time_s < 0) {
      throw InputError(path, 0, where + "time is negative or not finite");
    }
    if (record.time_s < last) {
      throw InputError(path, 0,
                       where + "trace is not sorted by time (" + std::to_string(record.time_s) +
                           " after " + std::to_string(last) + ")");
    }
    throw InputError(path, 0,
                     where + "model id " + std::to_string(record.model) + " out of range (" +
                         std::to_string(model_count) + " models)");
  }

  // Returns the next line (without the newline) or false at the end. Never copies the text
  // beyond the block buffer.
  bool next_line(std::string_view& out) {
    for (;;) {
      const auto* start = buffer.data() + begin;
      const auto* newline =
          static_cast<const unsigned char*>(std::memchr(start, '\n', end - begin));
      if (newline != nullptr) {
        out = std::string_view(reinterpret_cast<const char*>(start),
                               static_cast<std::size_t>(newline - start));
        begin += static_cast<std::size_t>(newline - start) + 1;
        ++line;
        return true;
      }
      if (eof) {
        if (begin == end) return false;
        out = std::string_view(reinterpret_cast<const char*>(start),
                               end - begin);  // no final newline
        begin = end;
        ++line;
        return true;
      }
      if (begin == 0 && end == buffer.size()) {
        throw InputError(path, line + 1,
                         "line longer than " + std::to_string(buffer.size()) + " bytes");
      }
      fill();
    }
  }

  void open_csv() {
    std::string_view header;
    if (!next_line(header)) throw InputError(path, 0, "empty file");
    if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
    if (header.size() >= 3 && static_cast<unsigned char>(header[0]) == 0xEF)
      header.remove_prefix(3);  // BOM
    if (header != kCsvHeader) {
      throw InputError(path, 1,
                       "expected the header '" + std::string(kCsvHeader) + "', found '" +
                           std::string(header.substr(0, 80)) + "'");
    }
  }

  std::size_t read_csv(std::span<TraceRecord> out) {
    std::size_t produced = 0;
    std::string_view text;
    while (produced < out.size() && next_line(text)) {
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (text.empty())
        throw InputError(path, line, "empty line (expected request_id,time_s,model)");
      const char* p = text.data();
      const char* const stop = p + text.size();
      const char* comma1 = static_cast<const char*>(std::memchr(p, ',', text.size()));
      const char* comma2 = comma1
                               ? static_cast<const char*>(std::memchr(
                                     comma1 + 1, ',', static_cast<std::size_t>(stop - comma1 - 1)))
                               : nullptr;
      if (comma2 == nullptr ||
          std::memchr(comma2 + 1, ',', static_cast<std::size_t>(stop - comma2 - 1)) != nullptr) {
        const auto columns = 1 + std::count(text.begin(), text.end(), ',');
        throw InputError(
            path, line,
            "expected 3 columns (request_id,time_s,model), found " + std::to_string(columns));
      }
      TraceRecord& record = out[produced];
      auto [id_end, id_ec] = std::from_chars(p, comma1, record.request_id);
      if (id_ec != std::errc() || id_end != comma1) {
        throw InputError(
            path, line,
            "request_id '" + std::string(p, comma1) + "' is not a non-negative integer");
      }
      auto [time_end, time_ec] = std::from_chars(comma1 + 1, comma2, record.time_s);
      if (time_ec != std::errc() || time_end != comma2 || !std::isfinite(record.time_s)) {
        throw InputError(path, line,
                         "time_s '" + std::string(comma1 + 1, comma2) + "' is not a number");
      }
      if (record.time_s < 0) throw InputError(path, line, "time_s is negative");
      if (record.time_s < last_time_s) {
        throw InputError(path, line,
                         "trace is not sorted by time (" + std::string(comma1 + 1, comma2) +
                             " after " + std::to_string(last_time_s) + ")");
      }
      last_time_s = record.time_s;
      const std::string_view name(comma2 + 1, static_cast<std::size_t>(stop - comma2 - 1));
      if (name.empty()) throw InputError(path, line, "empty model name");
      auto found = index.find(name);
      if (found == index.end()) {
        if (restricted)
          throw InputError(path, line,
                           "unknown model '" + std::string(name) + "' (not in the catalog)");
        if (name.find('"') != std::string_view::npos)
          throw InputError(path, line, "quoted fields are not supported");
        found = index.emplace(std::string(name), static_cast<ModelId>(names.size())).first;
        names.emplace_back(name);
      }
      record.model = found->second;
      ++produced;
    }
    return produced;
  }
};

TraceReader::TraceReader(const std::string& path, TraceFormat format)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw InputError(path, 0, "no such file");
    throw InputError(path, 0, "cannot open: " + errno_text());
  }
  s.fd = Fd(fd);
  struct stat info {};
  const bool known = ::fstat(fd, &info) == 0;
  if (known && S_ISDIR(info.st_mode)) throw InputError(path, 0, "is a directory");
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  // A small regular file gets a block that holds it whole (at least 128 KiB: a binary name of
  // up to 64 KiB must fit), not 4 MiB.
  std::size_t block = kBlockBytes;
  if (known && S_ISREG(info.st_mode) && info.st_size >= 0) {
    block = std::clamp<std::size_t>(static_cast<std::size_t>(info.st_size) + 1,
                                    std::size_t{128} << 10, kBlockBytes);
  }
  s.buffer.resize(block);
  s.fill();
  if (s.end == 0) throw InputError(path, 0, "empty file");
  const bool magic =
      s.end >= kTraceHeaderBytes && std::memcmp(s.buffer.data(), kTraceMagic, 8) == 0;
  if (format == TraceFormat::kAuto) format = magic ? TraceFormat::kBinary : TraceFormat::kCsv;
  s.format = format;
  if (format == TraceFormat::kBinary) {
    if (!magic)
      throw InputError(path, 0, "not a brulee binary trace (bad magic or shorter than its header)");
    s.open_binary();
  } else {
    s.open_csv();
  }
}

TraceReader::~TraceReader() = default;
TraceReader::TraceReader(TraceReader&&) noexcept = default;
TraceReader& TraceReader::operator=(TraceReader&&) noexcept = default;

TraceFormat TraceReader::format() const { return impl_->format; }
const std::vector<std::string>& TraceReader::model_names() const { return impl_->names; }
std::uint64_t TraceReader::size_hint() const {
  return impl_->format == TraceFormat::kBinary ? impl_->record_count : 0;
}
const std::string& TraceReader::path() const { return impl_->path; }

std::size_t TraceReader::read(std::span<TraceRecord> out) {
  auto& s = *impl_;
  if (s.by_columns) throw std::logic_error("TraceReader::read after read_columns");
  s.started = true;
  s.by_records = true;
  return s.format == TraceFormat::kBinary ? s.read_binary(out) : s.read_csv(out);
}

std::size_t TraceReader::read_columns(std::span<double> time_s, std::span<ModelId> model) {
  auto& s = *impl_;
  if (s.by_records) throw std::logic_error("TraceReader::read_columns after read");
  s.started = true;
  s.by_columns = true;
  if (s.format == TraceFormat::kBinary) return s.read_binary_columns(time_s, model);
  // CSV: through the record reader, a block at a time.
  const std::size_t want = std::min(time_s.size(), model.size());
  if (s.column_block.size() < std::min<std::size_t>(want, 1 << 16)) {
    s.column_block.resize(std::min<std::size_t>(want, 1 << 16));
  }
  std::size_t done = 0;
  while (done < want) {
    const std::size_t ask = std::min(want - done, s.column_block.size());
    const std::size_t got = s.format == TraceFormat::kBinary
                                ? s.read_binary(std::span<TraceRecord>(s.column_block.data(), ask))
                                : s.read_csv(std::span<TraceRecord>(s.column_block.data(), ask));
    for (std::size_t i = 0; i < got; ++i) {
      time_s[done + i] = s.column_block[i].time_s;
      model[done + i] = s.column_block[i].model;
    }
    done += got;
    if (got < ask) break;
  }
  return done;
}

void TraceReader::restrict_models(const std::vector<std::string>& names) {
  auto& s = *impl_;
  if (s.started) throw std::logic_error("TraceReader::restrict_models after read()");
  NameIndex wanted;
  for (std::size_t m = 0; m < names.size(); ++m) wanted.emplace(names[m], static_cast<ModelId>(m));
  if (s.format == TraceFormat::kBinary) {
    s.remap.assign(s.names.size(), kNoModel);
    for (std::size_t m = 0; m < s.names.size(); ++m) {
      const auto found = wanted.find(s.names[m]);
      if (found == wanted.end())
        throw InputError(s.path, 0, "unknown model '" + s.names[m] + "' (not in the catalog)");
      s.remap[m] = found->second;
    }
    // read_binary checks ids against the header's table (remap.size()), then remaps.
  } else {
    s.index = std::move(wanted);
    s.restricted = true;
  }
  s.names = names;
}

// ---------------------------------------------------------------------------------------------
// Writer

struct TraceWriter::Impl {
  std::string path;
  TraceFormat format = TraceFormat::kCsv;
  TraceWriterOptions options;
  std::vector<std::string> names;
  Fd fd;
  std::vector<unsigned char> buffer;
  std::size_t used = 0;
  std::uint64_t count = 0;
  std::uint64_t first_request_id = 0;
  double last_time_s = 0.0;
  bool closed = false;

  void flush() {
    write_fully(fd.get(), buffer.data(), used, path);
    used = 0;
  }

  void header_bytes(unsigned char* header, std::uint64_t record_count) const {
    std::memset(header, 0, kTraceHeaderBytes);
    std::memcpy(header, kTraceMagic, 8);
    store_le<std::uint32_t>(header + 8, kTraceVersion);
    store_le<std::uint32_t>(header + 12, options.explicit_request_ids ? kTraceFlagExplicitIds : 0);
    store_le<std::uint64_t>(header + 16, record_count);
    store_le<std::uint32_t>(header + 24, static_cast<std::uint32_t>(names.size()));
    store_le<std::uint32_t>(header + 28, static_cast<std::uint32_t>(options.explicit_request_ids
                                                                        ? kExplicitRecordBytes
                                                                        : kImplicitRecordBytes));
    store_le<std::uint64_t>(header + 32, first_request_id);
    std::uint64_t names_bytes = 0;
    for (const auto& name : names) names_bytes += 4 + name.size();
    store_le<std::uint64_t>(header + 40, names_bytes);
  }

  void check(const TraceRecord& record) {
    if (record.model >= names.size()) {
      throw UsageError("writing " + path + ": model id " + std::to_string(record.model) +
                       " out of range");
    }
    if (!std::isfinite(record.time_s) || record.time_s < 0) {
      throw UsageError("writing " + path + ": request " + std::to_string(record.request_id) +
                       " has a negative or non-finite time");
    }
    if (record.time_s < last_time_s) {
      throw UsageError("writing " + path + ": request " + std::to_string(record.request_id) +
                       " is out of time order");
    }
    last_time_s = record.time_s;
  }

  void write_binary(std::span<const TraceRecord> records) {
    const std::size_t record_bytes =
        options.explicit_request_ids ? kExplicitRecordBytes : kImplicitRecordBytes;
    for (const auto& record : records) {
      check(record);
      if (!options.explicit_request_ids) {
        if (count == 0) {
          first_request_id = record.request_id;
        } else if (record.request_id != first_request_id + count) {
          throw UsageError("writing " + path + ": request ids are not consecutive (" +
                           std::to_string(record.request_id) + " at position " +
                           std::to_string(count) + "); write with explicit request ids");
        }
      }
      if (buffer.size() - used < record_bytes) flush();
      unsigned char* p = buffer.data() + used;
      if (options.explicit_request_ids) {
        store_le<std::uint64_t>(p, record.request_id);
        p += 8;
      }
      store_le<double>(p, record.time_s);
      store_le<std::uint32_t>(p + 8, record.model);
      used += record_bytes;
      ++count;
    }
  }

  void write_csv(std::span<const TraceRecord> records) {
    constexpr std::size_t kMaxNumbers = 64;
    for (const auto& record : records) {
      check(record);
      const std::string& name = names[record.model];
      if (buffer.size() - used < kMaxNumbers + name.size()) flush();
      char* p = reinterpret_cast<char*>(buffer.data() + used);
      char* const limit = reinterpret_cast<char*>(buffer.data() + buffer.size());
      p = std::to_chars(p, limit, record.request_id).ptr;
      *p++ = ',';
      p = std::to_chars(p, limit, record.time_s).ptr;  // shortest form that reads back exactly
      *p++ = ',';
      std::memcpy(p, name.data(), name.size());
      p += name.size();
      *p++ = '\n';
      used = static_cast<std::size_t>(reinterpret_cast<unsigned char*>(p) - buffer.data());
      ++count;
    }
  }
};

TraceWriter::TraceWriter(const std::string& path, TraceFormat format,
                         std::vector<std::string> model_names)
    : TraceWriter(path, format, std::move(model_names), TraceWriterOptions{}) {}

TraceWriter::TraceWriter(const std::string& path, TraceFormat format,
                         std::vector<std::string> model_names, TraceWriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.path = path;
  s.format = format == TraceFormat::kAuto ? format_for_path(path) : format;
  s.options = options;
  s.names = std::move(model_names);
  NameIndex seen;
  for (std::size_t m = 0; m < s.names.size(); ++m) {
    check_model_name(s.names[m], "writing " + path);
    if (s.names[m].size() > 65536) throw UsageError("writing " + path + ": model name too long");
    if (!seen.emplace(s.names[m], static_cast<ModelId>(m)).second) {
      throw UsageError("writing " + path + ": model name '" + s.names[m] + "' given twice");
    }
  }
  if (s.names.size() >= kNoModel) throw UsageError("writing " + path + ": too many models");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw UsageError("cannot create " + path + ": " + errno_text());
  s.fd = Fd(fd);
  s.buffer.resize(kBlockBytes);
  if (s.format == TraceFormat::kBinary) {
    unsigned char header[kTraceHeaderBytes];
    s.header_bytes(header, kIncompleteCount);  // the count is written by close()
    std::memcpy(s.buffer.data(), header, kTraceHeaderBytes);
    s.used = kTraceHeaderBytes;
    for (const auto& name : s.names) {
      if (s.buffer.size() - s.used < 4 + name.size()) s.flush();
      store_le<std::uint32_t>(s.buffer.data() + s.used, static_cast<std::uint32_t>(name.size()));
      std::memcpy(s.buffer.data() + s.used + 4, name.data(), name.size());
      s.used += 4 + name.size();
    }
  } else {
    std::memcpy(s.buffer.data(), kCsvHeader.data(), kCsvHeader.size());
    s.buffer[kCsvHeader.size()] = '\n';
    s.used = kCsvHeader.size() + 1;
  }
}

TraceWriter::~TraceWriter() {
  if (impl_ && !impl_->closed) {
    try {
      close();
    } catch (...) {
      // Destructors do not throw; callers who care call close() themselves.
    }
  }
}

void TraceWriter::write(const TraceRecord& record) {
  write(std::span<const TraceRecord>(&record, 1));
}

void TraceWriter::write(std::span<const TraceRecord> records) {
  auto& s = *impl_;
  if (s.closed) throw std::logic_error("TraceWriter::write after close()");
  if (s.format == TraceFormat::kBinary) {
    s.write_binary(records);
  } else {
    s.write_csv(records);
  }
}

void TraceWriter::close() {
  auto& s = *impl_;
  if (s.closed) return;
  s.closed = true;
  s.flush();
  if (s.format == TraceFormat::kBinary) {
    unsigned char header[kTraceHeaderBytes];
    s.header_bytes(header, s.count);
    if (::pwrite(s.fd.get(), header, kTraceHeaderBytes, 0) !=
        static_cast<ssize_t>(kTraceHeaderBytes)) {
      throw std::runtime_error("writing " + s.path + ": " + errno_text());
    }
  }
  const int fd = s.fd.release();
  if (::close(fd) != 0) throw std::runtime_error("closing " + s.path + ": " + errno_text());
}

// ---------------------------------------------------------------------------------------------

Trace read_trace(const std::string& path, TraceFormat format) {
  TraceReader reader(path, format);
  Trace trace;
  if (const auto hint = reader.size_hint(); hint > 0) {
    trace.request_id.reserve(hint);
    trace.time_s.reserve(hint);
    trace.model.reserve(hint);
  }
  std::vector<TraceRecord> block(1 << 16);
  while (const std::size_t n = reader.read(block)) {
    for (std::size_t i = 0; i < n; ++i) {
      trace.request_id.push_back(block[i].request_id);
      trace.time_s.push_back(block[i].time_s);
      trace.model.push_back(block[i].model);
    }
  }
  trace.model_names = reader.model_names();
  return trace;
}

void write_trace(const std::string& path, const Trace& trace, TraceFormat format) {
  if (trace.time_s.size() != trace.model.size() || trace.request_id.size() != trace.model.size()) {
    throw std::invalid_argument("write_trace: columns of different lengths");
  }
  TraceWriterOptions options;
  options.explicit_request_ids = !request_ids_consecutive(trace);
  TraceWriter writer(path, format, trace.model_names, options);
  std::vector<TraceRecord> block;
  block.reserve(1 << 16);
  for (std::size_t i = 0; i < trace.size(); ++i) {
    block.push_back({trace.request_id[i], trace.time_s[i], trace.model[i]});
    if (block.size() == block.capacity()) {
      writer.write(block);
      block.clear();
    }
  }
  writer.write(block);
  writer.close();
}

}  // namespace brulee::workload
