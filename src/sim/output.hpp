#pragma once
// Outputs of the simulator: summaries as text, CSV and JSON; per-request outcomes as CSV; and
// an HTML report with inline SVG figures (no plotting dependency). All deterministic: the same
// results give byte-identical files.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/simulator.hpp"

namespace brulee::sim {

// What the outputs say about the inputs.
struct RunInfo {
  std::string trace;
  std::string catalog;
  std::uint64_t requests = 0;
  std::uint64_t models_requested = 0;
  std::uint64_t footprint_bytes = 0;  // total size of the catalog's models
  std::uint64_t seed = 0;
};

nlohmann::ordered_json summary_json(const SimSummary& summary, const RunInfo& info);
nlohmann::ordered_json sweep_json(const std::vector<SimSummary>& results, const RunInfo& info);

// One header line, then one line per result.
std::string sweep_csv(const std::vector<SimSummary>& results, const RunInfo& info);

// A readable block for a terminal (one run).
std::string summary_text(const SimSummary& summary, const RunInfo& info);
// A readable table (many runs).
std::string sweep_text(const std::vector<SimSummary>& results, const RunInfo& info);

// Writes DIR/index.html (figures: load delay vs memory, hit ratio vs memory, cost over the
// offline bound vs memory, latency CDF at the most constrained memory) plus DIR/results.csv and
// DIR/results.json. Creates DIR. Throws UsageError if it cannot.
void write_report(const std::string& dir, const std::vector<SimSummary>& results,
                  const RunInfo& info);

// Writes each outcome as a CSV row: index,model, the shared timeline columns
// (core/timeline_csv.hpp: hit,arrival_s,load_start_s,ready_s,start_s,end_s,load_delay_s,
// queue_delay_s,exec_s,latency_s), then worker.
class CsvOutcomeWriter final : public OutcomeSink {
 public:
  CsvOutcomeWriter(const std::string& path, const ModelTable& models);
  ~CsvOutcomeWriter() override;
  CsvOutcomeWriter(const CsvOutcomeWriter&) = delete;
  CsvOutcomeWriter& operator=(const CsvOutcomeWriter&) = delete;
  void on_outcome(const RequestOutcome& outcome) override;
  void close();  // throws UsageError on a write error

 private:
  void flush();
  std::string path_;
  const ModelTable& models_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
};

}  // namespace brulee::sim
