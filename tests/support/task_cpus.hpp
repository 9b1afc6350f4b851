#pragma once
// Every thread of a process as the kernel lists it (/proc/<pid>/task): its id, its name and the
// CPUs it may run on (Cpus_allowed_list), for tests of thread placement (--exec-cpus).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace brulee::test_support {

struct TaskCpus {
  long id = 0;
  std::string name;
  std::string cpus;  // "0-1", "1"
};

// `process`: a pid, or "self".
inline std::vector<TaskCpus> task_cpus(const std::string& process) {
  std::vector<TaskCpus> found;
  const std::filesystem::path tasks = "/proc/" + process + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    TaskCpus t;
    t.id = std::stol(task.path().filename().string());
    std::getline(std::ifstream(task.path() / "comm"), t.name);
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Cpus_allowed_list:", 0) == 0) {
        t.cpus = line.substr(line.find_first_not_of(" \t", 18));
      }
    }
    found.push_back(t);
  }
  return found;
}

}  // namespace brulee::test_support
