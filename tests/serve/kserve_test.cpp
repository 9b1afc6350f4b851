// KServe v2 JSON <-> tensors: shapes, dtypes, nesting, binary extension, errors.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.hpp"
#include "serve/kserve.hpp"

namespace brulee::serve {
namespace {

using nlohmann::json;

template <typename T>
std::vector<T> values_of(const runtime::Tensor& tensor) {
  std::vector<T> out(tensor.data.size() / sizeof(T));
  std::memcpy(out.data(), tensor.data.data(), tensor.data.size());
  return out;
}

TEST(ServeKServe, ParsesEveryDatatypeFlatOrNested) {
  const json body{
      {"id", "a"},
      {"inputs",
       {{{"name", "f"}, {"shape", {2, 2}}, {"datatype", "FP32"}, {"data", {{1.5, 2}, {3, 4}}}},
        {{"name", "d"}, {"shape", {1}}, {"datatype", "FP64"}, {"data", {0.25}}},
        {{"name", "i"}, {"shape", {3}}, {"datatype", "INT64"}, {"data", {-1, 0, 9007199254740993}}},
        {{"name", "j"}, {"shape", {1}}, {"datatype", "INT32"}, {"data", {-7}}},
        {{"name", "u"}, {"shape", {2}}, {"datatype", "UINT8"}, {"data", {0, 255}}},
        {{"name", "s"}, {"shape", {1}}, {"datatype", "INT8"}, {"data", {-128}}},
        {{"name", "b"}, {"shape", {2}}, {"datatype", "BOOL"}, {"data", {true, false}}}}}};
  const InferRequest request = parse_infer_request(body.dump(), std::nullopt);
  ASSERT_EQ(request.inputs.size(), 7u);
  EXPECT_EQ(request.id, "a");
  EXPECT_EQ(request.inputs[0].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(values_of<float>(request.inputs[0]), (std::vector<float>{1.5f, 2, 3, 4}));
  EXPECT_EQ(values_of<double>(request.inputs[1]), (std::vector<double>{0.25}));
  EXPECT_EQ(values_of<std::int64_t>(request.inputs[2]),
            (std::vector<std::int64_t>{-1, 0, 9007199254740993}));
  EXPECT_EQ(values_of<std::int32_t>(request.inputs[3]), (std::vector<std::int32_t>{-7}));
  EXPECT_EQ(values_of<std::uint8_t>(request.inputs[4]), (std::vector<std::uint8_t>{0, 255}));
  EXPECT_EQ(values_of<std::int8_t>(request.inputs[5]), (std::vector<std::int8_t>{-128}));
  EXPECT_EQ(values_of<std::uint8_t>(request.inputs[6]), (std::vector<std::uint8_t>{1, 0}));
}

TEST(ServeKServe, RejectsBadTensors) {
  auto rejects = [](const json& input) {
    const json body{{"inputs", {input}}};
    EXPECT_THROW(parse_infer_request(body.dump(), std::nullopt), UsageError) << input.dump();
  };
  rejects({{"name", "x"}, {"shape", {2}}, {"datatype", "FP32"}, {"data", {1}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {"a"}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "INT32"}, {"data", {1.5}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "UINT8"}, {"data", {256}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "INT8"}, {"data", {-129}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "BOOL"}, {"data", {1}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "BYTES"}, {"data", {"a"}}});
  rejects({{"name", "x"}, {"shape", {-1}}, {"datatype", "FP32"}, {"data", {1}}});
  rejects({{"name", "x"}, {"shape", {1u << 31, 1u << 31}}, {"datatype", "FP32"}, {"data", {1}}});
  rejects({{"name", "x"}, {"datatype", "FP32"}, {"data", {1}}});
  rejects({{"shape", {1}}, {"datatype", "FP32"}, {"data", {1}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "FP32"}});
  EXPECT_THROW(parse_infer_request("[1,2]", std::nullopt), UsageError);
  EXPECT_THROW(parse_infer_request("{\"inputs\": []}", std::nullopt), UsageError);
  EXPECT_THROW(parse_infer_request("{\"inputs\": ", std::nullopt), UsageError);
  EXPECT_THROW(parse_infer_request("{}", std::size_t{5}), UsageError);  // header beyond body
}

TEST(ServeKServe, BinaryInputsMustMatchTheirShape) {
  const json header{{"inputs",
                     {{{"name", "x"},
                       {"shape", {2}},
                       {"datatype", "INT32"},
                       {"parameters", {{"binary_data_size", 8}}}}}}};
  std::string body = header.dump();
  const std::size_t json_bytes = body.size();
  const std::int32_t values[2] = {7, -9};
  body.append(reinterpret_cast<const char*>(values), 8);
  const InferRequest request = parse_infer_request(body, json_bytes);
  EXPECT_EQ(values_of<std::int32_t>(request.inputs[0]), (std::vector<std::int32_t>{7, -9}));
  EXPECT_THROW(parse_infer_request(body.substr(0, body.size() - 1), json_bytes), UsageError);
  EXPECT_THROW(parse_infer_request(body + "extra", json_bytes), UsageError);
  EXPECT_THROW(parse_infer_request(header.dump(), std::nullopt), UsageError);
}

TEST(ServeKServe, EncodesResponseShape) {
  InferRequest request;
  request.id = "r1";
  runtime::Tensor out{"y", runtime::DType::kInt64, {2}, {}};
  const std::int64_t values[2] = {5, -6};
  out.data.resize(16);
  std::memcpy(out.data.data(), values, 16);
  const EncodedResponse encoded = encode_infer_response("m", "3", request, {out});
  EXPECT_FALSE(encoded.json_bytes);
  const json body = json::parse(encoded.body);
  EXPECT_EQ(body,
            json({{"model_name", "m"},
                  {"model_version", "3"},
                  {"id", "r1"},
                  {"outputs",
                   {{{"name", "y"}, {"datatype", "INT64"}, {"shape", {2}}, {"data", {5, -6}}}}}}));
  EXPECT_EQ(json::parse(error_json("bad \"x\"")), json({{"error", "bad \"x\""}}));
}

}  // namespace
}  // namespace brulee::serve
