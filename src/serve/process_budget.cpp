#include "serve/process_budget.hpp"

#include <algorithm>
#include <limits>

#include "runtime/memory.hpp"

namespace brulee::serve {

std::string_view memory_kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kResting:
      return "resting";
    case MemoryKind::kLoading:
      return "loading";
    case MemoryKind::kWorkspace:
      return "workspace";
    case MemoryKind::kBuffers:
      return "buffers";
  }
  return "unknown";
}

bool ProcessBudget::try_charge(MemoryKind kind, std::uint64_t bytes, std::uint64_t keep_free) {
  std::uint64_t total = total_.load(std::memory_order_relaxed);
  if (const std::uint64_t limit = this->limit(); limit != 0) {
    do {
      const std::uint64_t used = floor() + total;
      if (used > limit || bytes > limit - used || keep_free > limit - used - bytes) {
        return false;
      }
    } while (!total_.compare_exchange_weak(total, total + bytes, std::memory_order_relaxed));
  } else {
    total_.fetch_add(bytes, std::memory_order_relaxed);
  }
  kinds_[static_cast<std::size_t>(kind)].fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

std::uint64_t ProcessBudget::budget() const {
  const std::uint64_t limit = this->limit();
  return limit - std::min(limit, baseline());
}

std::uint64_t ProcessBudget::buffer_share() const {
  const double fraction = std::clamp(share_.load(std::memory_order_relaxed), 0.0, 1.0);
  return static_cast<std::uint64_t>(static_cast<double>(budget()) * fraction);
}

std::uint64_t ProcessBudget::buffer_room_share() const {
  const std::uint64_t share = buffer_share();
  return share - std::min(share, reserve());
}

bool ProcessBudget::try_charge_buffers(std::uint64_t bytes) {
  const std::uint64_t limit = this->limit();
  if (limit == 0) return try_charge(MemoryKind::kBuffers, bytes);
  const std::uint64_t share = buffer_room_share();
  auto& buffers = kinds_[static_cast<std::size_t>(MemoryKind::kBuffers)];
  std::uint64_t held = buffers.load(std::memory_order_relaxed);
  do {
    if (held > share || bytes > share - held) return false;
  } while (!buffers.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  // The share is kept free by everything else, so the limit holds too, unless a forced charge
  // (a measurement above its reservation) took part of it: then refuse.
  std::uint64_t total = total_.load(std::memory_order_relaxed);
  do {
    const std::uint64_t used = floor() + total;
    if (used > limit || bytes > limit - used) {
      buffers.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
  } while (!total_.compare_exchange_weak(total, total + bytes, std::memory_order_relaxed));
  return true;
}

bool ProcessBudget::could_fit_buffers(std::uint64_t bytes) const {
  return !limited() || bytes <= buffer_room_share();
}

void ProcessBudget::charge(MemoryKind kind, std::uint64_t bytes) {
  total_.fetch_add(bytes, std::memory_order_relaxed);
  kinds_[static_cast<std::size_t>(kind)].fetch_add(bytes, std::memory_order_relaxed);
}

void ProcessBudget::release(MemoryKind kind, std::uint64_t bytes) {
  kinds_[static_cast<std::size_t>(kind)].fetch_sub(bytes, std::memory_order_relaxed);
  total_.fetch_sub(bytes, std::memory_order_relaxed);
}

std::uint64_t ProcessBudget::room() const {
  const std::uint64_t limit = this->limit();
  if (limit == 0) return std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t used = floor() + charged();
  return used >= limit ? 0 : limit - used;
}

ProcessBudget::Switch ProcessBudget::observe_rss(std::uint64_t rss_bytes) {
  if (!limited()) return Switch::kNone;
  const std::uint64_t over = rss_bytes - std::min(rss_bytes, baseline());
  if (keeping_.load(std::memory_order_relaxed)) {
    if (over < budget() / 2) return Switch::kNone;
    bool keeping = true;
    return keeping_.compare_exchange_strong(keeping, false, std::memory_order_relaxed)
               ? Switch::kReturnFreed
               : Switch::kNone;
  }
  const std::uint64_t known = baseline() + charged();
  if (rss_bytes > known) {
    const std::uint64_t cap = buffer_share() / 2;
    raise_to(reserve_, std::min(rss_bytes - known, cap));
  }
  if (over >= budget() / 4) return Switch::kNone;
  bool keeping = false;
  return keeping_.compare_exchange_strong(keeping, true, std::memory_order_relaxed)
             ? Switch::kKeepFreed
             : Switch::kNone;
}

ProcessMemoryReport report(const ProcessBudget& budget) {
  ProcessMemoryReport r;
  r.rss_bytes = runtime::resident_set_bytes();
  r.baseline_bytes = budget.baseline();
  r.limit_bytes = budget.limit();
  for (std::size_t k = 0; k < kMemoryKinds; ++k) {
    r.charged[k] = budget.charged(static_cast<MemoryKind>(k));
    r.charged_bytes += r.charged[k];
  }
  const std::uint64_t known = r.baseline_bytes + r.charged_bytes;
  r.unattributed_bytes = r.rss_bytes > known ? r.rss_bytes - known : 0;
  r.reserve_bytes = budget.reserve();
  return r;
}

std::string prometheus_text(const ProcessMemoryReport& r) {
  std::string text;
  const auto gauge = [&](const char* name, const char* help, std::uint64_t value) {
    text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
            " " + std::to_string(value) + "\n";
  };
  gauge("brulee_process_resident_bytes", "Resident set size of the server process.", r.rss_bytes);
  gauge("brulee_process_baseline_bytes", "Resident bytes of the idle process, measured at start.",
        r.baseline_bytes);
  gauge("brulee_process_memory_limit_bytes", "The process limit (--process-memory); 0: none.",
        r.limit_bytes);
  text +=
      "# HELP brulee_process_charged_bytes Bytes charged to the process budget, by kind.\n"
      "# TYPE brulee_process_charged_bytes gauge\n";
  for (std::size_t k = 0; k < kMemoryKinds; ++k) {
    text += "brulee_process_charged_bytes{kind=\"" +
            std::string(memory_kind_name(static_cast<MemoryKind>(k))) + "\"} " +
            std::to_string(r.charged[k]) + "\n";
  }
  gauge("brulee_process_unattributed_bytes",
        "Resident bytes beyond the baseline and every charge (allocator caches, fragmentation).",
        r.unattributed_bytes);
  gauge("brulee_process_reserve_bytes",
        "Room the budget keeps for unattributed bytes: their high-water mark, capped.",
        r.reserve_bytes);
  return text;
}

}  // namespace brulee::serve
