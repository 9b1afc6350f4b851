// Broken model files: each load fails with std::runtime_error carrying the library's reason, and
// the process keeps loading good models afterwards.
#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"
#include "runtime/backend.hpp"
#include "runtime/repository.hpp"
#include "test_util.hpp"

namespace brulee::runtime {
namespace {
using testing::read_file;
using testing::TempDir;
using testing::tiny_model_path;
using testing::write_file;

std::string load_error(const std::string& backend_name, const std::string& path) {
  try {
    backend(backend_name).load(path, {});
  } catch (const UsageError& error) {
    return std::string("UsageError: ") + error.what();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

std::string random_bytes(std::size_t count) {
  std::mt19937 rng(3);
  std::string bytes(count, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(rng() & 0xff);
  return bytes;
}

void expect_good_load_still_works() {
  auto model = backend("onnx").load(tiny_model_path("tiny_cnn-onnx"), {});
  EXPECT_EQ(model->infer({testing::random_tensor(model->inputs()[0])}).size(), 1u);
  auto script = backend("torchscript").load(tiny_model_path("tiny_cnn-pt"), {});
  EXPECT_EQ(script->infer({testing::random_tensor(script->inputs()[0])}).size(), 1u);
}

TEST(RuntimeBadInput, TruncatedOnnxFileFailsWithReason) {
  TempDir dir;
  const auto bytes = read_file(tiny_model_path("tiny_mlp-onnx"));
  const auto path = (dir.path() / "model.onnx").string();
  write_file(path, bytes.substr(0, bytes.size() / 2));
  const auto error = load_error("onnx", path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("not a valid ONNX model"), std::string::npos) << error;
  expect_good_load_still_works();
}

TEST(RuntimeBadInput, RandomBytesAsOnnxFailWithReason) {
  TempDir dir;
  const auto path = (dir.path() / "model.onnx").string();
  write_file(path, random_bytes(4096));
  const auto error = load_error("onnx", path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_EQ(error.find("UsageError"), std::string::npos) << error;
  expect_good_load_still_works();
}

TEST(RuntimeBadInput, OnnxGraphOpenCvRejectsFailsWithOpenCvReason) {
  // Well-formed protobuf, valid signature, but a node OpenCV does not know: the importer's
  // reason comes back.
  TempDir dir;
  auto bytes = read_file(tiny_model_path("tiny_cnn-onnx"));
  const std::string op = "Gemm";
  ASSERT_NE(bytes.find(op), std::string::npos);
  for (auto at = bytes.find(op); at != std::string::npos; at = bytes.find(op, at))
    bytes.replace(at, op.size(), "Qemm");
  const auto path = (dir.path() / "model.onnx").string();
  write_file(path, bytes);
  const auto error = load_error("onnx", path);
  EXPECT_NE(error.find("OpenCV"), std::string::npos) << error;
  expect_good_load_still_works();
}

TEST(RuntimeBadInput, TruncatedTorchScriptFileFailsWithLibtorchReason) {
  TempDir dir;
  const auto bytes = read_file(tiny_model_path("tiny_mlp-pt"));
  const auto path = (dir.path() / "model.pt").string();
  write_file(path, bytes.substr(0, bytes.size() / 2));
  const auto error = load_error("torchscript", path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("libtorch"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  expect_good_load_still_works();
}

TEST(RuntimeBadInput, RandomBytesAsTorchScriptFailWithLibtorchReason) {
  TempDir dir;
  const auto path = (dir.path() / "model.pt").string();
  write_file(path, random_bytes(4096));
  const auto error = load_error("torchscript", path);
  EXPECT_NE(error.find("libtorch"), std::string::npos) << error;
  expect_good_load_still_works();
}

TEST(RuntimeBadInput, EmptyAndMissingFilesFail) {
  TempDir dir;
  const auto empty = (dir.path() / "model.onnx").string();
  write_file(empty, "");
  EXPECT_NE(load_error("onnx", empty).find("empty file"), std::string::npos);
  const auto missing = (dir.path() / "nothing.onnx").string();
  EXPECT_NE(load_error("onnx", missing).find("cannot open"), std::string::npos);
  EXPECT_NE(load_error("torchscript", (dir.path() / "nothing.pt").string()).find("cannot open"),
            std::string::npos);
  // A directory is not a model file.
  EXPECT_NE(load_error("torchscript", dir.path().string()).find("not a regular file"),
            std::string::npos);
  expect_good_load_still_works();
}

TEST(RuntimeBadInput, OnnxFileGivenToTorchScriptFails) {
  const auto error = load_error("torchscript", tiny_model_path("tiny_cnn-onnx"));
  EXPECT_NE(error.find("libtorch"), std::string::npos) << error;
  expect_good_load_still_works();
}

}  // namespace
}  // namespace brulee::runtime
