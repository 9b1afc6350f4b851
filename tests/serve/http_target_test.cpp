// Request targets split for routing (src/serve/http_target.hpp).
#include <gtest/gtest.h>

#include "serve/http_target.hpp"

namespace brulee::serve {
namespace {

std::vector<std::string> segments_of(std::string_view target) {
  std::string error;
  auto parsed = parse_target(target, error);
  EXPECT_TRUE(parsed) << target << ": " << error;
  return parsed ? parsed->segments : std::vector<std::string>{};
}

TEST(HttpTarget, SplitsDecodesAndIgnoresOneTrailingSlash) {
  EXPECT_EQ(segments_of("/v2"), (std::vector<std::string>{"v2"}));
  EXPECT_EQ(segments_of("/v2/"), (std::vector<std::string>{"v2"}));
  EXPECT_EQ(segments_of("/v2/models/a%20b/infer"),
            (std::vector<std::string>{"v2", "models", "a b", "infer"}));
  EXPECT_EQ(segments_of("/v2//x"), (std::vector<std::string>{"v2", "", "x"}));
  EXPECT_EQ(segments_of("/"), (std::vector<std::string>{""}));
  std::string error;
  const auto with_query = parse_target("/v2/models/m/classify?top_k=3&x", error);
  ASSERT_TRUE(with_query);
  EXPECT_EQ(with_query->query, "top_k=3&x");
  EXPECT_EQ(query_value(with_query->query, "top_k"), "3");
  EXPECT_EQ(query_value(with_query->query, "x"), "");
  EXPECT_FALSE(query_value(with_query->query, "y"));
  EXPECT_FALSE(query_value("", "top_k"));
}

TEST(HttpTarget, RefusesWhatCouldEscapeOrConfuse) {
  for (const char* bad :
       {"v2", "", "?x", "/v2/models/..%2Fetc/infer", "/v2/models/m%00/infer", "/v2/models/m%2",
        "/v2/models/m%zz", "/%", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"}) {
    std::string error;
    EXPECT_FALSE(parse_target(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  // ".." is only a name here: it never reaches the file system (models are looked up by name).
  EXPECT_EQ(segments_of("/v2/models/%2e%2e/infer"),
            (std::vector<std::string>{"v2", "models", "..", "infer"}));
}

}  // namespace
}  // namespace brulee::serve
