// brulee: one binary, one subcommand per task (see `brulee --help`).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

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

}  // namespace brulee::cli

int main(int argc, char** argv) {
  using namespace brulee::cli;
  CLI::App app{
      "brulee: serve many deep-learning models from one memory-limited machine, with\n"
      "model-level caching and the CremeBrulee eviction policy (and simulate it first)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "brulee 0.1.0");
  auto& entries = registry();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.order < b.order; });
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
