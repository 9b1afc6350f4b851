// `brulee zoo`: writes a model repository of real architectures with random weights (ONNX fixed
// for OpenCV 4.6, and TorchScript) by running zoo/export.py under Debian's python3 (docs/zoo.md).
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "runtime/zoo_locator.hpp"

namespace brulee::cli {
namespace {

struct ZooOptions {
  std::string out;
  bool tiny = false;
  bool list = false;
  bool force = false;
  std::string families;
  std::string models;
  std::string format = "both";
  std::string budget;
  std::string script;
  std::string python;
  int seed = 1;
  int threads = 0;
};

std::string last_line(const std::string& text) {
  std::size_t end = text.find_last_not_of(" \r\n");
  if (end == std::string::npos) return "";
  const std::size_t start = text.rfind('\n', end);
  std::string line = text.substr(start == std::string::npos ? 0 : start + 1,
                                 end + 1 - (start == std::string::npos ? 0 : start + 1));
  if (line.rfind("zoo: ", 0) == 0) line.erase(0, 5);
  return line;
}

void run_zoo(const ZooOptions& opts) {
  if (opts.out.empty() && !opts.list) throw UsageError("zoo: --out DIR is required");
  const std::string script = opts.script.empty() ? runtime::find_zoo_script() : opts.script;
  const std::string python = opts.python.empty() ? runtime::zoo_python() : opts.python;
  std::vector<std::string> argv{python, script};
  if (!opts.out.empty()) argv.insert(argv.end(), {"--out", opts.out});
  if (opts.tiny) argv.emplace_back("--tiny");
  if (opts.list) argv.emplace_back("--list");
  if (opts.force) argv.emplace_back("--force");
  if (!opts.families.empty()) argv.insert(argv.end(), {"--families", opts.families});
  if (!opts.models.empty()) argv.insert(argv.end(), {"--models", opts.models});
  if (!opts.budget.empty()) {
    argv.insert(argv.end(), {"--budget", std::to_string(parse_bytes(opts.budget))});
  }
  argv.insert(argv.end(), {"--format", opts.format, "--seed", std::to_string(opts.seed),
                           "--threads", std::to_string(opts.threads)});
  std::fflush(stdout);
  const auto result = runtime::run_process(argv, false);
  if (result.exit_code == 0) return;
  if (result.exit_code == 2) throw UsageError("zoo: " + last_line(result.error_text));
  std::fputs(result.error_text.c_str(), stderr);
  throw std::runtime_error("zoo: exporter " + script + " failed (exit code " +
                           std::to_string(result.exit_code) + ")");
}

const CommandRegistration kRegistration(60, [](CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "zoo",
      "Export real architectures with random weights into a model repository (ONNX + TorchScript)");
  auto opts = std::make_shared<ZooOptions>();
  cmd->add_option("--out", opts->out, "Repository folder to write (created if missing)");
  cmd->add_flag("--tiny", opts->tiny, "Tiny test models only (< 1 MB each, seconds to make)");
  cmd->add_option(
      "--families", opts->families,
      "Comma-separated families: resnet,vgg,densenet,mobilenet,efficientnet,inception,nas,mobile");
  cmd->add_option("--models", opts->models, "Comma-separated architectures (see --list)");
  cmd->add_option("--format", opts->format, "onnx, torchscript or both")
      ->check(CLI::IsMember({"onnx", "torchscript", "both"}))
      ->capture_default_str();
  cmd->add_option("--budget", opts->budget,
                  "Size budget (e.g. 2GiB): architectures past it are skipped, in list order");
  cmd->add_option("--seed", opts->seed, "Seed of the random weights")->capture_default_str();
  cmd->add_option("--threads", opts->threads, "Torch threads for the export (0 = default)");
  cmd->add_flag("--force", opts->force, "Re-export models already in the repository");
  cmd->add_flag("--list", opts->list, "List the architectures and their families");
  cmd->add_option("--script", opts->script, "Path of zoo/export.py (default: found automatically)");
  cmd->add_option("--python", opts->python,
                  "Python interpreter (default $BRULEE_PYTHON or /usr/bin/python3)");
  cmd->callback([opts] { run_zoo(*opts); });
});

}  // namespace
}  // namespace brulee::cli
