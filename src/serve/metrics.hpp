#pragma once
// Prometheus text exposition of the server's counters (docs/api.md#metrics): the scheduler's
// per-model counters come from a CacheSnapshot; latency histograms and response codes are
// recorded here by the front-ends (REST and gRPC).
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "serve/scheduler.hpp"

namespace brulee::serve {

class Metrics {
 public:
  static constexpr std::array<double, 16> kBucketsS = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  explicit Metrics(std::size_t model_count);

  // One answered inference request for `model` (kNoModel: not attributable to a model).
  void observe_request(ModelId model, double seconds);
  void count_response(int status);                // an HTTP status code
  void count_grpc_status(std::string_view code);  // a gRPC status code's name ("OK")
  std::string render(const CacheSnapshot& snapshot) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBucketsS.size()> buckets{};
    std::uint64_t count = 0;
    double sum_s = 0.0;
  };
  mutable std::mutex mutex_;
  std::vector<Histogram> latency_;  // per model
  std::map<int, std::uint64_t> responses_;
  std::map<std::string, std::uint64_t, std::less<>> grpc_statuses_;
};

}  // namespace brulee::serve
