// KServe v2 JSON <-> tensors: shapes, dtypes, nesting, binary extension, errors, and the input
// limits (json_limits.hpp): nesting depth, document size, repeated names, lying sizes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "serve/json_limits.hpp"
#include "serve/kserve.hpp"

namespace brulee::serve {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StrEq;
using ::testing::ThrowsMessage;

// Bytes malloc hands out now (arena chunks in use + mmapped blocks); 0 under AddressSanitizer,
// whose allocator glibc does not see.
std::uint64_t heap_in_use_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Growth since `before` (0 if the heap shrank).
std::uint64_t heap_growth_since(std::uint64_t before) {
  const std::uint64_t now = heap_in_use_bytes();
  return now > before ? now - before : 0;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kHeapMeasured = false;
#else
constexpr bool kHeapMeasured = true;
#endif

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
  // FLT_MAX as usually printed (9 digits, a little above it) is FLT_MAX.
  const json largest{{"inputs",
                      {{{"name", "f"},
                        {"shape", {2}},
                        {"datatype", "FP32"},
                        {"data", {3.4028235e38, -3.4028235e38}}}}}};
  EXPECT_EQ(values_of<float>(parse_infer_request(largest.dump(), std::nullopt).inputs[0]),
            (std::vector<float>{FLT_MAX, -FLT_MAX}));
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
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {1e39}}});
  rejects({{"name", "x"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {-3.5e38}}});
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

// ---- JSON pre-scan and guarded parse (json_limits.hpp) ----

std::string nested(std::size_t depth, std::string_view inner = "1") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

std::string one_input_with(std::string_view extra_member) {
  return R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],)" +
         std::string(extra_member) + "}";
}

TEST(ServeJsonLimits, ScanCountsDepthOutsideStringsOnly) {
  EXPECT_EQ(scan_json("1").depth, 0u);
  EXPECT_EQ(scan_json("{}").depth, 1u);
  EXPECT_EQ(scan_json(R"({"a":[{"b":[]}]})").depth, 4u);
  EXPECT_EQ(scan_json(R"({"a":"[[[{{{"})").depth, 1u);
  EXPECT_EQ(scan_json(R"({"a":"\"[[[\\","b":[1]})").depth, 2u);
  EXPECT_EQ(scan_json(nested(64)).depth, 64u);
  const JsonScan deep = scan_json(nested(65));
  EXPECT_TRUE(deep.too_deep);
  EXPECT_EQ(deep.depth, 65u);
  // Unterminated strings and stray closers are left to the parser; the scan only counts.
  EXPECT_EQ(scan_json(R"(["abc)").depth, 1u);
  EXPECT_EQ(scan_json("]]]}}[").depth, 1u);
}

// Before the fix: a body nested 1,000,000 levels deep reached nlohmann's recursive copy of
// "parameters" and overflowed the stack (SIGSEGV, the whole process).
TEST(ServeJsonLimits, DeepNestingIsRefusedBeforeAnyDocument) {
  const std::string deep = one_input_with(R"("parameters":{"x":)" + nested(1'000'000) + "}");
  EXPECT_THAT([&] { parse_infer_request(deep, std::nullopt); },
              ThrowsMessage<UsageError>(HasSubstr("more than 64 levels deep")));
  // 64 levels in all are accepted (the body object and "parameters" are two of them).
  EXPECT_NO_THROW(
      parse_infer_request(one_input_with(R"("parameters":{"x":)" + nested(62) + "}"), {}));
  EXPECT_THROW(parse_infer_request(one_input_with(R"("parameters":{"x":)" + nested(63) + "}"), {}),
               UsageError);
  // The binary extension's JSON header and the repository index go through the same guard.
  const std::string header = one_input_with(R"("id":"a","parameters":{"x":)" + nested(100) + "}");
  EXPECT_THROW(parse_infer_request(header, header.size()), UsageError);
  EXPECT_THROW(parse_repository_index_request(R"({"ready":)" + nested(100'000) + "}"), UsageError);
}

TEST(ServeJsonLimits, DepthLimitIsAParameter) {
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_NO_THROW(parse_json(nested(3), limits));
  EXPECT_THROW(parse_json(nested(4), limits), UsageError);
  limits.max_depth = 100'000;  // above the ceiling the scanner tracks: the ceiling applies
  EXPECT_NO_THROW(parse_json(nested(kJsonDepthCeiling), limits));
  EXPECT_THROW(parse_json(nested(kJsonDepthCeiling + 1), limits), UsageError);
}

std::string empty_object_flood(std::size_t objects) {
  std::string body = "[";
  for (std::size_t i = 0; i < objects; ++i) body += i == 0 ? "{}" : ",{}";
  return body + "]";
}

// The document's cost is known from the text: an array of empty objects takes ~35x its text.
TEST(ServeJsonLimits, DocumentBytesBoundWhatTheParserAllocates) {
  for (const std::string& text :
       {empty_object_flood(100'000), std::string(R"({"a":)") + nested(60, "[1,2,3]") + "}",
        one_input_with(R"("id":")" + std::string(5000, 'x') +
                       R"(","parameters":{"k":[true,null,"a long string value, 33 bytes"]})"),
        "[\"" + std::string(200'000, 's') + "\",12345]"}) {
    const JsonScan scan = scan_json(text);
    const std::uint64_t before = heap_in_use_bytes();
    const nlohmann::json document = nlohmann::json::parse(text);
    const std::uint64_t used = heap_growth_since(before);
    EXPECT_GE(scan.document_bytes, used) << text.substr(0, 60);
    if (kHeapMeasured && used > (1u << 20)) {
      EXPECT_LE(scan.document_bytes, 2 * used) << text.substr(0, 60);
    }
  }
}

// Before the fix: a 32 MB body of empty objects was parsed whole (+1.09 GB per request). Now
// its cost is known from a scan that allocates nothing, and the default cap refuses it before
// any document is built.
TEST(ServeJsonLimits, EmptyObjectFloodIsCostedAndRefused) {
  const std::string flood =
      one_input_with(R"("parameters":{"f":)" + empty_object_flood(32'000'000 / 3) + "}");
  const JsonScan scan = scan_json(flood);
  EXPECT_GT(scan.document_bytes, std::uint64_t{1} << 30);
  EXPECT_GE(infer_request_bytes(flood, std::nullopt), scan.document_bytes);
  const std::uint64_t before = heap_in_use_bytes();
  EXPECT_THAT([&] { parse_infer_request(flood, std::nullopt); },
              ThrowsMessage<UsageError>(HasSubstr("per-request limit of 256.00 MiB")));
  EXPECT_LT(heap_growth_since(before), std::uint64_t{1} << 20);
  // The cap is a parameter: a small one refuses a small flood too.
  JsonLimits limits;
  limits.max_document_bytes = 1 << 20;
  EXPECT_THROW(parse_json(empty_object_flood(100'000), limits), UsageError);
  EXPECT_NO_THROW(parse_json(empty_object_flood(1'000), limits));
}

TEST(ServeJsonLimits, RepositoryIndexBody) {
  EXPECT_FALSE(parse_repository_index_request(""));
  EXPECT_FALSE(parse_repository_index_request("{}"));
  EXPECT_TRUE(parse_repository_index_request(R"({"ready": true})"));
  EXPECT_FALSE(parse_repository_index_request(R"({"ready": false})"));
  EXPECT_THROW(parse_repository_index_request(R"({"ready": 1})"), UsageError);
  EXPECT_THROW(parse_repository_index_request("[]"), UsageError);
  EXPECT_THROW(parse_repository_index_request("{"), UsageError);
  // nlohmann::json would stop at the NUL and take "{}" alone.
  EXPECT_THROW(parse_repository_index_request(std::string("{}\0[[[", 6)), UsageError);
}

// ---- inference request limits ----

json small_input() { return {{"name", "x"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {1}}}; }

// Before the fix: 10,000 copies of one output name were accepted, and the answer held the
// output 10,000 times (205 MB for a 20 KB tensor).
TEST(ServeKServe, RepeatedOrTooManyOutputsAreRefused) {
  json body{{"inputs", {small_input()}}, {"outputs", json::array()}};
  for (int i = 0; i < 10'000; ++i) body["outputs"].push_back({{"name", "y"}});
  EXPECT_THROW(parse_infer_request(body.dump(), std::nullopt), UsageError);
  body["outputs"] = {{{"name", "y"}}, {{"name", "z"}}, {{"name", "y"}}};
  EXPECT_THAT([&] { parse_infer_request(body.dump(), std::nullopt); },
              ThrowsMessage<UsageError>(StrEq("output y appears more than once")));
  body["outputs"] = json::array();
  for (int i = 0; i < 257; ++i) body["outputs"].push_back({{"name", "y" + std::to_string(i)}});
  EXPECT_THROW(parse_infer_request(body.dump(), std::nullopt), UsageError);
  body["outputs"].erase(256);
  EXPECT_EQ(parse_infer_request(body.dump(), std::nullopt).outputs.size(), 256u);
  InferLimits limits;
  limits.max_outputs = 2;
  body["outputs"] = {{{"name", "y"}}, {{"name", "z"}}, {{"name", "w"}}};
  EXPECT_THROW(parse_infer_request(body.dump(), std::nullopt, limits), UsageError);
  const json twice{{"inputs", {small_input(), small_input()}}};
  EXPECT_THROW(parse_infer_request(twice.dump(), std::nullopt), UsageError);
}

runtime::Tensor int32_tensor(std::string name, std::vector<std::int32_t> values) {
  runtime::Tensor tensor{
      std::move(name), runtime::DType::kInt32, {static_cast<std::int64_t>(values.size())}, {}};
  tensor.data.resize(values.size() * 4);
  std::memcpy(tensor.data.data(), values.data(), tensor.data.size());
  return tensor;
}

// KServe's binary extension: an output's own binary_data decides, true or false; the request's
// binary_data_output applies to outputs that say nothing. Before the fix binary_data: false
// was ignored under binary_data_output: true.
TEST(ServeKServe, PerOutputBinaryDataOverridesTheRequestFlag) {
  const json body{
      {"inputs", {small_input()}},
      {"parameters", {{"binary_data_output", true}}},
      {"outputs", {{{"name", "a"}, {"parameters", {{"binary_data", false}}}}, {{"name", "b"}}}}};
  const InferRequest request = parse_infer_request(body.dump(), std::nullopt);
  ASSERT_EQ(request.outputs.size(), 2u);
  EXPECT_FALSE(binary_output(request, request.outputs[0]));
  EXPECT_TRUE(binary_output(request, request.outputs[1]));
  const std::vector<runtime::Tensor> outputs{int32_tensor("a", {1, 2}), int32_tensor("b", {3})};
  const EncodedResponse encoded = encode_infer_response("m", "1", request, outputs);
  ASSERT_TRUE(encoded.json_bytes);
  const json answer = json::parse(encoded.body.substr(0, *encoded.json_bytes));
  EXPECT_EQ(answer["outputs"][0]["data"], json({1, 2}));
  EXPECT_FALSE(answer["outputs"][0].contains("parameters"));
  EXPECT_EQ(answer["outputs"][1]["parameters"]["binary_data_size"], 4);
  EXPECT_EQ(encoded.body.size(), *encoded.json_bytes + 4);

  // Per-output true works without the request-level flag; other outputs stay JSON.
  const json alone{
      {"inputs", {small_input()}},
      {"outputs", {{{"name", "a"}}, {{"name", "b"}, {"parameters", {{"binary_data", true}}}}}}};
  const InferRequest second = parse_infer_request(alone.dump(), std::nullopt);
  EXPECT_FALSE(binary_output(second, second.outputs[0]));
  EXPECT_TRUE(binary_output(second, second.outputs[1]));
  const json bad_flag{{"inputs", {small_input()}},
                      {"outputs", {{{"name", "a"}, {"parameters", {{"binary_data", "yes"}}}}}}};
  EXPECT_THROW(parse_infer_request(bad_flag.dump(), std::nullopt), UsageError);
}

// Declared sizes are checked against the bytes present before anything is allocated (this held
// before the fix too; the test pins it): a lying binary_data_size, Inference-Header-Content-
// Length or shape is a 400 and allocates nothing of the size it declares.
TEST(ServeKServe, LyingSizesAndHugeShapesAllocateNothing) {
  const auto binary_body = [](json shape, std::uint64_t declared, std::size_t sent) {
    const json header{{"inputs",
                       {{{"name", "x"},
                         {"shape", shape},
                         {"datatype", "FP32"},
                         {"parameters", {{"binary_data_size", declared}}}}}}};
    std::string body = header.dump();
    const std::size_t json_bytes = body.size();
    body.append(sent, '\0');
    return std::make_pair(body, json_bytes);
  };
  const auto refused = [](const std::string& body, std::optional<std::size_t> json_bytes) {
    const std::uint64_t before = heap_in_use_bytes();
    EXPECT_THROW(parse_infer_request(body, json_bytes), UsageError);
    EXPECT_LT(heap_growth_since(before), std::uint64_t{1} << 20);
  };
  // 4 TiB declared by shape and size, 8 bytes sent.
  auto [huge, huge_json] = binary_body({1 << 20, 1 << 20}, std::uint64_t{4} << 40, 8);
  refused(huge, huge_json);
  // A size that matches neither the shape nor the bytes; sizes beyond 2^63.
  auto [lying, lying_json] = binary_body({2}, 16, 8);
  refused(lying, lying_json);
  auto [overflow, overflow_json] = binary_body({2}, std::numeric_limits<std::uint64_t>::max(), 8);
  refused(overflow, overflow_json);
  refused(binary_body({std::numeric_limits<std::int64_t>::max(), 2}, 8, 8).first, lying_json);
  // Inference-Header-Content-Length past the body, or cutting the JSON short.
  auto [good, good_json] = binary_body({2}, 8, 8);
  EXPECT_NO_THROW(parse_infer_request(good, good_json));
  refused(good, good.size() + 1);
  refused(good, good_json - 1);
  refused(good, std::numeric_limits<std::size_t>::max());
  // Shape beyond the JSON data: 2^40 elements declared, one sent; too many dimensions.
  refused(
      json{{"inputs",
            {{{"name", "x"}, {"shape", {1 << 20, 1 << 20}}, {"datatype", "FP64"}, {"data", {1}}}}}}
          .dump(),
      std::nullopt);
  refused(json{{"inputs",
                {{{"name", "x"},
                  {"shape", std::vector<int>(33, 1)},
                  {"datatype", "FP32"},
                  {"data", {1}}}}}}
              .dump(),
          std::nullopt);
}

TEST(ServeKServe, InferenceHeaderLength) {
  EXPECT_EQ(parse_inference_header_length("0", 0), 0u);
  EXPECT_EQ(parse_inference_header_length("42", 100), 42u);
  EXPECT_THROW(parse_inference_header_length("101", 100), UsageError);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "99999999999999999999999"}) {
    EXPECT_THROW(parse_inference_header_length(bad, 100), UsageError) << bad;
  }
}

TEST(ServeKServe, RequestBytesBoundTheParse) {
  // The bound covers the document (tensor data priced as tensor bytes) and what is copied out of
  // it; binary tensors count in full.
  const json body{
      {"inputs", {{{"name", "x"}, {"shape", {3}}, {"datatype", "FP64"}, {"data", {1, 2, 3}}}}}};
  const std::string text = body.dump();
  const JsonScan scan = scan_json(text, JsonLimits{}.max_depth, /*tensor_data=*/true);
  EXPECT_EQ(scan.data_scalars, 3u);
  EXPECT_GE(infer_request_bytes(text, std::nullopt), scan.document_bytes);
  EXPECT_GE(infer_request_bytes(text + std::string(1000, 'b'), text.size()),
            scan.document_bytes + 1000);
}

// Tensor data is read into the tensor, never into a JSON document: 16 bytes a number as a
// document value (three times that while its array grows), against 4 as FP32. The bound the
// server charges before parsing says so, and so does the heap.
TEST(ServeKServe, TensorDataIsReadStraightIntoTheTensor) {
  constexpr std::size_t kCount = 150528;  // 1x3x224x224
  std::string text = R"({"inputs":[{"name":"x","shape":[1,3,224,224],"datatype":"FP32","data":[)";
  for (std::size_t i = 0; i < kCount; ++i) text += i == 0 ? "0" : ",0";
  text += "]}]}";
  const std::uint64_t bound = infer_request_bytes(text, std::nullopt);
  EXPECT_GE(bound, kCount * 4);
  EXPECT_LE(bound, kCount * 8 + (64u << 10));  // a document would be 7-22 MB
  const std::uint64_t before = heap_in_use_bytes();
  const InferRequest request = parse_infer_request(text, std::nullopt);
  if (kHeapMeasured) {
    EXPECT_LE(heap_growth_since(before), bound);
  }
  ASSERT_EQ(request.inputs.size(), 1u);
  EXPECT_EQ(request.inputs[0].data.size(), kCount * 4);
  const std::vector<float> values = values_of<float>(request.inputs[0]);
  EXPECT_TRUE(std::all_of(values.begin(), values.end(), [](float v) { return v == 0; }));
}

// "data" is found in each input whatever the order of its keys (a client may send it before
// the shape and datatype that size it), as a scalar, nested, or under an escaped key; a "data"
// anywhere else is an ordinary member of the document.
TEST(ServeKServe, TensorDataIsFoundWhereverItStands) {
  const std::string text = R"({"parameters":{"data":[1,2],"k":{"data":7}},"inputs":[
      {"data":[[1,2],[3,4]],"datatype":"INT32","shape":[2,2],"name":"a",
       "parameters":{"data":"x"}},
      {"name":"b","d\u0061ta":5,"shape":[1],"datatype":"FP64"},
      {"name":"c","shape":[2],"datatype":"UINT8","data":[[7],[[8]]]}],
      "outputs":[{"name":"a","data":[1]}]})";
  const InferRequest request = parse_infer_request(text, std::nullopt);
  ASSERT_EQ(request.inputs.size(), 3u);
  EXPECT_EQ(values_of<std::int32_t>(request.inputs[0]), (std::vector<std::int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(values_of<double>(request.inputs[1]), (std::vector<double>{5}));
  EXPECT_EQ(values_of<std::uint8_t>(request.inputs[2]), (std::vector<std::uint8_t>{7, 8}));
  EXPECT_EQ(request.parameters, json::parse(R"({"data":[1,2],"k":{"data":7}})"));
  ASSERT_EQ(request.outputs.size(), 1u);
  EXPECT_EQ(request.outputs[0].name, "a");
}

TEST(ServeKServe, TensorDataErrorsNameTheirPlace) {
  const auto message = [](const std::string& text) -> std::string {
    try {
      parse_infer_request(text, std::nullopt);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "accepted";
  };
  const std::string head = R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":)";
  EXPECT_THAT(message(head + "[1,2]}]}"), HasSubstr("shape holds 3 elements but data has 2"));
  EXPECT_THAT(message(head + "[1,2,[3,4]]}]}"), HasSubstr("data has 4"));
  EXPECT_THAT(message(head + R"([1,{"a":[1,2,3]},3]}]})"), HasSubstr("element 1 is not a number"));
  EXPECT_THAT(message(head + R"([1,2,"3"]}]})"), HasSubstr("element 2 is not a number"));
  EXPECT_THAT(message(head + R"([1,2,3],"data":[1,2,3]}]})"), HasSubstr("\"data\" twice"));
  EXPECT_THAT(message(R"({"inputs":[],"inputs":[]})"), HasSubstr("\"inputs\" twice"));
  EXPECT_THAT(message(head + "[1,2,3]"), HasSubstr("not valid JSON"));
  std::string deep = head;
  for (std::size_t i = 0; i < kMaxTensorRank + 1; ++i) deep += '[';
  deep += "1";
  for (std::size_t i = 0; i < kMaxTensorRank + 1; ++i) deep += ']';
  InferLimits limits;
  limits.json.max_depth = 128;
  try {
    parse_infer_request(deep + "}]}", std::nullopt, limits);
    ADD_FAILURE() << "accepted";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("nested too deeply"));
  }
  // A binary input's "data" is not read: its tensor comes from the binary part.
  const std::string header =
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[[[{}]]],)"
      R"("parameters":{"binary_data_size":1}}]})";
  const InferRequest request = parse_infer_request(header + "\x05", header.size());
  EXPECT_EQ(values_of<std::uint8_t>(request.inputs[0]), (std::vector<std::uint8_t>{5}));
}

// ---- response size ----

template <typename T>
runtime::Tensor tensor_of(std::string name, runtime::DType dtype, std::vector<T> values) {
  runtime::Tensor tensor{std::move(name), dtype, {static_cast<std::int64_t>(values.size())}, {}};
  tensor.data.resize(values.size() * sizeof(T));
  std::memcpy(tensor.data.data(), values.data(), tensor.data.size());
  return tensor;
}

// The bound is known before encoding, the body never outgrows it (its allocation is the bound),
// the JSON part parses back to the same values, for the longest texts of every datatype and
// names that need escaping or are not UTF-8.
TEST(ServeKServe, ResponseBytesBoundTheEncodedBody) {
  using runtime::DType;
  const double dmin = std::numeric_limits<double>::denorm_min();
  std::vector<runtime::Tensor> outputs{
      tensor_of<float>("f\"\\\n\x01", DType::kFloat32,
                       {-FLT_MAX, FLT_MIN, -1.1754942e-38f, 0.1f, -0.0f, 2.0f, NAN, INFINITY}),
      tensor_of<double>("d\xff\xc3", DType::kFloat64,
                        {-2.2250738585072014e-308, -1.2345678901234567e+21, dmin, -DBL_MAX, 1e16,
                         123456789012345678.0}),
      tensor_of<std::int64_t>("i", DType::kInt64, {std::numeric_limits<std::int64_t>::min(), 0}),
      tensor_of<std::int32_t>("j", DType::kInt32, {std::numeric_limits<std::int32_t>::min()}),
      tensor_of<std::uint8_t>("u", DType::kUInt8, {255}),
      tensor_of<std::int8_t>("s", DType::kInt8, {-128}),
      tensor_of<std::uint8_t>("b", DType::kBool, {0, 1}),
  };
  outputs[0].shape = {2, 4};
  InferRequest request;
  request.id = "id \x7f\"";
  const json parameters{{"hit", true}, {"exec_s", 0.25}};
  for (bool binary : {false, true}) {
    request.binary_outputs = binary;
    const std::uint64_t bound = infer_response_bytes("m\t", "1", request, outputs, parameters);
    const EncodedResponse encoded = encode_infer_response("m\t", "1", request, outputs, parameters);
    EXPECT_LE(encoded.body.size(), bound);
    EXPECT_LE(encoded.body.capacity(), bound);
    const std::size_t json_size = encoded.json_bytes.value_or(encoded.body.size());
    const json answer = json::parse(encoded.body.substr(0, json_size));
    EXPECT_EQ(answer["model_name"], "m\t");
    EXPECT_EQ(answer["id"], "id \x7f\"");
    EXPECT_EQ(answer["parameters"], parameters);
    EXPECT_EQ(answer["outputs"][0]["name"], "f\"\\\n\x01");
    EXPECT_EQ(answer["outputs"][1]["name"], "d\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(answer["outputs"][0]["shape"], json({2, 4}));
    if (binary) {
      EXPECT_EQ(answer["outputs"][0]["parameters"]["binary_data_size"], 32);
      continue;
    }
    const json& floats = answer["outputs"][0]["data"];
    EXPECT_EQ(floats[0].get<double>(), static_cast<double>(-FLT_MAX));
    EXPECT_EQ(floats[3].get<double>(), static_cast<double>(0.1f));
    EXPECT_TRUE(floats[5].is_number_float());  // 2.0 is written "2.0"
    EXPECT_TRUE(floats[6].is_null());
    EXPECT_TRUE(floats[7].is_null());
    const json& doubles = answer["outputs"][1]["data"];
    EXPECT_EQ(doubles[1].get<double>(), -1.2345678901234567e+21);
    EXPECT_EQ(doubles[2].get<double>(), dmin);
    EXPECT_EQ(answer["outputs"][2]["data"][0].get<std::int64_t>(),
              std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(answer["outputs"][6]["data"], json({false, true}));
  }
  // A name the model does not have: refused by the estimate already, before encoding.
  request.outputs = {{"nope", std::nullopt}};
  EXPECT_THROW(infer_response_bytes("m", "1", request, outputs), UsageError);
}
}  // namespace
}  // namespace brulee::serve
