#pragma once
// Parsing and printing of sizes ("512MiB", "4GiB", "1e9", "50%") and durations.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace brulee {

// A memory size as given by a user: absolute bytes, or a fraction of a total footprint.
struct SizeSpec {
  std::uint64_t bytes = 0;
  std::optional<double> fraction;  // set for "50%": 0.5
  // Resolve against a total footprint (bytes of every model in the catalog or repository).
  std::uint64_t resolve(std::uint64_t total_bytes) const;
};

// Accepts plain bytes ("1048576"), decimal or binary suffixes (KB, MB, GB, KiB, MiB, GiB, TiB,
// case-insensitive, optional "B"), fractions ("1.5GiB") and percentages ("50%").
// Throws UsageError naming the text on anything else.
SizeSpec parse_size(std::string_view text);
std::uint64_t parse_bytes(std::string_view text);  // as parse_size, percentages refused

// "1.50 GiB", "312.0 MiB", "17 B".
std::string format_bytes(std::uint64_t bytes);

}  // namespace brulee
