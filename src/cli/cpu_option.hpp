#pragma once
// `--exec-cpus 1`, `--load-cpus 0,2-3` (serve, profile): a CPU list checked against the CPUs
// this process may run on.
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/cpus.hpp"

namespace brulee::cli {

// {} when not given; UsageError naming the option when the list is malformed or names a CPU
// this process may not run on.
inline std::vector<int> cpu_option(const std::string& text, const char* option) {
  if (text.empty()) return {};
  std::vector<int> cpus;
  try {
    cpus = runtime::parse_cpu_list(text);
  } catch (const std::invalid_argument& error) {
    throw UsageError(std::string(option) + ": " + error.what());
  }
  try {
    runtime::check_cpus_allowed(cpus, option);  // its message names the option
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  return cpus;
}

}  // namespace brulee::cli
