// Measured bytes against RSS growth, each model in a fresh process.
//   runtime_bytes_check --repo DIR --models a,b,c [--warm-repo TINY_DIR]
// For each model a child process (this program re-run with --child) loads one tiny model of the
// same backend and unloads it (library code, thread pools and one-time allocations become
// resident), reads RSS, loads the model (load + warm-up), reads RSS again, and prints the
// backend's measured bytes beside the RSS growth.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>
#include "runtime/memory.hpp"
#include "runtime/repository.hpp"

namespace {
using namespace brulee::runtime;

int child(const std::string& repo, const std::string& name, const std::string& warm_repo) {
  const Repository repository(repo);
  const auto model = repository.find(name);
  if (!warm_repo.empty()) {
    const Repository tiny(warm_repo);
    // The same backend's tiny model: its library's one-time state is then already paid.
    const auto warm = tiny.find(model.backend == "torchscript" ? "tiny_resnet-pt"
                                                               : "tiny_resnet-" + model.backend);
    load_model(warm).reset();
  }
  release_free_memory();
  const auto before = resident_set_bytes();
  auto loaded = load_model(model);
  release_free_memory();  // the load's transient buffers, which the measured bytes leave out
  const auto after = resident_set_bytes();
  std::printf("%s %llu %llu\n", name.c_str(),
              static_cast<unsigned long long>(loaded->resident_bytes()),
              static_cast<unsigned long long>(after - before));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::string repo, models_text, warm_repo, child_model;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--repo")
      repo = argv[i + 1];
    else if (flag == "--models")
      models_text = argv[i + 1];
    else if (flag == "--warm-repo")
      warm_repo = argv[i + 1];
    else if (flag == "--child")
      child_model = argv[i + 1];
  }
  try {
    if (!child_model.empty()) return child(repo, child_model, warm_repo);
    if (repo.empty() || models_text.empty()) {
      std::fprintf(stderr,
                   "usage: runtime_bytes_check --repo DIR --models a,b,c [--warm-repo TINY_DIR]\n");
      return 2;
    }
    std::printf("%-24s %14s %14s %9s\n", "model", "measured_MB", "rss_growth_MB", "error");
    std::stringstream names(models_text);
    std::string name;
    while (std::getline(names, name, ',')) {
      std::vector<std::string> args{argv[0], "--repo", repo, "--child", name};
      if (!warm_repo.empty()) args.insert(args.end(), {"--warm-repo", warm_repo});
      // The child prints on stdout (inherited); parse it via a temp file to keep this simple.
      const std::string out_path = "/tmp/brulee_bytes_check_" + std::to_string(::getpid());
      std::string command;
      for (const auto& arg : args) command += "'" + arg + "' ";
      command += "> " + out_path;
      if (std::system(command.c_str()) != 0) throw std::runtime_error(name + ": child failed");
      FILE* file = std::fopen(out_path.c_str(), "r");
      char model_name[256] = {0};
      unsigned long long measured = 0, growth = 0;
      const int fields =
          file ? std::fscanf(file, "%255s %llu %llu", model_name, &measured, &growth) : 0;
      if (file) std::fclose(file);
      std::remove(out_path.c_str());
      if (fields != 3 || growth == 0)
        throw std::runtime_error(name + ": no figures from the child");
      const double error = (static_cast<double>(measured) - static_cast<double>(growth)) /
                           static_cast<double>(growth);
      std::printf("%-24s %14.2f %14.2f %+8.1f%%\n", name.c_str(),
                  static_cast<double>(measured) / 1e6, static_cast<double>(growth) / 1e6,
                  100 * error);
      std::fflush(stdout);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "runtime_bytes_check: %s\n", error.what());
    return 1;
  }
  return 0;
}
