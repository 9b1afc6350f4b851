#pragma once
// Comma-separated list options (`--models a,b`, `--preload a,b`) shared by the commands.
#include <sstream>
#include <string>
#include <vector>

namespace brulee::cli {

// "a,,b," -> {"a", "b"}: empty items are dropped.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

}  // namespace brulee::cli
