// Trace I/O and sampling throughput (items/s = requests/s). The 100M-request figures in
// docs/workloads.md come from the CLI (`brulee workload synth` / `check`), timed end to end.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/rng.hpp"
#include "workload/generators.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {
namespace {

constexpr std::uint64_t kRequests = 4'000'000;

std::string temp_path(const char* name) {
  return "/tmp/brulee_bench_" + std::to_string(::getpid()) + "_" + name;
}

void write_file(const std::string& path, TraceFormat format) {
  std::vector<std::string> names;
  for (int m = 0; m < 26; ++m) names.push_back("model" + std::to_string(m));
  TraceWriter writer(path, format, names);
  std::vector<TraceRecord> block(1 << 16);
  Rng rng(1);
  double t = 0;
  for (std::uint64_t i = 0; i < kRequests; i += block.size()) {
    for (std::size_t k = 0; k < block.size(); ++k) {
      t += rng.exponential(10.0);
      block[k] = TraceRecord{i + k, t, static_cast<ModelId>(rng.below(26))};
    }
    writer.write(block);
  }
  writer.close();
}

void BM_WriteBinary(benchmark::State& state) {
  const std::string path = temp_path("w.bin");
  for (auto _ : state) write_file(path, TraceFormat::kBinary);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRequests));
  ::unlink(path.c_str());
}

void read_all(benchmark::State& state, TraceFormat format) {
  const std::string path = temp_path(format == TraceFormat::kCsv ? "r.csv" : "r.bin");
  write_file(path, format);
  std::vector<TraceRecord> block(1 << 16);
  for (auto _ : state) {
    TraceReader reader(path);
    std::uint64_t n = 0;
    while (const auto got = reader.read(block)) n += got;
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRequests));
  ::unlink(path.c_str());
}
void BM_ReadBinary(benchmark::State& state) { read_all(state, TraceFormat::kBinary); }
void BM_ReadCsv(benchmark::State& state) { read_all(state, TraceFormat::kCsv); }

void BM_AliasSample(benchmark::State& state) {
  std::vector<double> weights(static_cast<std::size_t>(state.range(0)));
  for (std::size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / static_cast<double>(r + 1);
  const AliasTable table(weights);
  Rng rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(table.sample(rng));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_WriteBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadCsv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AliasSample)->Arg(26)->Arg(100000);

}  // namespace
}  // namespace brulee::workload
