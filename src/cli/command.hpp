#pragma once
// Subcommands register themselves: each src/cli/<command>.cpp defines one static
// CommandRegistration, so adding a command touches no other file.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace brulee::cli {

// Adds the subcommand to `root`. Its callback does the work and may throw UsageError (exit 2,
// one line on stderr) or any other exception (exit 1). A callback sets a non-zero exit status
// with set_exit_code.
using CommandSetup = std::function<void(CLI::App& root)>;

struct CommandRegistration {
  CommandRegistration(int order, CommandSetup setup);
};

void set_exit_code(int code);

}  // namespace brulee::cli
