#include "runtime/profiler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "runtime/backend_util.hpp"

namespace brulee::runtime {
namespace {
double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const double rank = fraction * static_cast<double>(sorted.size() - 1);
  const auto low = static_cast<std::size_t>(std::floor(rank));
  const std::size_t high = std::min(low + 1, sorted.size() - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - static_cast<double>(low));
}
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

LatencyStats summarize(std::vector<double> samples_s) {
  LatencyStats stats;
  if (samples_s.empty()) return stats;
  std::sort(samples_s.begin(), samples_s.end());
  stats.samples = samples_s.size();
  stats.mean_s = std::accumulate(samples_s.begin(), samples_s.end(), 0.0) / static_cast<double>(samples_s.size());
  stats.p50_s = percentile(samples_s, 0.5);
  stats.p95_s = percentile(samples_s, 0.95);
  return stats;
}

std::vector<ModelProfile> profile_models(const Repository& repository, const ProfileOptions& options) {
  if (options.runs == 0) throw UsageError("--runs must be at least 1");
  std::vector<RepositoryModel> models;
  if (options.models.empty()) {
    models = repository.models();
  } else {
    for (const auto& name : options.models) models.push_back(repository.find(name));
  }
  if (models.empty()) throw UsageError("repository " + repository.root() + " holds no models");

  struct Samples {
    std::vector<double> load_s, exec_s, unload_s;
    std::vector<std::uint64_t> bytes;
  };
  std::vector<Samples> samples(models.size());
  std::vector<ModelProfile> profiles(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) {
    profiles[m].name = models[m].name;
    profiles[m].backend = models[m].backend;
    profiles[m].file_bytes = models[m].file_bytes;
  }
  Rng rng(options.seed);
  std::vector<std::size_t> order(models.size());
  std::iota(order.begin(), order.end(), 0);
  const auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  for (std::uint64_t run = 0; run < options.runs; ++run) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (const auto m : order) {
      auto& profile = profiles[m];
      if (!profile.error.empty()) continue;
      try {
        auto model = load_model(models[m], options.load);
        samples[m].load_s.push_back(model->load_time_s());
        samples[m].bytes.push_back(model->resident_bytes());
        if (!model->inputs().empty()) {
          const auto inputs = warmup_inputs(model->inputs());
          for (std::uint64_t e = 0; e < options.execs_per_load; ++e) {
            const auto start = std::chrono::steady_clock::now();
            model->infer(inputs);
            samples[m].exec_s.push_back(seconds_since(start));
          }
        }
        const auto start = std::chrono::steady_clock::now();
        model.reset();
        samples[m].unload_s.push_back(seconds_since(start));
        say("run " + std::to_string(run + 1) + "/" + std::to_string(options.runs) + " " + profile.name +
            ": load " + std::to_string(samples[m].load_s.back()) + " s");
      } catch (const std::exception& error) {
        profile.error = error.what();
        say("run " + std::to_string(run + 1) + " " + profile.name + ": failed: " + profile.error);
      }
    }
  }
  for (std::size_t m = 0; m < models.size(); ++m) {
    auto& profile = profiles[m];
    if (!profile.error.empty()) continue;
    profile.load = summarize(samples[m].load_s);
    profile.exec = summarize(samples[m].exec_s);
    profile.unload = summarize(samples[m].unload_s);
    auto bytes = samples[m].bytes;
    std::sort(bytes.begin(), bytes.end());
    profile.resident_bytes = bytes.empty() ? 0 : bytes[bytes.size() / 2];
  }
  return profiles;
}

}  // namespace brulee::runtime
