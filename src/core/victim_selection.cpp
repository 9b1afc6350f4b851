#include "core/victim_selection.hpp"

namespace brulee {

void keep_largest_needed(const CacheState& cache, std::uint64_t needed_bytes,
                         std::vector<ModelId>& victims, std::size_t from) {
  std::uint64_t freed = 0;
  for (std::size_t i = 0; i < from; ++i) freed += cache.bytes_of(victims[i]);
  // Each candidate's bytes are read once, into a small array (on the stack for the usual few).
  struct Sized {
    std::uint64_t bytes;
    ModelId model;
  };
  constexpr std::size_t kOnStack = 32;
  const std::size_t count = victims.size() - from;
  Sized on_stack[kOnStack];
  std::vector<Sized> spilled;
  Sized* sized = on_stack;
  if (count > kOnStack) {
    spilled.resize(count);
    sized = spilled.data();
  }
  // Largest first; among equal sizes keep the eviction order (a stable insertion sort: victim
  // sets are small).
  for (std::size_t i = 0; i < count; ++i) {
    const Sized moving{cache.bytes_of(victims[from + i]), victims[from + i]};
    std::size_t at = i;
    while (at > 0 && sized[at - 1].bytes < moving.bytes) {
      sized[at] = sized[at - 1];
      --at;
    }
    sized[at] = moving;
  }
  std::size_t keep = 0;
  while (keep < count && freed < needed_bytes) {
    victims[from + keep] = sized[keep].model;
    freed += sized[keep].bytes;
    ++keep;
  }
  victims.resize(from + keep);
}

}  // namespace brulee
