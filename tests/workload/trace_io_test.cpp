// Trace formats: CSV and binary round trips, streaming reads, and every kind of bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "test_util.hpp"
#include "workload/trace.hpp"

namespace brulee::workload {
namespace {

using testing::read_file;
using testing::TempDir;

// Runs `action`, expects an InputError whose line and message match.
void expect_input_error(const std::function<void()>& action, std::uint64_t line,
                        const std::string& fragment) {
  try {
    action();
    FAIL() << "no error; expected one containing '" << fragment << "'";
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

Trace sample_trace() {
  Trace trace;
  trace.model_names = {"resnet50", "vgg16", "mobilenet"};
  const double times[] = {0.0, 0.1, 0.1, 0.30000000000000004, 1e-7, 2.5, 3.75, 1234.5678901234567};
  double t = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    t = std::max(t, times[i]);
    trace.request_id.push_back(100 + i);
    trace.time_s.push_back(t);
    trace.model.push_back(static_cast<ModelId>((i * 7) % 3));
  }
  return trace;
}

void expect_same(const Trace& a, const Trace& b) {
  EXPECT_EQ(a.model_names.size(), b.model_names.size());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.request_id[i], b.request_id[i]);
    EXPECT_EQ(std::memcmp(&a.time_s[i], &b.time_s[i], sizeof(double)), 0) << "bitwise time " << i;
    EXPECT_EQ(a.model_names[a.model[i]], b.model_names[b.model[i]]);
  }
}

TEST(TraceIo, FormatForPath) {
  EXPECT_EQ(format_for_path("a/b.csv"), TraceFormat::kCsv);
  EXPECT_EQ(format_for_path("a/b.CSV"), TraceFormat::kCsv);
  EXPECT_EQ(format_for_path("a/b.bin"), TraceFormat::kBinary);
  EXPECT_EQ(format_for_path("a/b.brt"), TraceFormat::kBinary);
}

TEST(TraceIo, CsvRoundTripIsExact) {
  TempDir dir;
  const Trace trace = sample_trace();
  write_trace(dir.file("t.csv"), trace, TraceFormat::kCsv);
  EXPECT_EQ(read_file(dir.file("t.csv")).substr(0, 24), "request_id,time_s,model\n");
  const Trace back = read_trace(dir.file("t.csv"));
  expect_same(trace, back);
}

TEST(TraceIo, BinaryRoundTripImplicitIds) {
  TempDir dir;
  const Trace trace = sample_trace();
  write_trace(dir.file("t.bin"), trace, TraceFormat::kBinary);
  // header + names (3 x 4 bytes + lengths) + 8 records x 12 bytes
  const std::string bytes = read_file(dir.file("t.bin"));
  EXPECT_EQ(bytes.size(), kTraceHeaderBytes + 12 + 8 + 5 + 9 + 8 * 12);
  EXPECT_EQ(bytes.substr(0, 7), "BRULTRC");
  TraceReader reader(dir.file("t.bin"));
  EXPECT_EQ(reader.format(), TraceFormat::kBinary);
  EXPECT_EQ(reader.size_hint(), 8u);
  EXPECT_EQ(reader.model_names(), trace.model_names);
  expect_same(trace, read_trace(dir.file("t.bin")));
}

TEST(TraceIo, BinaryKeepsArbitraryIdsWithExplicitLayout) {
  TempDir dir;
  Trace trace = sample_trace();
  trace.request_id[3] = 999999;  // not consecutive any more
  write_trace(dir.file("t.bin"), trace, TraceFormat::kBinary);
  EXPECT_EQ(read_file(dir.file("t.bin")).size(), kTraceHeaderBytes + 12 + 8 + 5 + 9 + 8 * 20);
  expect_same(trace, read_trace(dir.file("t.bin")));
  // The compact layout refuses ids it cannot imply.
  TraceWriter writer(dir.file("u.bin"), TraceFormat::kBinary, {"a"});
  writer.write(TraceRecord{5, 0.0, 0});
  EXPECT_THROW(writer.write(TraceRecord{7, 1.0, 0}), UsageError);
}

TEST(TraceIo, CsvToBinaryToCsvIsLossless) {
  TempDir dir;
  const std::string sorted =
      "request_id,time_s,model\n0,0,a\n1,0.001,c\n2,0.5,b\n3,0.5,a\n4,17.25,b\n";
  dir.write("in.csv", sorted);
  write_trace(dir.file("mid.bin"), read_trace(dir.file("in.csv")), TraceFormat::kBinary);
  write_trace(dir.file("out.csv"), read_trace(dir.file("mid.bin")), TraceFormat::kCsv);
  EXPECT_EQ(read_file(dir.file("out.csv")), sorted);
}

TEST(TraceIo, StreamsInSmallBlocks) {
  TempDir dir;
  const std::vector<std::string> names = {"m0", "m1", "m2", "m3"};
  for (const auto format : {TraceFormat::kCsv, TraceFormat::kBinary}) {
    const std::string path = dir.file(format == TraceFormat::kCsv ? "big.csv" : "big.bin");
    const std::uint64_t n = 300000;  // several 4 MiB blocks of CSV text
    {
      TraceWriter writer(path, format, names);
      for (std::uint64_t i = 0; i < n; ++i)
        writer.write(TraceRecord{i, static_cast<double>(i) * 0.001, static_cast<ModelId>(i % 4)});
      writer.close();
    }
    TraceReader reader(path);
    std::vector<TraceRecord> block(777);
    std::uint64_t seen = 0;
    while (const auto got = reader.read(block)) {
      for (std::size_t i = 0; i < got; ++i, ++seen) {
        ASSERT_EQ(block[i].request_id, seen);
        ASSERT_EQ(block[i].time_s, static_cast<double>(seen) * 0.001);
        ASSERT_EQ(reader.model_names()[block[i].model], names[seen % 4]);
      }
    }
    EXPECT_EQ(seen, n);
  }
}

TEST(TraceIo, ReadColumnsGivesWhatReadGives) {
  TempDir dir;
  const std::vector<std::string> names = {"m0", "m1", "m2"};
  for (const std::string name : {"c.csv", "i.bin", "e.bin"}) {
    const std::string path = dir.file(name);
    const auto format = name.ends_with(".csv") ? TraceFormat::kCsv : TraceFormat::kBinary;
    {
      TraceWriter writer(path, format, names,
                         TraceWriterOptions{.explicit_request_ids = name == "e.bin"});
      for (std::uint64_t i = 0; i < 200000; ++i) {
        writer.write(TraceRecord{name == "e.bin" ? i * 3 : i, static_cast<double>(i / 2) * 0.25,
                                 static_cast<ModelId>((i * i) % 3)});
      }
      writer.close();
    }
    const Trace whole = read_trace(path);
    TraceReader reader(path);
    reader.restrict_models({"m2", "m0", "m1"});
    std::vector<double> times(whole.size() + 5);
    std::vector<ModelId> models(whole.size() + 5);
    std::size_t done = 0;
    // Uneven pieces, some smaller than a record block, some across blocks.
    for (std::size_t piece = 1; done < times.size(); piece = piece * 3 + 1) {
      const std::size_t ask = std::min(piece, times.size() - done);
      const std::size_t got = reader.read_columns(std::span<double>(times.data() + done, ask),
                                                  std::span<ModelId>(models.data() + done, ask));
      done += got;
      if (got < ask) break;
    }
    ASSERT_EQ(done, whole.size()) << name;
    for (std::size_t i = 0; i < whole.size(); ++i) {
      ASSERT_EQ(times[i], whole.time_s[i]) << name << " " << i;
      ASSERT_EQ(models[i], (whole.model[i] + 1) % 3) << name << " " << i;  // m0 -> 1, m2 -> 0
    }
    std::vector<TraceRecord> block(4);
    EXPECT_THROW(reader.read(block), std::logic_error);
  }
  // The same errors as read().
  write_trace(dir.file("t.bin"), sample_trace(), TraceFormat::kBinary);
  std::string bytes = read_file(dir.file("t.bin"));
  bytes[bytes.size() - 8 * 12 + 5 * 12 + 8] = 7;
  dir.write("model.bin", bytes);
  std::vector<double> times(16);
  std::vector<ModelId> models(16);
  expect_input_error(
      [&] {
        TraceReader reader(dir.file("model.bin"));
        reader.read_columns(times, models);
      },
      0, "record 5: model id 7 out of range");
}

TEST(TraceIo, RestrictModelsUsesCatalogIds) {
  TempDir dir;
  dir.write("t.csv", "request_id,time_s,model\n0,0,b\n1,1,a\n");
  for (const std::string& path : {dir.file("t.csv"), dir.file("t.bin")}) {
    if (path.ends_with(".bin"))
      write_trace(path, read_trace(dir.file("t.csv")), TraceFormat::kBinary);
    TraceReader reader(path);
    reader.restrict_models({"a", "x", "b"});
    std::vector<TraceRecord> block(8);
    ASSERT_EQ(reader.read(block), 2u);
    EXPECT_EQ(block[0].model, 2u);
    EXPECT_EQ(block[1].model, 0u);
  }
  TraceReader csv(dir.file("t.csv"));
  csv.restrict_models({"a"});
  std::vector<TraceRecord> block(8);
  expect_input_error([&] { csv.read(block); }, 2, "unknown model 'b'");
  TraceReader binary(dir.file("t.bin"));
  expect_input_error([&] { binary.restrict_models({"a"}); }, 0, "unknown model 'b'");
}

// ---- bad input: each names the file and line ----

TEST(TraceIoBadInput, MissingFile) {
  TempDir dir;
  expect_input_error([&] { TraceReader reader(dir.file("nope.csv")); }, 0, "no such file");
}

TEST(TraceIoBadInput, EmptyFile) {
  TempDir dir;
  dir.write("empty.csv", "");
  expect_input_error([&] { read_trace(dir.file("empty.csv")); }, 0, "empty file");
}

TEST(TraceIoBadInput, MissingHeader) {
  TempDir dir;
  dir.write("t.csv", "0,0.5,a\n");
  expect_input_error([&] { read_trace(dir.file("t.csv")); }, 1, "expected the header");
}

TEST(TraceIoBadInput, WrongColumnCount) {
  TempDir dir;
  dir.write("t.csv", "request_id,time_s,model\n0,0.5,a\n1,0.6\n");
  expect_input_error([&] { read_trace(dir.file("t.csv")); }, 3, "expected 3 columns");
  dir.write("u.csv", "request_id,time_s,model\n0,0.5,a,extra\n");
  expect_input_error([&] { read_trace(dir.file("u.csv")); }, 2, "found 4");
}

TEST(TraceIoBadInput, NonNumericFields) {
  TempDir dir;
  dir.write("t.csv", "request_id,time_s,model\n0,abc,a\n");
  expect_input_error([&] { read_trace(dir.file("t.csv")); }, 2, "time_s 'abc' is not a number");
  dir.write("u.csv", "request_id,time_s,model\n0,1,a\n-1,2,a\n");
  expect_input_error([&] { read_trace(dir.file("u.csv")); }, 3, "request_id '-1'");
  dir.write("v.csv", "request_id,time_s,model\n0,1.5x,a\n");
  expect_input_error([&] { read_trace(dir.file("v.csv")); }, 2, "is not a number");
  dir.write("w.csv", "request_id,time_s,model\n0,nan,a\n");
  expect_input_error([&] { read_trace(dir.file("w.csv")); }, 2, "is not a number");
}

TEST(TraceIoBadInput, UnsortedTimes) {
  TempDir dir;
  dir.write("t.csv", "request_id,time_s,model\n0,1,a\n1,2,a\n2,1.5,b\n");
  expect_input_error([&] { read_trace(dir.file("t.csv")); }, 4, "not sorted by time");
}

TEST(TraceIoBadInput, NegativeTimeAndEmptyName) {
  TempDir dir;
  dir.write("t.csv", "request_id,time_s,model\n0,-1,a\n");
  expect_input_error([&] { read_trace(dir.file("t.csv")); }, 2, "negative");
  dir.write("u.csv", "request_id,time_s,model\n0,1,\n");
  expect_input_error([&] { read_trace(dir.file("u.csv")); }, 2, "empty model name");
  dir.write("v.csv", "request_id,time_s,model\n0,1,a\n\n1,2,a\n");
  expect_input_error([&] { read_trace(dir.file("v.csv")); }, 3, "empty line");
}

TEST(TraceIoBadInput, CorruptBinary) {
  TempDir dir;
  write_trace(dir.file("t.bin"), sample_trace(), TraceFormat::kBinary);
  std::string bytes = read_file(dir.file("t.bin"));
  dir.write("short.bin", bytes.substr(0, bytes.size() - 5));
  expect_input_error([&] { read_trace(dir.file("short.bin")); }, 0, "truncated");
  std::string bad_version = bytes;
  bad_version[8] = 9;
  dir.write("version.bin", bad_version);
  expect_input_error([&] { read_trace(dir.file("version.bin")); }, 0,
                     "unsupported binary trace version");
  // Make record 2 earlier than record 1: unsorted.
  std::string unsorted = bytes;
  const std::size_t records = bytes.size() - 8 * 12;
  const double early = -0.0 + 0.0;
  std::memcpy(unsorted.data() + records + 2 * 12, &early, sizeof early);
  std::memcpy(unsorted.data() + records + 1 * 12, "\0\0\0\0\0\0\xf0\x3f", 8);  // 1.0
  dir.write("unsorted.bin", unsorted);
  expect_input_error([&] { read_trace(dir.file("unsorted.bin")); }, 0,
                     "record 2: trace is not sorted");
  std::string bad_model = bytes;
  bad_model[records + 5 * 12 + 8] = 7;
  dir.write("model.bin", bad_model);
  expect_input_error([&] { read_trace(dir.file("model.bin")); }, 0,
                     "record 5: model id 7 out of range");
  expect_input_error(
      [&] {
        TraceReader reader(dir.file("t.bin"), TraceFormat::kBinary);
        reader.restrict_models({});
      },
      0, "unknown model");
  // A header claiming 2^31 models in a 15-byte name table: refused before reserving for them.
  std::string many_models = bytes;
  const std::uint32_t claimed = 1u << 31;
  std::memcpy(many_models.data() + 24, &claimed, sizeof claimed);
  dir.write("models.bin", many_models);
  expect_input_error([&] { read_trace(dir.file("models.bin")); }, 0, "more names than its bytes");
  dir.write("notbin.bin", "request_id,time_s,model\n");
  expect_input_error([&] { TraceReader reader(dir.file("notbin.bin"), TraceFormat::kBinary); }, 0,
                     "not a brulee binary trace");
}

TEST(TraceIoBadInput, IncompleteBinaryIsRefused) {
  TempDir dir;
  const std::uint64_t n = 500000;  // more than one 4 MiB write block, so some bytes reach the file
  {
    TraceWriter writer(dir.file("t.bin"), TraceFormat::kBinary, {"a"});
    for (std::uint64_t i = 0; i < n; ++i) writer.write(TraceRecord{i, 0.0, 0});
    // A writer that dies before close() leaves the "incomplete" record count in the header.
    std::filesystem::copy_file(dir.file("t.bin"), dir.file("copy.bin"));
    writer.close();
  }
  EXPECT_EQ(read_trace(dir.file("t.bin")).size(), n);
  expect_input_error([&] { read_trace(dir.file("copy.bin")); }, 0, "incomplete binary trace");
}

TEST(TraceIoBadInput, WriterRefusesUnsortedAndBadIds) {
  TempDir dir;
  TraceWriter writer(dir.file("t.csv"), TraceFormat::kCsv, {"a"});
  writer.write(TraceRecord{0, 2.0, 0});
  EXPECT_THROW(writer.write(TraceRecord{1, 1.0, 0}), UsageError);
  EXPECT_THROW(writer.write(TraceRecord{1, 3.0, 5}), UsageError);
  EXPECT_THROW(TraceWriter(dir.file("u.csv"), TraceFormat::kCsv, {"a,b"}), UsageError);
  EXPECT_THROW(TraceWriter(dir.file("v.csv"), TraceFormat::kCsv, {"a", "a"}), UsageError);
}

}  // namespace
}  // namespace brulee::workload
