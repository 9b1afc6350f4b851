#include "sim/offline_bound.hpp"

#include <algorithm>

#include "core/indexed_heap.hpp"

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
  // Pass 1: costs, and how many reuse intervals each model has.
  const std::size_t model_count = models.size();
  std::vector<bool> seen(model_count, false);
  std::vector<std::size_t> first_of(model_count + 1,
                                    0);  // model m's lengths: [first_of[m], first_of[m+1])
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const ModelId model = trace.model[i];
    if (!seen[model]) {
      seen[model] = true;
      compulsory_cost_s_ += cost_s_[model];
    }
    if (trace.next_use[i] == kNoNextUse) continue;
    reuse_cost_s_ += cost_s_[model];
    // A model of size 0 keeps its interval for free: count it as always kept.
    if (models[model].size_bytes == 0) {
      reuse_cost_s_ -= cost_s_[model];
      continue;
    }
    ++first_of[model + 1];
  }
  for (std::size_t m = 0; m < model_count; ++m) first_of[m + 1] += first_of[m];
  // Pass 2: each model's interval lengths, together, then sorted (shortest = best saving per
  // byte-step first). No division and no random access per comparison, unlike one global sort.
  std::vector<std::uint32_t> lengths(first_of[model_count]);
  {
    std::vector<std::size_t> cursor(first_of.begin(), first_of.end() - 1);
    for (std::size_t i = 0; i < trace.size(); ++i) {
      const ModelId model = trace.model[i];
      const std::uint32_t next = trace.next_use[i];
      if (next == kNoNextUse || models[model].size_bytes == 0) continue;
      lengths[cursor[model]++] = static_cast<std::uint32_t>(next - i);
    }
  }
  for (std::size_t m = 0; m < model_count; ++m) {
    std::sort(lengths.begin() + static_cast<std::ptrdiff_t>(first_of[m]),
              lengths.begin() + static_cast<std::ptrdiff_t>(first_of[m + 1]));
  }
  // Merge the per-model lists by saving per byte-step, best first; ties by (model, length), so
  // the order is total and the result deterministic. A 4-ary heap holds each model's next
  // interval keyed (-density, model).
  const auto key_of = [&](ModelId model, std::uint32_t length) {
    return HeapKey(-(value_density[model] / length), model);
  };
  std::vector<std::size_t> next_of(first_of.begin(), first_of.end() - 1);
  IndexedHeap heap;
  for (std::size_t m = 0; m < model_count; ++m) {
    if (first_of[m] < first_of[m + 1]) {
      heap.set(static_cast<ModelId>(m), key_of(static_cast<ModelId>(m), lengths[first_of[m]]));
    }
  }
  intervals_.reserve(lengths.size());
  while (!heap.empty()) {
    const ModelId model = heap.top().model;
    const std::size_t at = next_of[model]++;
    intervals_.push_back({lengths[at], model});
    if (at + 1 < first_of[model + 1]) {
      heap.set(model, key_of(model, lengths[at + 1]));
    } else {
      heap.erase(model);
    }
  }
}

double OfflineBound::lower_bound_s(std::uint64_t total_memory_bytes) const {
  long double budget =
      static_cast<long double>(total_memory_bytes) * static_cast<long double>(steps_);
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
  const long double bound = static_cast<long double>(compulsory_cost_s_) + reuse_cost_s_ - saving;
  return std::max(0.0, static_cast<double>(bound));
}

}  // namespace brulee::sim
