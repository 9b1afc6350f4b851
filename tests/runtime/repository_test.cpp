// The model repository: scanning, versions, config.json, name validation and escapes.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "runtime/repository.hpp"
#include "test_util.hpp"

namespace brulee::runtime {
namespace {
namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;
using testing::tiny_model_path;
using testing::write_file;

std::string usage_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

TEST(RuntimeRepository, ScansTheTinyZoo) {
  const Repository repository(testing::tiny_zoo());
  ASSERT_EQ(repository.models().size(), 10u);
  EXPECT_TRUE(repository.problems().empty());
  EXPECT_EQ(repository.models().front().name, "tiny_cnn-onnx");
  for (const auto& model : repository.models()) {
    EXPECT_EQ(model.version, 1u);
    EXPECT_EQ(model.backend, model.name.ends_with("-onnx") ? "onnx" : "torchscript");
    EXPECT_GT(model.file_bytes, 0u);
    EXPECT_LT(model.file_bytes, 1000000u) << model.name;  // tiny models stay under 1 MB
    ASSERT_EQ(model.config.inputs.size(), 1u);
    EXPECT_EQ(model.config.inputs[0].name, "input");
    EXPECT_EQ(model.config.outputs[0].shape, (std::vector<std::int64_t>{1, 10}));
  }
  EXPECT_GT(repository.total_file_bytes(), 0u);
  const auto model = repository.find("tiny_mobilenet-pt");
  auto loaded = load_model(model);
  EXPECT_EQ(loaded->inputs()[0].shape, (std::vector<std::int64_t>{1, 3, 32, 32}));
}

TEST(RuntimeRepository, ModelNamesAreValidated) {
  for (const std::string& bad :
       std::vector<std::string>{"", "..", "../etc", "a/b", "/abs", "a\\b", ".hidden", "with space",
                                "x;rm", std::string(200, 'a')}) {
    EXPECT_THROW(validate_model_name(bad), UsageError) << bad;
  }
  for (const std::string good : {"resnet50-onnx", "tiny_cnn-pt", "model.v2", "A1"}) {
    EXPECT_NO_THROW(validate_model_name(good)) << good;
  }
  const Repository repository(testing::tiny_zoo());
  EXPECT_NE(usage_error([&] { repository.find("../tiny_zoo"); }).find("'..'"), std::string::npos);
  EXPECT_NE(usage_error([&] { repository.find("tiny_cnn-onnx/1"); }).find("'/'"),
            std::string::npos);
  EXPECT_NE(usage_error([&] { repository.find("resnet9000"); }).find("no model 'resnet9000'"),
            std::string::npos);
}

TEST(RuntimeRepository, MissingRepositoryIsAUsageError) {
  EXPECT_THROW(Repository("/nonexistent/brulee/repo"), UsageError);
}

TEST(RuntimeRepository, FolderWithoutModelIsReportedNotLoaded) {
  TempDir dir;
  fs::create_directories(dir.path() / "empty" / "1");
  fs::create_directories(dir.path() / "noversion");
  write_file(dir.path() / "wrongfile" / "1" / "model.bin", "x");
  write_file(dir.path() / "good" / "1" / "model.onnx", read_file(tiny_model_path("tiny_cnn-onnx")));
  const Repository repository(dir.path().string());
  ASSERT_EQ(repository.models().size(), 1u);
  EXPECT_EQ(repository.models()[0].name, "good");
  EXPECT_EQ(repository.problems().size(), 3u);
  EXPECT_NE(usage_error([&] {
              repository.find("empty");
            }).find("has no <version>/model.onnx or model.pt"),
            std::string::npos);
}

TEST(RuntimeRepository, HighestVersionWithAModelWins) {
  TempDir dir;
  const auto onnx = read_file(tiny_model_path("tiny_cnn-onnx"));
  write_file(dir.path() / "m" / "1" / "model.onnx", onnx);
  write_file(dir.path() / "m" / "2" / "model.onnx", onnx);
  fs::create_directories(dir.path() / "m" / "10");      // empty: skipped
  fs::create_directories(dir.path() / "m" / "latest");  // not a number: ignored
  const Repository repository(dir.path().string());
  ASSERT_EQ(repository.models().size(), 1u);
  EXPECT_EQ(repository.models()[0].version, 2u);
  EXPECT_EQ(repository.models()[0].backend, "onnx");
  auto model = load_model(repository.models()[0]);
  EXPECT_EQ(model->outputs()[0].shape, (std::vector<std::int64_t>{1, 10}));
}

TEST(RuntimeRepository, ConfigChoosesTheBackendAndBadConfigsAreInputErrors) {
  TempDir dir;
  write_file(dir.path() / "m" / "1" / "model.onnx", read_file(tiny_model_path("tiny_cnn-onnx")));
  write_file(dir.path() / "m" / "1" / "model.pt", read_file(tiny_model_path("tiny_cnn-pt")));
  write_file(dir.path() / "m" / "config.json",
             R"({"backend": "torchscript", "labels": ["a", "b"]})");
  auto model = resolve_model(dir.path().string(), "m");
  EXPECT_EQ(model.backend, "torchscript");
  EXPECT_EQ(model.config.labels, (std::vector<std::string>{"a", "b"}));

  write_file(dir.path() / "m" / "config.json", R"({"backend": "tensorflow"})");
  const auto unknown = usage_error([&] { resolve_model(dir.path().string(), "m"); });
  EXPECT_NE(unknown.find("unknown backend 'tensorflow'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("config.json"), std::string::npos) << unknown;

  write_file(dir.path() / "m" / "config.json", R"({"backend": )");
  EXPECT_THROW(resolve_model(dir.path().string(), "m"), InputError);
  write_file(dir.path() / "m" / "config.json",
             R"({"inputs": [{"name": "input", "shape": [1, 0]}]})");
  EXPECT_THROW(resolve_model(dir.path().string(), "m"), InputError);
  write_file(dir.path() / "m" / "config.json",
             R"({"inputs": [{"name": "input", "dtype": "FP77", "shape": [1]}]})");
  EXPECT_THROW(resolve_model(dir.path().string(), "m"), InputError);

  // Both files, no config: the first backend in registry order (onnx).
  fs::remove(dir.path() / "m" / "config.json");
  EXPECT_EQ(resolve_model(dir.path().string(), "m").backend, "onnx");
}

TEST(RuntimeRepository, SymlinksEscapingTheRepositoryAreRefused) {
  TempDir dir;
  const auto repo = dir.path() / "repo";
  const auto outside = dir.path() / "outside";
  write_file(outside / "1" / "model.onnx", read_file(tiny_model_path("tiny_cnn-onnx")));
  fs::create_directories(repo);
  fs::create_directory_symlink(outside, repo / "escape");
  write_file(repo / "filelink" / "1" / ".keep", "");
  fs::create_symlink(outside / "1" / "model.onnx", repo / "filelink" / "1" / "model.onnx");
  // A symlink that stays inside is fine.
  write_file(repo / "real" / "1" / "model.onnx", read_file(tiny_model_path("tiny_cnn-onnx")));
  fs::create_directory_symlink(repo / "real", repo / "alias");

  const Repository repository(repo.string());
  std::vector<std::string> names;
  for (const auto& model : repository.models()) names.push_back(model.name);
  EXPECT_EQ(names, (std::vector<std::string>{"alias", "real"}));
  EXPECT_EQ(repository.problems().size(), 2u);
  EXPECT_NE(usage_error([&] { repository.find("escape"); }).find("outside the repository"),
            std::string::npos);
  EXPECT_NE(usage_error([&] { repository.find("filelink"); }).find("outside the repository"),
            std::string::npos);
}

// Whatever a load throws (backend errors are std::runtime_error, refusals UsageError).
std::string load_error(const RepositoryModel& model) {
  try {
    load_model(model);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

// The containment check runs at every load, not only at the scan: a model file replaced after
// the scan (say after an unload) by a symlink leading out of the repository is refused before
// the backend opens anything.
TEST(RuntimeRepository, EveryLoadChecksTheFileAgain) {
  TempDir dir;
  const auto repo = dir.path() / "repo";
  const auto outside = dir.path() / "outside";
  const auto file = repo / "m" / "1" / "model.onnx";
  write_file(file, "not an onnx model");
  write_file(outside / "model.onnx", "not an onnx model either");
  write_file(repo / "shared" / "weights.bin", "not an onnx model, shared");
  const Repository repository(repo.string());
  ASSERT_EQ(repository.models().size(), 1u);
  const RepositoryModel model = repository.models()[0];
  EXPECT_EQ(model.root, fs::canonical(repo).string());

  // As scanned: the backend opens the file (and refuses its content).
  const std::string as_scanned = load_error(model);
  EXPECT_NE(as_scanned.find("not a valid ONNX model"), std::string::npos) << as_scanned;

  // The file replaced by a symlink to a file outside.
  fs::remove(file);
  fs::create_symlink(outside / "model.onnx", file);
  EXPECT_NE(usage_error([&] { load_model(model); }).find("resolves outside the repository"),
            std::string::npos);
  // The version folder replaced by a symlink to a folder outside.
  fs::remove_all(repo / "m" / "1");
  fs::create_directory_symlink(outside, repo / "m" / "1");
  EXPECT_NE(usage_error([&] { load_model(model); }).find("resolves outside the repository"),
            std::string::npos);
  // Not a regular file.
  fs::remove(repo / "m" / "1");
  fs::create_directories(file);
  EXPECT_NE(usage_error([&] { load_model(model); }).find("is not a regular file"),
            std::string::npos);
  // Gone.
  fs::remove_all(repo / "m" / "1");
  EXPECT_NE(usage_error([&] { load_model(model); }).find("cannot resolve"), std::string::npos);
  // A symlink that stays inside the repository is followed: the backend opens its target.
  fs::create_directories(repo / "m" / "1");
  fs::create_symlink(repo / "shared" / "weights.bin", file);
  const std::string inside = load_error(model);
  EXPECT_NE(inside.find("not a valid ONNX model"), std::string::npos) << inside;
  EXPECT_NE(inside.find("weights.bin"), std::string::npos) << inside;  // the resolved file
}

TEST(RuntimeRepository, ModelsAddedAfterTheScanAreFound) {
  TempDir dir;
  const Repository repository(dir.path().string());
  EXPECT_TRUE(repository.models().empty());
  write_file(dir.path() / "late" / "3" / "model.pt", read_file(tiny_model_path("tiny_mlp-pt")));
  const auto model = repository.find("late");
  EXPECT_EQ(model.version, 3u);
  EXPECT_EQ(model.backend, "torchscript");
}

}  // namespace
}  // namespace brulee::runtime
