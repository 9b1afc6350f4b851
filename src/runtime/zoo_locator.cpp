#include "runtime/zoo_locator.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace brulee::runtime {
namespace fs = std::filesystem;

std::vector<std::string> zoo_script_candidates() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("BRULEE_ZOO_SCRIPT"); env && *env) candidates.emplace_back(env);
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      candidates.push_back((dir / "zoo" / "export.py").string());
      if (dir == dir.root_path()) break;
    }
    candidates.push_back(
        (exe.parent_path().parent_path() / "share" / "brulee" / "zoo" / "export.py").string());
  }
#ifdef BRULEE_SOURCE_DIR
  candidates.push_back(std::string(BRULEE_SOURCE_DIR) + "/zoo/export.py");
#endif
#ifdef BRULEE_INSTALL_DATADIR
  candidates.push_back(std::string(BRULEE_INSTALL_DATADIR) + "/zoo/export.py");
#endif
  return candidates;
}

std::string find_zoo_script() {
  const auto candidates = zoo_script_candidates();
  std::error_code error;
  for (const auto& candidate : candidates) {
    if (fs::is_regular_file(candidate, error)) return candidate;
  }
  std::string searched;
  for (const auto& candidate : candidates) searched += (searched.empty() ? "" : ", ") + candidate;
  throw std::runtime_error(
      "cannot find the zoo exporter zoo/export.py (set BRULEE_ZOO_SCRIPT); searched " + searched);
}

std::string zoo_python() {
  if (const char* env = std::getenv("BRULEE_PYTHON"); env && *env) return env;
  return "/usr/bin/python3";
}

ProcessResult run_process(const std::vector<std::string>& argv, bool echo_stderr) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawn_error != 0) {
    close(pipe_fds[0]);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(spawn_error));
  }
  ProcessResult result;
  char buffer[4096];
  for (;;) {
    const ssize_t count = read(pipe_fds[0], buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    result.error_text.append(buffer, static_cast<std::size_t>(count));
    if (echo_stderr) {
      [[maybe_unused]] const ssize_t written =
          write(STDERR_FILENO, buffer, static_cast<std::size_t>(count));
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace brulee::runtime
