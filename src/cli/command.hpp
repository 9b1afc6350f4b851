#pragma once
// Subcommands register themselves: each src/cli/<command>.cpp defines one static
// CommandRegistration. Adding a command is that file plus one line in src/cli/CMakeLists.txt
// (cli_commands: the file and the parts of src/ it needs, which decide whether it is built and
// whether it goes into the runtime plugin); CMake stops with an error naming a file not listed
// there. No other file changes.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace brulee::cli {

// Adds the subcommand to `root`. Its callback does the work and may throw UsageError (exit 2,
// one line on stderr) or any other exception (exit 1). A callback sets a non-zero exit status
// with set_exit_code.
using CommandSetup = std::function<void(CLI::App& root)>;

// `order` places the command in `brulee --help` (lowest first) and must be unique: main()
// refuses to start when two commands share one. Today: simulate 20, workload 30, serve 40,
// replay 50, zoo 60, profile 61, policies 90.
struct CommandRegistration {
  CommandRegistration(int order, CommandSetup setup);
};

void set_exit_code(int code);

}  // namespace brulee::cli
