#include "serve/service.hpp"

#include <chrono>

#include "core/units.hpp"

namespace brulee::serve {

namespace {
std::uint64_t to_ns(double seconds) {
  return seconds > 0 ? static_cast<std::uint64_t>(seconds * 1e9) : 0;
}
}  // namespace

std::string_view platform_name(std::string_view backend) {
  if (backend == "onnx") return "onnxruntime_onnx";
  if (backend == "torchscript") return "pytorch_libtorch";
  return backend;
}

std::string_view backend_library(std::string_view backend) {
  if (backend == "onnx") return "opencv_dnn";
  if (backend == "torchscript") return "libtorch";
  return backend;
}

Service::Service(Scheduler& scheduler, std::uint64_t max_inflight_bytes)
    : scheduler_(scheduler),
      budget_(max_inflight_bytes, &scheduler.process_budget()),
      metrics_(scheduler.model_count()),
      counters_(scheduler.model_count()) {
  if (max_inflight_bytes < kMinInflightBytes) {
    throw UsageError("--max-inflight-bytes must be at least " + format_bytes(kMinInflightBytes));
  }
}

namespace {
std::string repository_state(const ModelSnapshot& m) {
  switch (m.state) {
    case ModelState::kReady:
      return "READY";
    case ModelState::kLoading:
    case ModelState::kWaiting:
      return "LOADING";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kAbsent:
    case ModelState::kFailed:
      return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}
}  // namespace

std::vector<RepositoryEntry> Service::repository_index(bool ready_only) const {
  std::vector<RepositoryEntry> index;
  for (const auto& m : scheduler_.snapshot().models) {
    if (ready_only && m.state != ModelState::kReady) continue;
    RepositoryEntry entry{m.name, m.version, repository_state(m), ""};
    if (m.state == ModelState::kAbsent || m.state == ModelState::kFailed) {
      entry.reason = m.last_error.empty() ? "unloaded" : m.last_error;
    }
    index.push_back(std::move(entry));
  }
  return index;
}

std::optional<ModelId> Service::find(std::string_view name, std::string_view version,
                                     Problem& problem) const {
  const auto found = scheduler_.find(name);
  if (!found) {
    problem = {Status::kNotFound, "unknown model \"" + std::string(name) + "\"", 0.0};
    return std::nullopt;
  }
  if (!version.empty() && version != scheduler_.model(*found).version) {
    problem = {Status::kNotFound,
               "model " + std::string(name) + " has no version \"" + std::string(version) + "\"",
               0.0};
    return std::nullopt;
  }
  return found;
}

bool Service::model_ready(ModelId id) { return ready() && scheduler_.servable(id); }

std::optional<ModelMetadata> Service::metadata(ModelId id) const {
  ModelMetadata metadata;
  if (!scheduler_.specs(id, metadata.inputs, metadata.outputs)) return std::nullopt;
  const ServedModel& served = scheduler_.model(id);
  metadata.name = served.name;
  metadata.version = served.version;
  metadata.platform = std::string(platform_name(served.platform));
  metadata.backend = std::string(backend_library(served.platform));
  return metadata;
}

void Service::record(ModelId id, const InferOutcome& outcome, double total_s) {
  const auto now_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::lock_guard lock(mutex_);
  RequestCounters& c = counters_[id];
  c.last_inference_ms = now_ms;
  if (outcome.status != Status::kOk) {
    ++c.fail_count;
    c.fail_ns += to_ns(total_s);
    return;
  }
  ++c.success_count;
  c.success_ns += to_ns(total_s);
  c.queue_ns += to_ns(outcome.delays.queue_delay_s + outcome.delays.load_delay_s);
  c.infer_ns += to_ns(outcome.delays.exec_s);
  if (outcome.hit) {
    ++c.hits;
    c.hit_ns += to_ns(total_s);
  } else {
    ++c.misses;
    c.miss_ns += to_ns(total_s);
  }
}

std::vector<ModelStatistics> Service::statistics(std::optional<ModelId> only) const {
  const CacheSnapshot snapshot = scheduler_.snapshot();
  std::vector<ModelStatistics> out;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < snapshot.models.size(); ++i) {
    if (only && *only != static_cast<ModelId>(i)) continue;
    ModelStatistics s;
    static_cast<RequestCounters&>(s) = counters_[i];
    s.name = snapshot.models[i].name;
    s.version = snapshot.models[i].version;
    s.scheduler = snapshot.models[i];
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace brulee::serve
