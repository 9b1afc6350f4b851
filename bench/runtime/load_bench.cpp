// Backend load time against the library called directly, on the same files, warm page cache.
//   runtime_load_bench --repo DIR --models a,b,c [--reps N]
// For each model, N rounds alternate (order flipped every round) between
//   backend:  brulee::runtime::load_model()  (metadata, mutex, heap measurement, warm-up, trim)
//   direct:   cv::dnn::readNetFromONNX + one forward, or torch::jit::load + one forward
// and the medians, their ratio and the median of the per-round ratios (each round's backend time
// over the direct time measured next to it: robust to drift on a shared machine) are printed. One
// untimed round first warms the page cache.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/seconds.hpp"
#include "runtime/direct.hpp"
#include "runtime/repository.hpp"

namespace {
using namespace brulee::runtime;
using brulee::seconds_since;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double backend_load_s(const RepositoryModel& model) {
  const auto start = std::chrono::steady_clock::now();
  auto loaded = load_model(model);
  const double seconds = seconds_since(start);
  loaded.reset();
  return seconds;
}

double direct_load_s(const RepositoryModel& model) {
  const auto& shape = model.config.inputs.at(0).shape;
  // The library called directly, per backend: a backend without a baseline here is refused
  // rather than timed against another library's.
  if (model.backend == "onnx") return direct::onnx_load_and_warm_s(model.path, shape);
  if (model.backend == "torchscript") return direct::torchscript_load_and_warm_s(model.path, shape);
  throw std::runtime_error("no direct baseline for backend '" + model.backend +
                           "' (runtime/direct.hpp)");
}
}  // namespace

int main(int argc, char** argv) {
  std::string repo, models_text;
  int reps = 11;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--repo")
      repo = argv[i + 1];
    else if (flag == "--models")
      models_text = argv[i + 1];
    else if (flag == "--reps")
      reps = std::atoi(argv[i + 1]);
  }
  if (repo.empty() || models_text.empty() || reps < 1) {
    std::fprintf(stderr, "usage: runtime_load_bench --repo DIR --models a,b,c [--reps N]\n");
    return 2;
  }
  try {
    const Repository repository(repo);
    std::printf("%-24s %-11s %6s %12s %12s %8s %12s\n", "model", "backend", "rounds", "backend_s",
                "direct_s", "ratio", "paired_ratio");
    std::stringstream names(models_text);
    std::string name;
    while (std::getline(names, name, ',')) {
      const auto model = repository.find(name);
      if (model.config.inputs.empty())
        throw std::runtime_error(name + ": config.json has no input shape");
      backend_load_s(model);  // warm the page cache and the libraries
      direct_load_s(model);
      std::vector<double> via_backend, via_library;
      for (int round = 0; round < reps; ++round) {
        if (round % 2 == 0) {
          via_backend.push_back(backend_load_s(model));
          via_library.push_back(direct_load_s(model));
        } else {
          via_library.push_back(direct_load_s(model));
          via_backend.push_back(backend_load_s(model));
        }
      }
      std::vector<double> paired;
      for (std::size_t r = 0; r < via_backend.size(); ++r)
        paired.push_back(via_backend[r] / via_library[r]);
      const double backend_median = median(via_backend);
      const double direct_median = median(via_library);
      std::printf("%-24s %-11s %6d %12.4f %12.4f %8.3f %12.3f\n", name.c_str(),
                  model.backend.c_str(), reps, backend_median, direct_median,
                  backend_median / direct_median, median(paired));
      std::fflush(stdout);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "runtime_load_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
