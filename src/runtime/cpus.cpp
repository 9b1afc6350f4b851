#include "runtime/cpus.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace brulee::runtime {
namespace {

constexpr int kMaxCpus = CPU_SETSIZE;  // 1024 with glibc

int parse_cpu(std::string_view text, std::string_view list) {
  int cpu = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), cpu);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || cpu < 0) {
    throw std::invalid_argument("CPU list '" + std::string(list) + "': '" + std::string(text) +
                                "' is not a CPU number");
  }
  if (cpu >= kMaxCpus) {
    throw std::invalid_argument("CPU list '" + std::string(list) + "': CPU " + std::to_string(cpu) +
                                " is above the largest a CPU set holds (" +
                                std::to_string(kMaxCpus - 1) + ")");
  }
  return cpu;
}

std::vector<int> cpus_of(const cpu_set_t& set) {
  std::vector<int> cpus;
  for (int cpu = 0; cpu < kMaxCpus; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace

std::vector<int> parse_cpu_list(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("CPU list is empty");
  std::vector<bool> seen(kMaxCpus, false);
  std::string_view rest = text;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::size_t dash = item.find('-');
    const int first = parse_cpu(item.substr(0, dash), text);
    const int last =
        dash == std::string_view::npos ? first : parse_cpu(item.substr(dash + 1), text);
    if (last < first) {
      throw std::invalid_argument("CPU list '" + std::string(text) + "': range '" +
                                  std::string(item) + "' runs backwards");
    }
    for (int cpu = first; cpu <= last; ++cpu) seen[static_cast<std::size_t>(cpu)] = true;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < kMaxCpus; ++cpu) {
    if (seen[static_cast<std::size_t>(cpu)]) cpus.push_back(cpu);
  }
  return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string text;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!text.empty()) text += ',';
    text += std::to_string(cpus[i]);
    if (j > i) text += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return text;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return {};
  return cpus_of(set);
}

std::vector<int> thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return {};
  return cpus_of(set);
}

void check_cpus_allowed(const std::vector<int>& cpus, std::string_view what) {
  const std::vector<int> allowed = allowed_cpus();
  for (int cpu : cpus) {
    if (!std::binary_search(allowed.begin(), allowed.end(), cpu)) {
      throw std::invalid_argument(std::string(what) + ": CPU " + std::to_string(cpu) +
                                  " is not one this process may run on (" +
                                  format_cpu_list(allowed) + ")");
    }
  }
}

bool place_thread(pthread_t thread, const char* name, const std::vector<int>& cpus) {
  if (name != nullptr) {
    char short_name[16] = {};
    std::strncpy(short_name, name, sizeof(short_name) - 1);
    pthread_setname_np(thread, short_name);
  }
  if (cpus.empty()) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) {
    if (cpu >= 0 && cpu < kMaxCpus) CPU_SET(cpu, &set);
  }
  return pthread_setaffinity_np(thread, sizeof(set), &set) == 0;
}

bool place_this_thread(const char* name, const std::vector<int>& cpus) {
  return place_thread(pthread_self(), name, cpus);
}

}  // namespace brulee::runtime
