#pragma once
// Runs a program to completion the way a user would, and returns what it did: the one way the
// test areas run the brulee binary (tests/CMakeLists.txt: brulee_test_support). A long-running
// child that the test talks to (a server) is started by the area's own harness.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.hpp"

extern char** environ;

namespace brulee::test_support {

struct RunResult {
  int exit_code = -1;  // -1 if the child was killed by a signal
  std::string out;     // what it wrote on stdout
  std::string err;     // ... and on stderr
};

// Runs argv[0] with `argv` (no shell), stdin from /dev/null. Output goes through files, so a
// child that writes a lot never blocks on a full pipe. Throws if the program cannot start.
inline RunResult run_binary(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("run_binary: no program");
  const TempDir dir;
  const std::string out_path = dir.file("stdout"), err_path = dir.file("stderr");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int failed = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (failed != 0) throw std::runtime_error("cannot run " + argv[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed for " + argv[0]);
  }
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

// "a b  c" -> {"a", "b", "c"}: a command line split at spaces, for tests whose arguments hold
// none (temporary paths do not). No quoting.
inline std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream stream(line);
  for (std::string word; stream >> word;) out.push_back(word);
  return out;
}

}  // namespace brulee::test_support
