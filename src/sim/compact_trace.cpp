#include "sim/compact_trace.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/next_use.hpp"
#include "workload/trace.hpp"

namespace brulee::sim {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kLargeColumn = std::size_t{4} << 20;
}  // namespace

void* allocate_column(std::size_t bytes) {
  if (bytes < kLargeColumn) return ::operator new(bytes);
  const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* data = std::aligned_alloc(kHugePage, rounded);
  if (!data) throw std::bad_alloc();
  ::madvise(data, rounded, MADV_HUGEPAGE);  // a hint: without it, ordinary pages
  return data;
}

void free_column(void* data, std::size_t bytes) noexcept {
  if (bytes < kLargeColumn) {
    ::operator delete(data);
  } else {
    std::free(data);
  }
}

void compute_next_use(CompactTrace& trace, std::size_t model_count) {
  const std::size_t n = trace.size();
  if (n > kMaxTraceRequests) {
    throw UsageError("trace has " + std::to_string(n) +
                     " requests; the simulator handles at most " +
                     std::to_string(kMaxTraceRequests));
  }
  trace.next_use.resize(n);
  fill_next_use<std::uint32_t>(trace.model, model_count, trace.next_use, kNoNextUse);
}

void validate_trace(const CompactTrace& trace, std::size_t model_count, const std::string& source) {
  if (trace.time_s.size() != trace.model.size()) {
    throw InputError(source, 0, "time and model columns differ in length");
  }
  double previous_s = -INFINITY;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const double time_s = trace.time_s[i];
    if (!std::isfinite(time_s) || time_s < 0) {
      throw InputError(source, 0,
                       "request " + std::to_string(i) + ": time " + std::to_string(time_s) +
                           " is not a finite time >= 0");
    }
    if (time_s < previous_s) {
      throw InputError(source, 0,
                       "request " + std::to_string(i) + ": time " + std::to_string(time_s) +
                           " is before the previous request's");
    }
    previous_s = time_s;
    if (trace.model[i] >= model_count) {
      throw InputError(source, 0,
                       "request " + std::to_string(i) + ": model id " +
                           std::to_string(trace.model[i]) + " is not in the catalog");
    }
  }
}

struct TraceStream::Impl {
  Impl(const std::string& path, const ModelTable& models) : reader(path), seen(models.size(), 0) {
    binary = reader.format() == workload::TraceFormat::kBinary;
    by_name.reserve(models.size());
    for (std::size_t m = 0; m < models.size(); ++m)
      by_name.emplace(models[m].name, static_cast<ModelId>(m));
  }
  workload::TraceReader reader;
  bool binary = false;
  // Catalog ids by name; trace ids are mapped lazily (CSV traces name models as they appear).
  std::unordered_map<std::string, ModelId> by_name;
  std::vector<ModelId> to_catalog;
  std::vector<std::uint8_t> seen;  // per catalog model: requested
  double previous_s = -INFINITY;
};

TraceStream::TraceStream(const std::string& path, const ModelTable& models)
    : impl_(std::make_unique<Impl>(path, models)) {
  if (impl_->reader.size_hint() > kMaxTraceRequests) {
    throw InputError(path, 0,
                     "trace has " + std::to_string(impl_->reader.size_hint()) +
                         " requests; the simulator handles at most " +
                         std::to_string(kMaxTraceRequests));
  }
}

TraceStream::~TraceStream() = default;

const std::string& TraceStream::path() const { return impl_->reader.path(); }
bool TraceStream::binary() const { return impl_->binary; }
std::uint64_t TraceStream::size_hint() const { return impl_->reader.size_hint(); }
std::size_t TraceStream::models_requested() const {
  std::size_t count = 0;
  for (std::uint8_t requested : impl_->seen) count += requested;
  return count;
}

std::size_t TraceStream::read(std::span<double> time_s, std::span<ModelId> model) {
  Impl& in = *impl_;
  const std::string& path = in.reader.path();
  const std::size_t got = in.reader.read_columns(time_s, model);
  if (got == 0) return 0;
  const auto& names = in.reader.model_names();
  while (in.to_catalog.size() < names.size()) {
    const std::string& name = names[in.to_catalog.size()];
    const auto found = in.by_name.find(name);
    in.to_catalog.push_back(found == in.by_name.end() ? kNoModel : found->second);
  }
  ModelId* ids = model.data();
  const double* times = time_s.data();
  const std::uint64_t size = size_;
  const auto unknown = [&](std::size_t r) {
    const ModelId raw = ids[r];
    if (raw >= in.to_catalog.size()) {
      return InputError(path, 0,
                        "request " + std::to_string(size + r) + ": model id " +
                            std::to_string(raw) + " is not in the trace's table");
    }
    return InputError(path, 0,
                      "request " + std::to_string(size + r) + ": model '" + names[raw] +
                          "' is not in the catalog");
  };
  const ModelId* to_catalog = in.to_catalog.data();
  std::uint8_t* seen = in.seen.data();
  if (in.binary && size + got <= kMaxTraceRequests) {
    // The binary reader has checked every time (finite, in order) and every id (in its table):
    // only the mapping to the catalog is left.
    for (std::size_t r = 0; r < got; ++r) {
      const ModelId mapped = to_catalog[ids[r]];
      if (mapped == kNoModel) [[unlikely]]
        throw unknown(r);
      ids[r] = mapped;
      seen[mapped] = 1;
    }
    in.previous_s = times[got - 1];
  } else {
    for (std::size_t r = 0; r < got; ++r) {
      const std::uint64_t index = size + r;
      if (ids[r] >= in.to_catalog.size() || to_catalog[ids[r]] == kNoModel) throw unknown(r);
      if (!std::isfinite(times[r]) || times[r] < in.previous_s) {
        throw InputError(
            path, 0, "request " + std::to_string(index) + ": time is not finite or goes backwards");
      }
      in.previous_s = times[r];
      if (index >= kMaxTraceRequests) {
        throw InputError(path, 0,
                         "more than " + std::to_string(kMaxTraceRequests) +
                             " requests; the simulator cannot index them");
      }
      ids[r] = to_catalog[ids[r]];
      seen[ids[r]] = 1;
    }
  }
  size_ += got;
  return got;
}

CompactTrace load_trace(const std::string& path, const ModelTable& models, bool with_next_use) {
  TraceStream stream(path, models);
  CompactTrace trace;
  // The columns are filled in place, a block at a time (a binary trace: sized once from its
  // header).
  constexpr std::size_t kBlock = std::size_t{1} << 16;
  const auto known = static_cast<std::size_t>(stream.size_hint());
  std::size_t size = 0;
  for (;;) {
    if (trace.model.size() - size < kBlock && (known == 0 || trace.model.size() < known)) {
      const std::size_t grown = known ? known : std::max(2 * trace.model.size(), size + kBlock);
      trace.model.resize(grown);
      trace.time_s.resize(grown);
    }
    const std::size_t room = trace.model.size() - size;
    const std::size_t got = stream.read(std::span<double>(trace.time_s.data() + size, room),
                                        std::span<ModelId>(trace.model.data() + size, room));
    if (got == 0) break;
    size += got;
  }
  trace.model.resize(size);
  trace.time_s.resize(size);
  if (trace.size() == 0) throw InputError(path, 0, "the trace holds no requests");
  if (with_next_use) compute_next_use(trace, models.size());
  return trace;
}

}  // namespace brulee::sim
