#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/units.hpp"

using namespace brulee;

TEST(Units, ParsesPlainAndSuffixedSizes) {
  EXPECT_EQ(parse_bytes("1048576"), 1048576u);
  EXPECT_EQ(parse_bytes("512MiB"), 512ull << 20);
  EXPECT_EQ(parse_bytes("4GiB"), 4ull << 30);
  EXPECT_EQ(parse_bytes("4gib"), 4ull << 30);
  EXPECT_EQ(parse_bytes("1.5GiB"), 3ull << 29);
  EXPECT_EQ(parse_bytes("2GB"), 2000000000u);
  EXPECT_EQ(parse_bytes(" 10 KiB "), 10240u);
  EXPECT_EQ(parse_bytes("1e6"), 1000000u);
}

TEST(Units, ParsesPercentagesAgainstATotal) {
  const SizeSpec half = parse_size("50%");
  ASSERT_TRUE(half.fraction.has_value());
  EXPECT_DOUBLE_EQ(*half.fraction, 0.5);
  EXPECT_EQ(half.resolve(1000), 500u);
  EXPECT_EQ(parse_size("300MiB").resolve(1), 300ull << 20);
}

TEST(Units, RejectsBadSizesWithTheText) {
  for (const char* bad : {"", "abc", "-5", "12XB", "GiB", "1e400", "nan"}) {
    try {
      parse_bytes(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(parse_bytes("50%"), UsageError);
}

TEST(Units, FormatsBytes) {
  EXPECT_EQ(format_bytes(17), "17 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
}
