#pragma once
// What the policies know of one model: its size and its measured costs.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace brulee {

// Dense index of a model in a catalog (0..n-1). Simulator and server both map names to ids.
using ModelId = std::uint32_t;
inline constexpr ModelId kNoModel = std::numeric_limits<ModelId>::max();

// Request index meaning "this model is never requested again" (oracle policies).
inline constexpr std::uint64_t kNeverAgain = std::numeric_limits<std::uint64_t>::max();

struct ModelInfo {
  std::string name;
  std::uint64_t size_bytes = 0;   // memory the model holds when loaded
  double load_latency_s = 0.0;    // time to bring it into memory (a miss costs this)
  double exec_latency_s = 0.0;    // time of one inference
  double unload_latency_s = 0.0;  // time to drop it
};

// The catalog shared by a driver and its policy. Index = ModelId. The server may update
// costs and sizes online; it then calls Policy::on_cost_update for the model.
using ModelTable = std::vector<ModelInfo>;

}  // namespace brulee
