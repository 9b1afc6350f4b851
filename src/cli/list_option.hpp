#pragma once
// Comma-separated list options (`--models a,b`, `--preload a,b`, `--policy a,b`): the one
// splitter the commands share.
#include <string>
#include <vector>

#include "core/error.hpp"

namespace brulee::cli {

// "a,b" -> {"a", "b"}; "" -> {} (the option was not given). An empty item ("a,,b", "a,") is a
// mistake, not something to skip: throws UsageError "empty item in <option> list '<text>'".
inline std::vector<std::string> split_list(const std::string& text, const char* option) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = text.find(',', begin);
    const std::size_t end = comma == std::string::npos ? text.size() : comma;
    if (end == begin) {
      throw UsageError(std::string("empty item in ") + option + " list '" + text + "'");
    }
    items.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return items;
}

}  // namespace brulee::cli
