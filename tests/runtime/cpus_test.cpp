// CPU lists and thread placement (runtime/cpus.hpp): the parser on hand-made and random lists,
// and a thread really restricted to the CPUs asked for.
#include "runtime/cpus.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace brulee::runtime {
namespace {

TEST(CpuList, ParsesNumbersRangesAndMixtures) {
  EXPECT_EQ(parse_cpu_list("0"), (std::vector<int>{0}));
  EXPECT_EQ(parse_cpu_list("2-4"), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(parse_cpu_list("5,0,2-3"), (std::vector<int>{0, 2, 3, 5}));
  EXPECT_EQ(parse_cpu_list("1,1,0-1"), (std::vector<int>{0, 1}));  // each once
  EXPECT_EQ(parse_cpu_list("1023"), (std::vector<int>{1023}));
  EXPECT_EQ(parse_cpu_list("3-3"), (std::vector<int>{3}));
}

TEST(CpuList, RefusesWhatIsNotAList) {
  for (const char* bad : {"", ",", "0,", ",0", "a", "0x1", "-1", "1-", "-", "3-1", "1024", "0-1024",
                          "1 ", " 1", "1,,2", "1--2", "+1", "99999999999999999999", "1-2-3"}) {
    EXPECT_THROW(parse_cpu_list(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

TEST(CpuList, FormatsRangesBack) {
  EXPECT_EQ(format_cpu_list({}), "");
  EXPECT_EQ(format_cpu_list({0}), "0");
  EXPECT_EQ(format_cpu_list({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
}

// Random strings over the list's alphabet: each is refused with invalid_argument or gives CPUs
// in ascending order, each once, below 1024, whose formatted list parses to the same CPUs.
TEST(CpuList, RandomTextIsRefusedOrRoundTrips) {
  std::mt19937 rng(7);
  const std::string alphabet = "0123456789,- x";
  std::uniform_int_distribution<std::size_t> length(0, 24), pick(0, alphabet.size() - 1);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text(length(rng), ' ');
    for (char& c : text) c = alphabet[pick(rng)];
    std::vector<int> cpus;
    try {
      cpus = parse_cpu_list(text);
    } catch (const std::invalid_argument&) {
      continue;
    }
    ++parsed;
    ASSERT_FALSE(cpus.empty()) << text;
    EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end())) << text;
    EXPECT_EQ(std::adjacent_find(cpus.begin(), cpus.end()), cpus.end()) << text;
    EXPECT_GE(cpus.front(), 0) << text;
    EXPECT_LT(cpus.back(), 1024) << text;
    EXPECT_EQ(parse_cpu_list(format_cpu_list(cpus)), cpus) << text;
  }
  EXPECT_GT(parsed, 100);  // the alphabet makes valid lists often enough to check them
}

TEST(CpuPlacement, AThreadRunsOnlyOnTheCpusItWasGiven) {
  const std::vector<int> allowed = allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  std::vector<int> seen;
  std::thread worker([&] {
    if (place_this_thread("brulee-test", {allowed.back()})) seen = thread_cpus();
  });
  worker.join();
  EXPECT_EQ(seen, (std::vector<int>{allowed.back()}));
  EXPECT_EQ(allowed_cpus(), allowed);  // the process and the calling thread are unchanged
  EXPECT_EQ(thread_cpus(), allowed);
}

TEST(CpuPlacement, CpusOutsideTheProcessAreRefusedByName) {
  const std::vector<int> allowed = allowed_cpus();
  int outside = 0;
  while (std::binary_search(allowed.begin(), allowed.end(), outside)) ++outside;
  ASSERT_LT(outside, 1024);
  try {
    check_cpus_allowed({outside}, "--exec-cpus");
    FAIL() << "CPU " << outside << " was accepted";
  } catch (const std::invalid_argument& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("--exec-cpus"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(outside)), std::string::npos) << what;
  }
  EXPECT_NO_THROW(check_cpus_allowed(allowed, "--exec-cpus"));
}

}  // namespace
}  // namespace brulee::runtime
