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

namespace {

// The open file and its block buffer; unread bytes are buffer[begin, end).
struct BlockInput {
  std::string path;
  Fd fd;
  std::vector<unsigned char> buffer;
  std::size_t begin = 0;
  std::size_t end = 0;
  bool eof = false;

  std::size_t available() const { return end - begin; }
  const unsigned char* data() const { return buffer.data() + begin; }

  // Moves the unread bytes to the front and reads more behind them.
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
};

// One trace format decoded from a BlockInput. The reader asks for records or columns in blocks,
// so the virtual call is paid once a block.
class TraceSource {
 public:
  explicit TraceSource(BlockInput& input) : in_(input) {}
  virtual ~TraceSource() = default;
  TraceSource(const TraceSource&) = delete;
  TraceSource& operator=(const TraceSource&) = delete;

  virtual std::size_t read(std::span<TraceRecord> out) = 0;
  // Columns through read() a block at a time; a source that decodes columns directly overrides.
  virtual std::size_t read_columns(std::span<double> time_out, std::span<ModelId> model_out);
  // Names the caller's ids: `wanted` maps each name to its output id; unknown names are errors.
  virtual void restrict_models(NameIndex wanted) = 0;
  virtual std::uint64_t size_hint() const { return 0; }

  std::vector<std::string> names;  // output id -> name

 protected:
  BlockInput& in_;
  double last_time_s_ = 0.0;

 private:
  std::vector<TraceRecord> column_block_;
};

std::size_t TraceSource::read_columns(std::span<double> time_out, std::span<ModelId> model_out) {
  const std::size_t want = std::min(time_out.size(), model_out.size());
  const std::size_t block = std::min<std::size_t>(want, 1 << 16);
  if (column_block_.size() < block) column_block_.resize(block);
  std::size_t done = 0;
  while (done < want) {
    const std::size_t ask = std::min(want - done, column_block_.size());
    const std::size_t got = read(std::span<TraceRecord>(column_block_.data(), ask));
    for (std::size_t i = 0; i < got; ++i) {
      time_out[done + i] = column_block_[i].time_s;
      model_out[done + i] = column_block_[i].model;
    }
    done += got;
    if (got < ask) break;
  }
  return done;
}

// `request_id,time_s,model` lines; names get ids in order of first appearance.
class CsvSource final : public TraceSource {
 public:
  explicit CsvSource(BlockInput& input) : TraceSource(input) {
    std::string_view header;
    if (!next_line(header)) throw InputError(in_.path, 0, "empty file");
    if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
    if (header.size() >= 3 && static_cast<unsigned char>(header[0]) == 0xEF)
      header.remove_prefix(3);  // BOM
    if (header != kCsvHeader) {
      throw InputError(in_.path, 1,
                       "expected the header '" + std::string(kCsvHeader) + "', found '" +
                           std::string(header.substr(0, 80)) + "'");
    }
  }

  std::size_t read(std::span<TraceRecord> out) override {
    std::size_t produced = 0;
    std::string_view text;
    while (produced < out.size() && next_line(text)) {
      parse_line(text, out[produced]);
      ++produced;
    }
    return produced;
  }

  void restrict_models(NameIndex wanted) override {
    index_ = std::move(wanted);
    restricted_ = true;
  }

 private:
  // The next line (without the newline), or false at the end. Never copies the text beyond the
  // block buffer.
  bool next_line(std::string_view& out) {
    for (;;) {
      const auto* start = in_.data();
      const auto* newline =
          static_cast<const unsigned char*>(std::memchr(start, '\n', in_.available()));
      if (newline != nullptr) {
        out = std::string_view(reinterpret_cast<const char*>(start),
                               static_cast<std::size_t>(newline - start));
        in_.begin += static_cast<std::size_t>(newline - start) + 1;
        ++line_;
        return true;
      }
      if (in_.eof) {
        if (in_.available() == 0) return false;
        out = std::string_view(reinterpret_cast<const char*>(start),
                               in_.available());  // no final newline
        in_.begin = in_.end;
        ++line_;
        return true;
      }
      if (in_.begin == 0 && in_.end == in_.buffer.size()) {
        throw InputError(in_.path, line_ + 1,
                         "line longer than " + std::to_string(in_.buffer.size()) + " bytes");
      }
      in_.fill();
    }
  }

  void parse_line(std::string_view text, TraceRecord& record) {
    const std::string& path = in_.path;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.empty())
      throw InputError(path, line_, "empty line (expected request_id,time_s,model)");
    const char* p = text.data();
    const char* const stop = p + text.size();
    const char* comma1 = static_cast<const char*>(std::memchr(p, ',', text.size()));
    const char* comma2 = comma1 ? static_cast<const char*>(std::memchr(
                                      comma1 + 1, ',', static_cast<std::size_t>(stop - comma1 - 1)))
                                : nullptr;
    if (comma2 == nullptr ||
        std::memchr(comma2 + 1, ',', static_cast<std::size_t>(stop - comma2 - 1)) != nullptr) {
      const auto columns = 1 + std::count(text.begin(), text.end(), ',');
      throw InputError(
          path, line_,
          "expected 3 columns (request_id,time_s,model), found " + std::to_string(columns));
    }
    auto [id_end, id_ec] = std::from_chars(p, comma1, record.request_id);
    if (id_ec != std::errc() || id_end != comma1) {
      throw InputError(path, line_,
                       "request_id '" + std::string(p, comma1) + "' is not a non-negative integer");
    }
    auto [time_end, time_ec] = std::from_chars(comma1 + 1, comma2, record.time_s);
    if (time_ec != std::errc() || time_end != comma2 || !std::isfinite(record.time_s)) {
      throw InputError(path, line_,
                       "time_s '" + std::string(comma1 + 1, comma2) + "' is not a number");
    }
    if (record.time_s < 0) throw InputError(path, line_, "time_s is negative");
    if (record.time_s < last_time_s_) {
      throw InputError(path, line_,
                       "trace is not sorted by time (" + std::string(comma1 + 1, comma2) +
                           " after " + std::to_string(last_time_s_) + ")");
    }
    last_time_s_ = record.time_s;
    const std::string_view name(comma2 + 1, static_cast<std::size_t>(stop - comma2 - 1));
    if (name.empty()) throw InputError(path, line_, "empty model name");
    auto found = index_.find(name);
    if (found == index_.end()) {
      if (restricted_)
        throw InputError(path, line_,
                         "unknown model '" + std::string(name) + "' (not in the catalog)");
      if (name.find('"') != std::string_view::npos)
        throw InputError(path, line_, "quoted fields are not supported");
      found = index_.emplace(std::string(name), static_cast<ModelId>(names.size())).first;
      names.emplace_back(name);
    }
    record.model = found->second;
  }

  std::uint64_t line_ = 0;  // last line consumed (1-based)
  NameIndex index_;
  bool restricted_ = false;  // the names are the caller's: no new ones
};

// The binary form (docs/formats.md): a header, a name table, then fixed-size records decoded
// straight from the block.
class BinarySource final : public TraceSource {
 public:
  explicit BinarySource(BlockInput& input) : TraceSource(input) {
    const std::string& path = in_.path;
    unsigned char header[kTraceHeaderBytes];
    std::memcpy(header, in_.data(), kTraceHeaderBytes);
    in_.begin += kTraceHeaderBytes;
    const auto version = load_le<std::uint32_t>(header + 8);
    if (version != kTraceVersion) {
      throw InputError(path, 0,
                       "unsupported binary trace version " + std::to_string(version) +
                           " (this build reads version " + std::to_string(kTraceVersion) + ")");
    }
    const auto flags = load_le<std::uint32_t>(header + 12);
    if ((flags & ~kTraceFlagExplicitIds) != 0) throw InputError(path, 0, "unknown header flags");
    record_count_ = load_le<std::uint64_t>(header + 16);
    model_count_ = load_le<std::uint32_t>(header + 24);
    const auto record_size = load_le<std::uint32_t>(header + 28);
    first_request_id_ = load_le<std::uint64_t>(header + 32);
    const auto names_bytes = load_le<std::uint64_t>(header + 40);
    explicit_ids_ = (flags & kTraceFlagExplicitIds) != 0;
    record_bytes_ = explicit_ids_ ? kExplicitRecordBytes : kImplicitRecordBytes;
    if (record_size != record_bytes_)
      throw InputError(path, 0, "header record size does not match its flags");
    if (record_count_ == kIncompleteCount) {
      throw InputError(path, 0, "incomplete binary trace (the writer was not closed)");
    }
    struct stat info {};
    if (::fstat(in_.fd.get(), &info) != 0)
      throw InputError(path, 0, "stat failed: " + errno_text());
    const auto file_bytes = static_cast<std::uint64_t>(info.st_size);
    if (names_bytes > file_bytes || record_count_ > file_bytes / record_bytes_ ||
        kTraceHeaderBytes + names_bytes + record_count_ * record_bytes_ != file_bytes) {
      throw InputError(path, 0,
                       "binary trace is truncated or has trailing bytes (header promises " +
                           std::to_string(record_count_) + " records)");
    }
    read_names(names_bytes);
  }

  std::uint64_t size_hint() const override { return record_count_; }

  std::size_t read(std::span<TraceRecord> out) override {
    std::size_t produced = 0;
    while (produced < out.size() && records_done_ < record_count_) {
      const std::size_t n = next_block(out.size() - produced);
      const unsigned char* p = in_.data();
      TraceRecord* dst = out.data() + produced;
      double last = last_time_s_;
      for (std::size_t i = 0; i < n; ++i, p += record_bytes_) {
        TraceRecord& record = dst[i];
        if (explicit_ids_) {
          record.request_id = load_le<std::uint64_t>(p);
          record.time_s = load_le<double>(p + 8);
          record.model = load_le<std::uint32_t>(p + 16);
        } else {
          record.request_id = first_request_id_ + records_done_ + i;
          record.time_s = load_le<double>(p);
          record.model = load_le<std::uint32_t>(p + 8);
        }
        // One branch for all three checks keeps the loop tight; diagnose only on failure.
        if (!(record.time_s >= last) || record.model >= model_count_ ||
            !std::isfinite(record.time_s)) {
          diagnose(record.time_s, record.model, records_done_ + i, last);
        }
        last = record.time_s;
      }
      if (!remap_.empty()) {
        for (std::size_t i = 0; i < n; ++i) dst[i].model = remap_[dst[i].model];
      }
      consumed(n, last);
      produced += n;
    }
    return produced;
  }

  // Decoded from the block straight into the two columns, with the checks of read().
  std::size_t read_columns(std::span<double> time_out, std::span<ModelId> model_out) override {
    const std::size_t want = std::min(time_out.size(), model_out.size());
    const std::size_t id_bytes = explicit_ids_ ? 8 : 0;
    std::size_t produced = 0;
    while (produced < want && records_done_ < record_count_) {
      const std::size_t n = next_block(want - produced);
      const unsigned char* p = in_.data() + id_bytes;
      double* times = time_out.data() + produced;
      ModelId* models = model_out.data() + produced;
      double last = last_time_s_;
      for (std::size_t i = 0; i < n; ++i, p += record_bytes_) {
        const double time_s = load_le<double>(p);
        const auto model = load_le<std::uint32_t>(p + 8);
        if (!(time_s >= last) || model >= model_count_ || !std::isfinite(time_s)) {
          diagnose(time_s, model, records_done_ + i, last);
        }
        last = time_s;
        times[i] = time_s;
        models[i] = model;
      }
      if (!remap_.empty()) {
        for (std::size_t i = 0; i < n; ++i) models[i] = remap_[models[i]];
      }
      consumed(n, last);
      produced += n;
    }
    return produced;
  }

  void restrict_models(NameIndex wanted) override {
    // read() checks ids against the header's table (model_count_), then remaps.
    remap_.assign(names.size(), kNoModel);
    for (std::size_t m = 0; m < names.size(); ++m) {
      const auto found = wanted.find(names[m]);
      if (found == wanted.end())
        throw InputError(in_.path, 0, "unknown model '" + names[m] + "' (not in the catalog)");
      remap_[m] = found->second;
    }
  }

 private:
  // Name table: u32 length + bytes, model_count_ times (so at least 5 bytes a name: a header
  // cannot make the reader reserve for names the file does not hold).
  void read_names(std::uint64_t names_bytes) {
    const std::string& path = in_.path;
    if (std::uint64_t{model_count_} * 5 > names_bytes)
      throw InputError(path, 0, "corrupt model name table (more names than its bytes hold)");
    std::uint64_t consumed = 0;
    names.reserve(model_count_);
    for (std::uint32_t m = 0; m < model_count_; ++m) {
      if (in_.available() < 4) in_.fill();
      if (in_.available() < 4 || consumed + 4 > names_bytes)
        throw InputError(path, 0, "corrupt model name table");
      const auto length = load_le<std::uint32_t>(in_.data());
      in_.begin += 4;
      consumed += 4;
      if (length == 0 || length > 65536 || consumed + length > names_bytes) {
        throw InputError(path, 0, "corrupt model name table (model " + std::to_string(m) + ")");
      }
      if (in_.available() < length) in_.fill();
      if (in_.available() < length) throw InputError(path, 0, "corrupt model name table");
      names.emplace_back(reinterpret_cast<const char*>(in_.data()), length);
      in_.begin += length;
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

  // Whole records ready in the block (at least one), at most `want` and no more than are left.
  std::size_t next_block(std::size_t want) {
    if (in_.available() < record_bytes_) {
      in_.fill();
      if (in_.available() < record_bytes_) {
        throw InputError(in_.path, 0,
                         "binary trace ends early at record " + std::to_string(records_done_));
      }
    }
    return static_cast<std::size_t>(std::min<std::uint64_t>(
        {in_.available() / record_bytes_, want, record_count_ - records_done_}));
  }

  void consumed(std::size_t n, double last) {
    last_time_s_ = last;
    in_.begin += n * record_bytes_;
    records_done_ += n;
  }

  [[noreturn]] void diagnose(double time_s, ModelId model, std::uint64_t position,
                             double last) const {
    const std::string& path = in_.path;
    const std::string where = "record " + std::to_string(position) + ": ";
    if (!std::isfinite(time_s) || time_s < 0) {
      throw InputError(path, 0, where + "time is negative or not finite");
    }
    if (time_s < last) {
      throw InputError(path, 0,
                       where + "trace is not sorted by time (" + std::to_string(time_s) +
                           " after " + std::to_string(last) + ")");
    }
    throw InputError(path, 0,
                     where + "model id " + std::to_string(model) + " out of range (" +
                         std::to_string(model_count_) + " models)");
  }

  std::uint64_t record_count_ = 0;
  std::uint64_t records_done_ = 0;
  std::uint64_t first_request_id_ = 0;
  ModelId model_count_ = 0;  // in the header's name table
  std::size_t record_bytes_ = kImplicitRecordBytes;
  bool explicit_ids_ = false;
  std::vector<ModelId> remap_;  // header id -> output id (restrict_models); empty = identity
};

}  // namespace

struct TraceReader::Impl {
  BlockInput input;
  TraceFormat format = TraceFormat::kCsv;
  std::unique_ptr<TraceSource> source;
  bool by_records = false;  // read() was used
  bool by_columns = false;  // read_columns() was used
};

TraceReader::TraceReader(const std::string& path, TraceFormat format)
    : impl_(std::make_unique<Impl>()) {
  BlockInput& in = impl_->input;
  in.path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw InputError(path, 0, "no such file");
    throw InputError(path, 0, "cannot open: " + errno_text());
  }
  in.fd = Fd(fd);
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
  in.buffer.resize(block);
  in.fill();
  if (in.end == 0) throw InputError(path, 0, "empty file");
  const bool magic = in.end >= kTraceHeaderBytes && std::memcmp(in.data(), kTraceMagic, 8) == 0;
  if (format == TraceFormat::kAuto) format = magic ? TraceFormat::kBinary : TraceFormat::kCsv;
  impl_->format = format;
  if (format == TraceFormat::kBinary) {
    if (!magic)
      throw InputError(path, 0, "not a brulee binary trace (bad magic or shorter than its header)");
    impl_->source = std::make_unique<BinarySource>(in);
  } else {
    impl_->source = std::make_unique<CsvSource>(in);
  }
}

TraceReader::~TraceReader() = default;
TraceReader::TraceReader(TraceReader&&) noexcept = default;
TraceReader& TraceReader::operator=(TraceReader&&) noexcept = default;

TraceFormat TraceReader::format() const { return impl_->format; }
const std::vector<std::string>& TraceReader::model_names() const { return impl_->source->names; }
std::uint64_t TraceReader::size_hint() const { return impl_->source->size_hint(); }
const std::string& TraceReader::path() const { return impl_->input.path; }

std::size_t TraceReader::read(std::span<TraceRecord> out) {
  auto& s = *impl_;
  if (s.by_columns) throw std::logic_error("TraceReader::read after read_columns");
  s.by_records = true;
  return s.source->read(out);
}

std::size_t TraceReader::read_columns(std::span<double> time_s, std::span<ModelId> model) {
  auto& s = *impl_;
  if (s.by_records) throw std::logic_error("TraceReader::read_columns after read");
  s.by_columns = true;
  return s.source->read_columns(time_s, model);
}

void TraceReader::restrict_models(const std::vector<std::string>& names) {
  auto& s = *impl_;
  if (s.by_records || s.by_columns)
    throw std::logic_error("TraceReader::restrict_models after read()");
  NameIndex wanted;
  for (std::size_t m = 0; m < names.size(); ++m) wanted.emplace(names[m], static_cast<ModelId>(m));
  s.source->restrict_models(std::move(wanted));
  s.source->names = names;
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
