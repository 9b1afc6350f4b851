#pragma once
// Victim selection that needs no ordering structure: CremeBrulee's trimming step, and a scan of
// every resident model for oracle policies whose order changes with time. The heap policies'
// selection is in core/heap_policy.hpp, the list policies' in core/model_list.hpp.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/cache_state.hpp"
#include "core/indexed_heap.hpp"

namespace brulee {

// From `victims[from..]` (in eviction order) keep only the ones needed to free `needed_bytes`
// beyond what victims[0..from) free, taking the largest first; the rest stay resident.
// This is the trimming step of the CremeBrulee artifact: no model is evicted needlessly.
void keep_largest_needed(const CacheState& cache, std::uint64_t needed_bytes,
                         std::vector<ModelId>& victims, std::size_t from);

// Appends unpinned resident models in ascending key order until their bytes cover the need.
// Scans every resident model: O(r log r). For oracle policies whose order depends on "now".
template <typename KeyFn>
void select_lowest_scan(const CacheState& cache, std::uint64_t needed_bytes,
                        std::vector<ModelId>& victims, KeyFn&& key_fn) {
  thread_local std::vector<IndexedHeap::Entry> candidates;  // reused: no allocation per call
  candidates.clear();
  for (ModelId model : cache.resident_models()) {
    if (!cache.pinned(model)) candidates.push_back({key_fn(model), model});
  }
  // Heap-select: O(r + k log r) for k victims, rather than sorting every candidate.
  const auto later = [](const IndexedHeap::Entry& a, const IndexedHeap::Entry& b) {
    return b.key < a.key || (!(a.key < b.key) && b.model < a.model);
  };
  std::make_heap(candidates.begin(), candidates.end(), later);
  std::uint64_t freed = 0;
  while (freed < needed_bytes && !candidates.empty()) {
    std::pop_heap(candidates.begin(), candidates.end(), later);
    const ModelId model = candidates.back().model;
    candidates.pop_back();
    victims.push_back(model);
    freed += cache.bytes_of(model);
  }
}

}  // namespace brulee
