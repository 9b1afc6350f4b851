// Model catalogs: brulee's JSON schema, the paper's schema, the built-in paper catalog, bad input.
#include <gtest/gtest.h>

#include <bit>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "test_util.hpp"
#include "workload/catalog.hpp"

namespace brulee::workload {
namespace {

using testing::TempDir;

void expect_error_containing(const std::function<void()>& action, const std::string& fragment) {
  try {
    action();
    FAIL() << "no error; expected one containing '" << fragment << "'";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Catalog, BuiltinPaperCatalogHasThe26Models) {
  const Catalog catalog = load_catalog("paper");
  ASSERT_EQ(catalog.models.size(), 26u);
  const auto resnet = catalog.find("ResNet50");
  ASSERT_TRUE(resnet.has_value());
  const auto& model = catalog.models[*resnet];
  EXPECT_EQ(model.size_bytes, 98'000'000u);  // weights_mb = 98, MB = 1e6 bytes
  EXPECT_DOUBLE_EQ(model.load_latency_s, 4.0463);
  EXPECT_DOUBLE_EQ(model.exec_latency_s, 0.2783);
  EXPECT_DOUBLE_EQ(model.unload_latency_s, 0.0144);
  EXPECT_EQ(catalog.models[*catalog.find("VGG19")].size_bytes, 549'000'000u);
  std::uint64_t sum = 0;
  for (const auto& m : catalog.models) sum += m.size_bytes;
  EXPECT_EQ(catalog.total_bytes(), sum);
  EXPECT_FALSE(catalog.find("NoSuchNet").has_value());
}

TEST(Catalog, BruleeSchemaWithPercentilesAndSizeStrings) {
  TempDir dir;
  const std::string path = dir.write("c.json", R"({"models": [
    {"name": "a", "size_bytes": 1000, "load_latency_s": 1.5, "exec_latency_s": 0.25,
     "unload_latency_s": 0.01, "load_latency_p99_s": 2.5},
    {"name": "b", "size_bytes": "2MiB", "load_latency_s": 3, "exec_latency_s": 0.5}
  ]})");
  const Catalog catalog = load_catalog(path);
  ASSERT_EQ(catalog.models.size(), 2u);
  EXPECT_EQ(catalog.models[1].size_bytes, 2u * 1024 * 1024);
  EXPECT_DOUBLE_EQ(catalog.models[1].unload_latency_s, 0.0);  // optional
  EXPECT_DOUBLE_EQ(catalog.percentiles[0].at("load_latency_p99_s"), 2.5);
  // Round trip through write_catalog, both with and without the paper's field names.
  for (const bool paper : {false, true}) {
    write_catalog(dir.file("out.json"), catalog, paper);
    const Catalog back = load_catalog(dir.file("out.json"));
    ASSERT_EQ(back.models.size(), 2u);
    for (std::size_t m = 0; m < 2; ++m) {
      EXPECT_EQ(back.models[m].name, catalog.models[m].name);
      EXPECT_EQ(back.models[m].size_bytes, catalog.models[m].size_bytes);
      EXPECT_EQ(back.models[m].load_latency_s, catalog.models[m].load_latency_s);
      EXPECT_EQ(back.models[m].exec_latency_s, catalog.models[m].exec_latency_s);
    }
    EXPECT_DOUBLE_EQ(back.percentiles[0].at("load_latency_p99_s"), 2.5);
  }
}

TEST(Catalog, InterferenceFiguresAreOptionalAndRoundTrip) {
  TempDir dir;
  const std::string path = dir.write("c.json", R"({"models": [
    {"name": "a", "size_bytes": 1000, "load_latency_s": 1.5, "exec_latency_s": 0.25,
     "exec_beside_load_s": 0.5, "load_beside_exec_s": 2.25, "first_exec_s": 0.3,
     "exec_cold_s": 0.4, "exec_cold_pause_s": 2},
    {"name": "b", "size_bytes": 1000, "load_latency_s": 3, "exec_latency_s": 0.5}
  ]})");
  const Catalog catalog = load_catalog(path);
  ASSERT_EQ(catalog.interference.size(), 2u);
  EXPECT_DOUBLE_EQ(catalog.interference[0].exec_factor(0.25), 2.0);
  EXPECT_DOUBLE_EQ(catalog.interference[0].load_factor(1.5), 1.5);
  EXPECT_DOUBLE_EQ(catalog.interference[0].first_exec_extra_s(0.25), 0.3 - 0.25);
  EXPECT_DOUBLE_EQ(catalog.interference[0].cold_extra_s(0.25), 0.4 - 0.25);
  EXPECT_DOUBLE_EQ(catalog.interference[0].cold_extra_s(0.5), 0.0);  // never below the exec
  EXPECT_DOUBLE_EQ(catalog.interference[0].cold_extra_s(0.25, 0.5), (0.4 - 0.25) / 4);
  EXPECT_DOUBLE_EQ(catalog.interference[0].cold_extra_s(0.25, 5.0), 0.4 - 0.25);  // up to all
  EXPECT_DOUBLE_EQ(catalog.interference[0].cold_extra_s(0.25, -1.0), 0.0);
  EXPECT_FALSE(catalog.interference[1].measured());  // absent: no interference
  EXPECT_DOUBLE_EQ(catalog.interference[1].exec_factor(0.5), 1.0);
  write_catalog(dir.file("out.json"), catalog);
  const Catalog back = load_catalog(dir.file("out.json"));
  EXPECT_DOUBLE_EQ(back.interference[0].load_beside_exec_s, 2.25);
  EXPECT_DOUBLE_EQ(back.interference[0].exec_cold_s, 0.4);
  EXPECT_DOUBLE_EQ(back.interference[0].exec_cold_pause_s, 2.0);
  EXPECT_FALSE(back.interference[1].measured());
  const std::string text = dir.write("bad.json", R"({"models": [
    {"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1, "first_exec_s": -1}]})");
  expect_error_containing([&] { load_catalog(text); }, "first_exec_s");
  const std::string cold = dir.write("cold.json", R"({"models": [
    {"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1, "exec_cold_s": -1}]})");
  expect_error_containing([&] { load_catalog(cold); }, "exec_cold_s");
  const std::string pause = dir.write("pause.json", R"({"models": [
    {"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1, "exec_cold_s": 2,
     "exec_cold_pause_s": -0.5}]})");
  expect_error_containing([&] { load_catalog(pause); }, "exec_cold_pause_s");
}

TEST(Catalog, PaperSchema) {
  TempDir dir;
  // The paper's profile fields; loaded_size is in MB (1e6 bytes). A top-level list also works.
  const std::string path = dir.write("p.json", R"([
    {"name": "ResNet50", "avg_load_latency": 4.0463, "avg_exec_latency": 0.2783,
     "avg_unload_latency": 0.0144, "loaded_size": 98}
  ])");
  const Catalog catalog = load_catalog(path);
  ASSERT_EQ(catalog.models.size(), 1u);
  EXPECT_EQ(catalog.models[0].size_bytes, 98'000'000u);
  EXPECT_DOUBLE_EQ(catalog.models[0].load_latency_s, 4.0463);
}

TEST(Catalog, PaperCsvFile) {
  TempDir dir;
  const std::string path =
      dir.write("p.csv",
                "name,avg_load_latency_s,avg_exec_latency_s,avg_unload_latency_s,weights_mb\n"
                "X,1,2,3,4.5\n");
  const Catalog catalog = load_catalog(path);
  EXPECT_EQ(catalog.models.at(0).size_bytes, 4'500'000u);
  dir.write(
      "bad.csv",
      "name,avg_load_latency_s,avg_exec_latency_s,avg_unload_latency_s,weights_mb\nX,1,2,3\n");
  try {
    load_catalog(dir.file("bad.csv"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 2u);
  }
}

TEST(Catalog, BadInput) {
  TempDir dir;
  expect_error_containing([&] { load_catalog(dir.file("missing.json")); }, "no such file");
  dir.write("empty.json", "");
  expect_error_containing([&] { load_catalog(dir.file("empty.json")); }, "empty file");
  dir.write("syntax.json", "{\"models\": [");
  expect_error_containing([&] { load_catalog(dir.file("syntax.json")); }, "invalid JSON");
  dir.write("nolist.json", "{\"things\": []}");
  expect_error_containing([&] { load_catalog(dir.file("nolist.json")); }, "\"models\"");
  dir.write("none.json", "[]");
  expect_error_containing([&] { load_catalog(dir.file("none.json")); }, "no models");
  dir.write("missing_field.json", R"([{"name": "a", "size_bytes": 1, "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("missing_field.json")); },
                          "missing field 'load_latency_s'");
  dir.write("negative.json",
            R"([{"name": "a", "size_bytes": 1, "load_latency_s": -1, "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("negative.json")); }, "must be >= 0");
  dir.write("string.json",
            R"([{"name": "a", "size_bytes": 1, "load_latency_s": "x", "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("string.json")); }, "is not a number");
  dir.write("size.json",
            R"([{"name": "a", "size_bytes": "lots", "load_latency_s": 1, "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("size.json")); }, "invalid size 'lots'");
  dir.write("dup.json",
            R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1},
                            {"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("dup.json")); }, "given twice");
  dir.write("comma.json",
            R"([{"name": "a,b", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("comma.json")); }, "contains a comma");
  dir.write("zero.json",
            R"([{"name": "a", "size_bytes": 0, "load_latency_s": 1, "exec_latency_s": 1}])");
  expect_error_containing([&] { load_catalog(dir.file("zero.json")); }, "size must be > 0");
  // Errors name the file.
  expect_error_containing([&] { load_catalog(dir.file("zero.json")); }, dir.file("zero.json"));
}

// The simple reader (no JSON document) against the document reader it stands in for.
void expect_same(const Catalog& a, const Catalog& b) {
  ASSERT_EQ(a.models.size(), b.models.size());
  for (std::size_t m = 0; m < a.models.size(); ++m) {
    EXPECT_EQ(a.models[m].name, b.models[m].name);
    EXPECT_EQ(a.models[m].size_bytes, b.models[m].size_bytes);
    // Bit for bit (the same double, not a close one).
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.models[m].load_latency_s),
              std::bit_cast<std::uint64_t>(b.models[m].load_latency_s));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.models[m].exec_latency_s),
              std::bit_cast<std::uint64_t>(b.models[m].exec_latency_s));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.models[m].unload_latency_s),
              std::bit_cast<std::uint64_t>(b.models[m].unload_latency_s));
  }
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.index.bucket_count(), b.index.bucket_count());
  EXPECT_EQ(a.percentiles, b.percentiles);
  ASSERT_EQ(a.interference.size(), b.interference.size());
  for (std::size_t m = 0; m < a.interference.size(); ++m) {
    EXPECT_FALSE(a.interference[m].measured());
    EXPECT_FALSE(b.interference[m].measured());
  }
  ASSERT_EQ(a.memory.size(), b.memory.size());
  for (std::size_t m = 0; m < a.memory.size(); ++m) {
    EXPECT_EQ(a.memory[m].load_peak_bytes, b.memory[m].load_peak_bytes);
    EXPECT_EQ(a.memory[m].workspace_bytes, b.memory[m].workspace_bytes);
  }
}

// Whatever the text, the simple reader declines it or gives the document reader's catalog; and
// it never accepts what the document reader rejects. Returns whether it accepted.
bool check_simple_reader(std::string_view text) {
  std::optional<Catalog> simple;
  EXPECT_NO_THROW(simple = detail::parse_simple_catalog_json(text)) << text;
  std::optional<Catalog> document;
  try {
    document = detail::parse_catalog_json_document(text, "test.json");
  } catch (const UsageError&) {  // InputError is one
  }
  if (simple) {
    EXPECT_TRUE(document.has_value()) << "accepted what the document reader rejects: " << text;
    if (document) expect_same(*simple, *document);
  }
  return simple.has_value();
}

constexpr std::string_view kSimpleCatalog = R"({
 "format": "brulee-catalog", "version": 1,
 "models": [
  {"exec_latency_s": 0.2719, "load_latency_s": 1.0, "name": "DenseNet121",
   "size_bytes": 33000000, "unload_latency_s": 0.0142},
  {"name":"b-2","size_bytes":5e8,"load_latency_s":12,"exec_latency_s":0,"unload_latency_s":1E-3},
  {"name": "c", "size_bytes": 1.5, "load_latency_s": 2.5e+2, "exec_latency_s": 0.1000000000000000055511151231257827}
 ]
})";

TEST(Catalog, SimpleReaderReadsWhatBruleeWrites) {
  // Written by write_catalog (the synthesiser's catalogs), awkward doubles included.
  Catalog catalog;
  for (int m = 0; m < 300; ++m) {
    ModelInfo model;
    model.name = "model-" + std::to_string(m) + "_x.y";
    model.size_bytes = 1 + static_cast<std::uint64_t>(m) * 987654321ULL;
    model.load_latency_s = 0.1 * m + 1e-9;
    model.exec_latency_s = 1.0 / (m + 3);
    model.unload_latency_s = m % 3 == 0 ? 0.0 : 123456.789 / (m + 1);
    catalog.add(std::move(model));
  }
  TempDir dir;
  write_catalog(dir.file("c.json"), catalog);
  std::ifstream in(dir.file("c.json"));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(check_simple_reader(text.str()));
  // A bare list, other spacing and number forms (Python's json.dump writes 1.0), three models.
  EXPECT_TRUE(check_simple_reader(kSimpleCatalog));
  const std::string list(kSimpleCatalog.substr(kSimpleCatalog.find('[')));
  EXPECT_TRUE(check_simple_reader(list.substr(0, list.rfind(']') + 1) + "\r\n\t "));
  EXPECT_EQ(detail::parse_simple_catalog_json(kSimpleCatalog)->models.size(), 3u);
  EXPECT_EQ(detail::parse_simple_catalog_json(kSimpleCatalog)->models[2].size_bytes, 2u);
}

TEST(Catalog, SimpleReaderDeclinesTheRest) {
  // Valid catalogs it leaves to the document reader (which reads them the same way as before).
  for (const std::string_view text : {
           R"([{"name": "a", "size_bytes": "1 GB", "load_latency_s": 1, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1,
                "load_latency_p99_s": 2}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1,
                "first_exec_s": 2}])",
           R"([{"name": "a", "loaded_size": 1, "avg_load_latency": 1, "avg_exec_latency": 1}])",
           R"([{"name": "\u0061", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1}])",
           R"({"models": [{"name": "a", "size_bytes": 1, "load_latency_s": 1,
               "exec_latency_s": 1}], "note": null})",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1,
                "exec_latency_s": 2}])",
           "\xEF\xBB\xBF[{\"name\": \"a\", \"size_bytes\": 1, \"load_latency_s\": 1, "
           "\"exec_latency_s\": 1}]",
       }) {
    EXPECT_FALSE(check_simple_reader(text)) << text;
  }
  // Bad ones (the document reader's errors, unchanged: Catalog.BadInput).
  for (const std::string_view text : {
           "",
           "[]",
           "{}",
           R"({"models": []})",
           "[1]",
           "[{}]",
           R"([{"name": "a", "size_bytes": 0, "load_latency_s": 1, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 0.4, "load_latency_s": 1, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": -1, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1e999, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 01, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1., "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": .5, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1e, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": +1, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1},])",
           R"([{"name": "a,b", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1}])",
           R"([{"name": "", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1}])",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1}] x)",
           R"([{"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1},
               {"name": "a", "size_bytes": 2, "load_latency_s": 1, "exec_latency_s": 1}])",
       }) {
    EXPECT_FALSE(check_simple_reader(text)) << text;
  }
}

TEST(Catalog, SimpleReaderOnMalformedText) {
  // Every one-byte change of a valid catalog (deleted, replaced, duplicated) and every prefix:
  // declined, or read as the document reader reads it.
  const std::string base(kSimpleCatalog);
  const std::string replacements = std::string("\"\\,:{}[]-+0159.eE x\t\x01\x7f") + '\0' + "\xff";
  int accepted = 0;
  for (std::size_t i = 0; i < base.size(); ++i) {
    std::string text = base;
    text.erase(i, 1);
    accepted += check_simple_reader(text);
    text = base;
    text.insert(i, 1, base[i]);
    accepted += check_simple_reader(text);
    for (const char c : replacements) {
      text = base;
      text[i] = c;
      accepted += check_simple_reader(text);
    }
    accepted += check_simple_reader(std::string_view(base).substr(0, i));
  }
  EXPECT_GT(accepted, 0);  // some changes keep a valid catalog (a digit for a digit, spaces)
}

}  // namespace
}  // namespace brulee::workload
