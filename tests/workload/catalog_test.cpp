// Model catalogs: brulee's JSON schema, the paper's schema, the built-in paper catalog, bad input.
#include <gtest/gtest.h>

#include <functional>
#include <string>

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
     "exec_beside_load_s": 0.5, "load_beside_exec_s": 2.25, "first_exec_s": 0.3},
    {"name": "b", "size_bytes": 1000, "load_latency_s": 3, "exec_latency_s": 0.5}
  ]})");
  const Catalog catalog = load_catalog(path);
  ASSERT_EQ(catalog.interference.size(), 2u);
  EXPECT_DOUBLE_EQ(catalog.interference[0].exec_factor(0.25), 2.0);
  EXPECT_DOUBLE_EQ(catalog.interference[0].load_factor(1.5), 1.5);
  EXPECT_DOUBLE_EQ(catalog.interference[0].first_exec_extra_s(0.25), 0.3 - 0.25);
  EXPECT_FALSE(catalog.interference[1].measured());  // absent: no interference
  EXPECT_DOUBLE_EQ(catalog.interference[1].exec_factor(0.5), 1.0);
  write_catalog(dir.file("out.json"), catalog);
  const Catalog back = load_catalog(dir.file("out.json"));
  EXPECT_DOUBLE_EQ(back.interference[0].load_beside_exec_s, 2.25);
  EXPECT_FALSE(back.interference[1].measured());
  const std::string text = dir.write("bad.json", R"({"models": [
    {"name": "a", "size_bytes": 1, "load_latency_s": 1, "exec_latency_s": 1, "first_exec_s": -1}]})");
  expect_error_containing([&] { load_catalog(text); }, "first_exec_s");
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

}  // namespace
}  // namespace brulee::workload
