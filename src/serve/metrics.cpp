#include "serve/metrics.hpp"

#include <cstdio>
#include <sstream>
#include <string_view>

namespace brulee::serve {

namespace {
// Label values escape backslash, double quote and newline.
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The HELP and TYPE lines that open a family.
std::string family_header(std::string_view name, std::string_view type, std::string_view help) {
  std::string text;
  text.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  text.append(name).append(" ").append(type).append("\n");
  return text;
}

std::string number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  return buffer;
}
}  // namespace

Metrics::Metrics(std::size_t model_count) : latency_(model_count) {}

void Metrics::observe_request(ModelId model, double seconds) {
  std::lock_guard lock(mutex_);
  if (model >= latency_.size()) return;
  Histogram& h = latency_[model];
  for (std::size_t i = 0; i < kBucketsS.size(); ++i) {
    if (seconds <= kBucketsS[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum_s += seconds;
}

void Metrics::count_response(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

void Metrics::count_grpc_status(std::string_view code) {
  std::lock_guard lock(mutex_);
  auto it = grpc_statuses_.find(code);
  if (it == grpc_statuses_.end()) it = grpc_statuses_.emplace(std::string(code), 0).first;
  ++it->second;
}

std::string Metrics::render(const CacheSnapshot& snap) const {
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out << family_header(name, type, help);
  };
  auto per_model = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (const auto& m : snap.models) {
      out << name << "{model=\"" << label(m.name) << "\"} " << number(static_cast<double>(value(m)))
          << '\n';
    }
  };
  // The per-model counters, from their one list (ModelCounters::for_each): one family each.
  std::vector<std::string> counter_families;
  ModelCounters{}.for_each([&](const CounterInfo& info, auto) {
    counter_families.push_back(family_header(info.metric, "counter", info.help));
  });
  for (const auto& m : snap.models) {
    std::size_t family_index = 0;
    m.counters.for_each([&](const CounterInfo& info, auto value) {
      counter_families[family_index++] += std::string(info.metric) + "{model=\"" + label(m.name) +
                                          "\"} " + number(static_cast<double>(value)) + '\n';
    });
  }
  for (const auto& text : counter_families) out << text;
  per_model("brulee_model_resident_bytes", "gauge", "Bytes charged to the model in the budget.",
            [](const ModelSnapshot& m) { return m.resident_bytes; });
  per_model("brulee_model_size_bytes", "gauge", "Learned size of the model (last measurement).",
            [](const ModelSnapshot& m) { return m.size_bytes; });
  per_model("brulee_queue_depth", "gauge", "Requests queued for the model.",
            [](const ModelSnapshot& m) { return m.queue_depth; });
  per_model("brulee_model_pins", "gauge", "Pins (queued, executing or loading) on the model.",
            [](const ModelSnapshot& m) { return m.pins; });
  per_model("brulee_model_load_latency_seconds", "gauge", "Learned load latency (EWMA).",
            [](const ModelSnapshot& m) { return m.load_latency_s; });
  per_model("brulee_model_exec_latency_seconds", "gauge", "Learned execution latency (EWMA).",
            [](const ModelSnapshot& m) { return m.exec_latency_s; });
  per_model("brulee_model_failed", "gauge",
            "1 while the model is marked failed after repeated failed loads, else 0.",
            [](const ModelSnapshot& m) { return m.failed ? 1 : 0; });
  per_model("brulee_model_consecutive_load_failures", "gauge",
            "Failed loads of the model since its last successful one.",
            [](const ModelSnapshot& m) { return m.consecutive_failures; });
  per_model("brulee_model_load_backoff_seconds", "gauge",
            "Seconds before a request may load the model again after a failed load (0: none).",
            [](const ModelSnapshot& m) { return m.backoff_remaining_s; });
  family("brulee_memory_capacity_bytes", "gauge", "Memory budget.");
  out << "brulee_memory_capacity_bytes " << snap.capacity_bytes << '\n';
  family("brulee_memory_used_bytes", "gauge", "Bytes charged to resident and loading models.");
  out << "brulee_memory_used_bytes " << snap.used_bytes << '\n';
  family("brulee_queued_requests", "gauge", "Requests queued in all models.");
  out << "brulee_queued_requests " << snap.queued << '\n';
  if (snap.prefetch) {  // only with --prefetch (docs/prefetch.md)
    snap.prefetch->for_each([&](const CounterInfo& info, auto value) {
      out << family_header(info.metric, "counter", info.help) << info.metric << ' '
          << number(static_cast<double>(value)) << '\n';
    });
  }
  std::lock_guard lock(mutex_);
  family("brulee_request_duration_seconds", "histogram",
         "Inference request latency, from parsed request to encoded answer.");
  for (std::size_t i = 0; i < snap.models.size() && i < latency_.size(); ++i) {
    const Histogram& h = latency_[i];
    const std::string name = label(snap.models[i].name);
    for (std::size_t b = 0; b < kBucketsS.size(); ++b) {
      out << "brulee_request_duration_seconds_bucket{model=\"" << name << "\",le=\""
          << number(kBucketsS[b]) << "\"} " << h.buckets[b] << '\n';
    }
    out << "brulee_request_duration_seconds_bucket{model=\"" << name << "\",le=\"+Inf\"} "
        << h.count << '\n';
    out << "brulee_request_duration_seconds_sum{model=\"" << name << "\"} " << number(h.sum_s)
        << '\n';
    out << "brulee_request_duration_seconds_count{model=\"" << name << "\"} " << h.count << '\n';
  }
  family("brulee_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [status, count] : responses_) {
    out << "brulee_http_responses_total{code=\"" << status << "\"} " << count << '\n';
  }
  family("brulee_grpc_responses_total", "counter", "gRPC answers by status code.");
  for (const auto& [code, count] : grpc_statuses_) {
    out << "brulee_grpc_responses_total{code=\"" << code << "\"} " << count << '\n';
  }
  return out.str();
}

}  // namespace brulee::serve
