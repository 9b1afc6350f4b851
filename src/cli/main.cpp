// brulee: one binary, one subcommand per task (see `brulee --help`).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifdef BRULEE_PLUGINS
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#endif

#include "cli/command.hpp"
#include "core/error.hpp"

namespace brulee::cli {
namespace {
struct Entry {
  int order;
  CommandSetup setup;
};
std::vector<Entry>& registry() {
  static std::vector<Entry> entries;
  return entries;
}
int g_exit_code = 0;
}  // namespace

CommandRegistration::CommandRegistration(int order, CommandSetup setup) {
  registry().push_back({order, std::move(setup)});
}

void set_exit_code(int code) { g_exit_code = code; }

#ifdef BRULEE_PLUGINS
namespace {
// Commands with heavy libraries are in plugins beside this binary (src/cli/CMakeLists.txt): the
// inference runtimes' in brulee-runtime.so, the replay client's in brulee-replay.so. A plugin is
// opened when one of its commands is the subcommand, or when the whole command list is shown;
// its commands then register like the others.
struct Plugin {
  std::string_view name;      // "runtime"
  std::string_view file;      // "brulee-runtime.so"
  std::string_view commands;  // "zoo,profile,serve"
};

std::vector<Plugin> plugins() {
  // BRULEE_PLUGINS: "name=file=command,command|name=file=command"
  std::vector<Plugin> found;
  const std::string_view table = BRULEE_PLUGINS;
  for (std::size_t start = 0; start < table.size();) {
    const std::size_t end = std::min(table.find('|', start), table.size());
    const std::string_view entry = table.substr(start, end - start);
    const std::size_t first = entry.find('=');
    const std::size_t second = entry.find('=', first + 1);
    found.push_back({entry.substr(0, first), entry.substr(first + 1, second - first - 1),
                     entry.substr(second + 1)});
    start = end + 1;
  }
  return found;
}

bool has_command(std::string_view commands, std::string_view word) {
  for (std::size_t start = 0; start <= commands.size();) {
    const std::size_t end = std::min(commands.find(',', start), commands.size());
    if (commands.substr(start, end - start) == word) return true;
    start = end + 1;
  }
  return false;
}

std::string plugin_path(std::string_view file) {
  char exe[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string dir = length > 0 ? std::string(exe, static_cast<std::size_t>(length)) : "";
  dir = dir.substr(0, dir.rfind('/') + 1);
  return dir + std::string(file);
}

// Returns false (with the reason in `error`) if a plugin was needed and could not be opened.
// Threads started while a plugin loads (OpenBLAS starts its pool in a library constructor) are
// started with SIGTERM and SIGINT blocked: `brulee serve` waits for them on one thread of its
// own, and a thread that did not block them would take them with their default action (the
// server killed instead of drained). The calling thread's mask is restored afterwards, so
// other commands still end on Ctrl-C.
bool open_plugins_if_needed(int argc, char** argv, std::string& error) {
  sigset_t stop_signals, before;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
  struct Restore {
    sigset_t mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{before};
  const std::string_view first = argc > 1 ? argv[1] : "";
  const bool listing = argc < 2 || first == "-h" || first == "--help" || first == "--help-all";
  for (const Plugin& plugin : plugins()) {
    const bool command = has_command(plugin.commands, first);
    if (!command && !listing) continue;
    const std::string path = plugin_path(plugin.file);
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) continue;
    const char* reason = dlerror();
    error = "'" + std::string(first) + "' needs the " + std::string(plugin.name) +
            " plugin: " + (reason ? std::string(reason) : "cannot open " + path);
    if (command) return false;  // a listing goes on without those commands
  }
  return true;
}
}  // namespace
#endif

}  // namespace brulee::cli

int main(int argc, char** argv) {
  using namespace brulee::cli;
  CLI::App app{
      "brulee: serve many deep-learning models from one memory-limited machine, with\n"
      "model-level caching and the CremeBrulee eviction policy (and simulate it first)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "brulee 0.1.0");
#ifdef BRULEE_PLUGINS
  std::string plugin_error;
  if (!open_plugins_if_needed(argc, argv, plugin_error)) {
    std::fprintf(stderr, "brulee: %s\n", plugin_error.c_str());
    return 1;
  }
#endif
  auto& entries = registry();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.order < b.order; });
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1].order == entries[i].order) {  // a programming error (command.hpp)
      std::fprintf(stderr, "brulee: internal error: two commands share order %d\n",
                   entries[i].order);
      return 1;
    }
  }
  for (auto& entry : entries) entry.setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "brulee: %s (see brulee --help)\n", e.what());
    return 2;
  } catch (const brulee::UsageError& e) {
    std::fprintf(stderr, "brulee: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "brulee: error: %s\n", e.what());
    return 1;
  }
  return g_exit_code;
}
