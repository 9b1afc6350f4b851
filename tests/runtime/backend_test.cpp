// Backends on the tiny zoo: metadata, inference, agreement between ONNX and TorchScript exports
// of the same weights, input checking, and measured load figures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "runtime/backend.hpp"
#include "runtime/backend_util.hpp"
#include "runtime/repository.hpp"
#include "test_util.hpp"

namespace brulee::runtime {
namespace {
using testing::floats;
using testing::random_tensor;
using testing::tiny_model_path;

const std::vector<std::string> kTinyArchitectures{"tiny_cnn", "tiny_resnet", "tiny_mobilenet",
                                                  "tiny_densenet", "tiny_mlp"};

TEST(RuntimeDType, NamesRoundTripAndUnknownNamesAreUsageErrors) {
  for (const auto dtype : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64,
                           DType::kUInt8, DType::kInt8, DType::kBool}) {
    EXPECT_EQ(parse_dtype(dtype_name(dtype)), dtype);
  }
  EXPECT_EQ(dtype_name(DType::kFloat32), "FP32");
  EXPECT_EQ(dtype_bytes(DType::kInt64), 8u);
  EXPECT_EQ(dtype_bytes(DType::kBool), 1u);
  EXPECT_THROW(parse_dtype("FP99"), UsageError);
}

TEST(RuntimeBackend, SampleInputsHoldSeededValuesOfTheReplaysKinds) {
  const std::vector<TensorSpec> specs{{"f", DType::kFloat32, {-1, 3, 4}},
                                      {"d", DType::kFloat64, {5}},
                                      {"i", DType::kInt64, {7}},
                                      {"b", DType::kBool, {9}}};
  const std::vector<Tensor> a = sample_inputs(specs, 3);
  const std::vector<Tensor> zeros = warmup_inputs(specs);
  ASSERT_EQ(a.size(), zeros.size());
  for (std::size_t t = 0; t < a.size(); ++t) {  // the warm-up's names, shapes and sizes
    EXPECT_EQ(a[t].name, zeros[t].name);
    EXPECT_EQ(a[t].shape, zeros[t].shape);
    EXPECT_EQ(a[t].data.size(), zeros[t].data.size());
  }
  const std::vector<float> f = floats(a[0]);
  ASSERT_EQ(f.size(), 12u);
  EXPECT_TRUE(std::all_of(f.begin(), f.end(), [](float v) { return v >= 0.0f && v < 1.0f; }));
  EXPECT_GT(std::count_if(f.begin(), f.end(), [](float v) { return v > 0.0f; }), 6);
  std::vector<double> d(5);
  std::memcpy(d.data(), a[1].data.data(), a[1].data.size());
  EXPECT_TRUE(std::all_of(d.begin(), d.end(), [](double v) { return v >= 0.0 && v < 1.0; }));
  std::vector<std::int64_t> i(7);
  std::memcpy(i.data(), a[2].data.data(), a[2].data.size());
  EXPECT_TRUE(std::all_of(i.begin(), i.end(), [](std::int64_t v) { return v >= 0 && v <= 9; }));
  EXPECT_TRUE(std::all_of(a[3].data.begin(), a[3].data.end(),
                          [](std::byte v) { return v == std::byte{0} || v == std::byte{1}; }));
  // Seeded: the same seed gives the same values, another seed others.
  EXPECT_EQ(sample_inputs(specs, 3)[0].data, a[0].data);
  EXPECT_NE(sample_inputs(specs, 4)[0].data, a[0].data);
}

TEST(RuntimeRegistry, KnowsBothBackendsAndRejectsUnknownOnes) {
  EXPECT_EQ(find_backend("onnx").file_name, "model.onnx");
  EXPECT_EQ(find_backend("torchscript").file_name, "model.pt");
  EXPECT_EQ(&backend("onnx"), &find_backend("onnx").instance());
  EXPECT_NE(&backend("onnx"), &backend("torchscript"));
  EXPECT_EQ(backend_names(), (std::vector<std::string>{"onnx", "torchscript"}));
  try {
    backend("tensorflow");
    FAIL() << "no exception";
  } catch (const UsageError& error) {
    // The error lists every entry of the table.
    const std::string what = error.what();
    EXPECT_NE(what.find("unknown backend 'tensorflow'"), std::string::npos);
    for (const auto& entry : backend_entries()) {
      EXPECT_NE(what.find(std::string(entry.name)), std::string::npos) << entry.name;
    }
  }
}

TEST(RuntimeDType, ElementCountsStopAtOneLimit) {
  const auto limit = static_cast<std::int64_t>(kMaxTensorElements);
  EXPECT_EQ(count_elements(std::vector<std::int64_t>{limit}).count, kMaxTensorElements);
  EXPECT_EQ(count_elements(std::vector<std::int64_t>{limit, 0}).count, 0u);
  EXPECT_EQ(count_elements(std::vector<std::int64_t>{limit + 1}).problem, ShapeProblem::kTooLarge);
  EXPECT_EQ(count_elements(std::vector<std::int64_t>{2, -1}).problem,
            ShapeProblem::kNegativeDimension);
  // A shape whose bytes wrap around 2^64 (2^62 FP32 elements) is refused, not matched by an
  // empty buffer.
  const std::vector<TensorSpec> specs{{"x", DType::kFloat32, {-1}}};
  Tensor huge{"x", DType::kFloat32, {std::int64_t{1} << 62}, {}};
  try {
    match_inputs(specs, {huge});
    FAIL() << "no exception";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("too large"), std::string::npos) << error.what();
  }
}

class TinyModels : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyModels, OnnxAndTorchScriptExportsComputeTheSameOutputs) {
  const std::string arch = GetParam();
  auto onnx_model = backend("onnx").load(tiny_model_path(arch + "-onnx"), {});
  auto script_model = backend("torchscript").load(tiny_model_path(arch + "-pt"), {});
  ASSERT_EQ(onnx_model->inputs().size(), 1u);
  ASSERT_EQ(script_model->inputs().size(), 1u);
  EXPECT_EQ(onnx_model->inputs()[0].shape, script_model->inputs()[0].shape);
  EXPECT_EQ(onnx_model->inputs()[0].dtype, DType::kFloat32);
  EXPECT_EQ(onnx_model->outputs()[0].shape, (std::vector<std::int64_t>{1, 10}));

  const Tensor input = random_tensor(onnx_model->inputs()[0]);
  const auto onnx_out = onnx_model->infer({input});
  const auto script_out = script_model->infer({input});
  ASSERT_EQ(onnx_out.size(), 1u);
  ASSERT_EQ(script_out.size(), 1u);
  EXPECT_EQ(onnx_out[0].shape, (std::vector<std::int64_t>{1, 10}));
  EXPECT_EQ(script_out[0].shape, onnx_out[0].shape);
  EXPECT_EQ(onnx_out[0].name, "output");
  const auto a = floats(onnx_out[0]);
  const auto b = floats(script_out[0]);
  ASSERT_EQ(a.size(), 10u);
  float scale = 0;
  for (const float value : b) scale = std::max(scale, std::abs(value));
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(a[i]));
    EXPECT_NEAR(a[i], b[i], 1e-4f + 1e-3f * scale) << arch << " output " << i;
  }
  // A different input gives a different answer (the model is not constant).
  const auto other = floats(onnx_model->infer({random_tensor(onnx_model->inputs()[0], 99)})[0]);
  EXPECT_NE(other, a);
  // The same input gives the same answer again.
  EXPECT_EQ(floats(onnx_model->infer({input})[0]), a);
}

TEST_P(TinyModels, LoadReportsMeasuredTimeAndBytes) {
  const std::string arch = GetParam();
  for (const std::string suffix : {"-onnx", "-pt"}) {
    const auto path = tiny_model_path(arch + suffix);
    auto model = backend(suffix == "-onnx" ? "onnx" : "torchscript").load(path, {});
    EXPECT_GT(model->load_time_s(), 0.0) << path;
    EXPECT_GT(model->resident_bytes(), 0u) << path;
  }
}

INSTANTIATE_TEST_SUITE_P(Runtime, TinyModels, ::testing::ValuesIn(kTinyArchitectures));

TEST(RuntimeBackend, MeasuredBytesCoverTheWeights) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc: bytes fall back to RSS growth, which then "
                  "includes shadow memory and the library's one-time setup";
#endif
  // tiny_mlp holds ~0.7 MB of FP32 weights: both backends must report at least that much.
  for (const std::string name : {"tiny_mlp-onnx", "tiny_mlp-pt"}) {
    const auto path = tiny_model_path(name);
    const auto file_bytes = std::filesystem::file_size(path);
    auto model = backend(name.ends_with("onnx") ? "onnx" : "torchscript").load(path, {});
    EXPECT_GE(static_cast<double>(model->resident_bytes()), 0.9 * 0.7e6) << name;
    EXPECT_LT(model->resident_bytes(), 20 * file_bytes) << name;
  }
}

TEST(RuntimeBackend, WrongShapeDtypeSizeOrNameAreUsageErrorsAndTheModelKeepsWorking) {
  for (const std::string name : {"tiny_cnn-onnx", "tiny_cnn-pt"}) {
    auto model =
        backend(name.ends_with("onnx") ? "onnx" : "torchscript").load(tiny_model_path(name), {});
    const Tensor good = random_tensor(model->inputs()[0]);

    Tensor wrong_shape = good;
    wrong_shape.shape = {1, 3, 16, 64};
    EXPECT_THROW(model->infer({wrong_shape}), UsageError) << name;

    Tensor wrong_rank = good;
    wrong_rank.shape = {3, 32, 32};
    EXPECT_THROW(model->infer({wrong_rank}), UsageError) << name;

    Tensor wrong_dtype = good;
    wrong_dtype.dtype = DType::kInt32;
    EXPECT_THROW(model->infer({wrong_dtype}), UsageError) << name;

    Tensor short_data = good;
    short_data.data.resize(good.data.size() / 2);
    EXPECT_THROW(model->infer({short_data}), UsageError) << name;

    Tensor wrong_name = good;
    wrong_name.name = "pixels";
    try {
      model->infer({wrong_name});
      ADD_FAILURE() << "no exception";
    } catch (const UsageError& error) {
      EXPECT_NE(std::string(error.what()).find("missing input 'input'"), std::string::npos)
          << error.what();
    }
    EXPECT_THROW(model->infer({good, good}), UsageError) << name;
    EXPECT_THROW(model->infer({}), UsageError) << name;

    const auto outputs = model->infer({good});
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].shape, (std::vector<std::int64_t>{1, 10}));
  }
}

TEST(RuntimeBackend, UnnamedSingleInputIsAccepted) {
  auto model = backend("onnx").load(tiny_model_path("tiny_mlp-onnx"), {});
  Tensor input = random_tensor(model->inputs()[0]);
  input.name.clear();
  EXPECT_EQ(model->infer({input}).size(), 1u);
}

TEST(RuntimeBackend, ThreadCountAndSkippedWarmUpAreHonoured) {
  LoadOptions options;
  options.intra_op_threads = 1;
  options.warm_up = false;
  for (const std::string name : {"tiny_resnet-onnx", "tiny_resnet-pt"}) {
    auto model = backend(name.ends_with("onnx") ? "onnx" : "torchscript")
                     .load(tiny_model_path(name), options);
    EXPECT_EQ(model->infer({random_tensor(model->inputs()[0])})[0].shape,
              (std::vector<std::int64_t>{1, 10}));
  }
}

TEST(RuntimeBackend, InputSpecsFromOptionsOverrideTheFile) {
  LoadOptions options;
  options.inputs = {TensorSpec{"input", DType::kFloat32, {-1, 64}}};  // batch of any size
  auto model = backend("torchscript").load(tiny_model_path("tiny_mlp-pt"), options);
  EXPECT_EQ(model->inputs()[0].shape, (std::vector<std::int64_t>{-1, 64}));
  TensorSpec batch_of_three{"input", DType::kFloat32, {3, 64}};
  const auto outputs = model->infer({random_tensor(batch_of_three)});
  EXPECT_EQ(outputs[0].shape, (std::vector<std::int64_t>{3, 10}));
}

TEST(RuntimeBackend, ManyHandlesOfOneModelAreIndependent) {
  std::vector<std::unique_ptr<LoadedModel>> models;
  for (int i = 0; i < 4; ++i)
    models.push_back(backend("onnx").load(tiny_model_path("tiny_dense"
                                                          "net-onnx"),
                                          {}));
  const Tensor input = random_tensor(models[0]->inputs()[0]);
  const auto expected = floats(models[0]->infer({input})[0]);
  models.erase(models.begin());
  for (auto& model : models) EXPECT_EQ(floats(model->infer({input})[0]), expected);
}

}  // namespace
}  // namespace brulee::runtime
