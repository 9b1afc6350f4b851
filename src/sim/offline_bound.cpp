#include "sim/offline_bound.hpp"

#include <algorithm>

namespace brulee::sim {

OfflineBound::OfflineBound(const ModelTable& models, const CompactTrace& trace)
    : steps_(trace.size()) {
  cost_s_.resize(models.size());
  size_bytes_.resize(models.size());
  // Saving per byte-step of an interval of model m with length L: (cost / size) / L.
  std::vector<double> value_density(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) {
    cost_s_[m] = models[m].load_latency_s;
    size_bytes_[m] = static_cast<double>(models[m].size_bytes);
    value_density[m] = cost_s_[m] / std::max(1.0, size_bytes_[m]);
  }
  std::vector<bool> seen(models.size(), false);
  intervals_.reserve(trace.size());
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const ModelId model = trace.model[i];
    if (!seen[model]) {
      seen[model] = true;
      compulsory_cost_s_ += cost_s_[model];
    }
    const std::uint32_t next = trace.next_use[i];
    if (next == kNoNextUse) continue;
    reuse_cost_s_ += cost_s_[model];
    // A model of size 0 keeps its interval for free: count it as always kept.
    if (models[model].size_bytes == 0) {
      reuse_cost_s_ -= cost_s_[model];
      continue;
    }
    intervals_.push_back({static_cast<std::uint32_t>(next - i), model});
  }
  // Best saving per byte-step first; ties broken by (model, length) so the order is total and
  // the result deterministic.
  std::sort(intervals_.begin(), intervals_.end(), [&](const Interval& a, const Interval& b) {
    const double da = value_density[a.model] / a.length;
    const double db = value_density[b.model] / b.length;
    if (da != db) return da > db;
    if (a.model != b.model) return a.model < b.model;
    return a.length < b.length;
  });
}

double OfflineBound::lower_bound_s(std::uint64_t total_memory_bytes) const {
  long double budget = static_cast<long double>(total_memory_bytes) * static_cast<long double>(steps_);
  long double saving = 0.0L;
  for (const Interval& interval : intervals_) {
    if (budget <= 0.0L) break;
    const long double weight =
        static_cast<long double>(size_bytes_[interval.model]) * interval.length;
    const long double value = cost_s_[interval.model];
    if (weight <= budget) {
      saving += value;
      budget -= weight;
    } else {
      saving += value * (budget / weight);
      budget = 0.0L;
    }
  }
  const long double bound =
      static_cast<long double>(compulsory_cost_s_) + reuse_cost_s_ - saving;
  return std::max(0.0, static_cast<double>(bound));
}

}  // namespace brulee::sim
