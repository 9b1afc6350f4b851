#include "core/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.hpp"

namespace brulee {

std::uint64_t SizeSpec::resolve(std::uint64_t total_bytes) const {
  if (!fraction) return bytes;
  return static_cast<std::uint64_t>(std::floor(*fraction * static_cast<double>(total_bytes)));
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

}  // namespace

SizeSpec parse_size(std::string_view raw) {
  const std::string_view text = trim(raw);
  const auto bad = [&](const char* why) {
    return UsageError("invalid size '" + std::string(raw) + "': " + why +
                      " (use bytes, a suffix such as 512MiB or 4GiB, or a percentage such as 50%)");
  };
  if (text.empty()) throw bad("empty");
  double number = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || !std::isfinite(number)) throw bad("no number");
  if (number < 0) throw bad("negative");
  const std::string suffix = lower(trim(std::string_view(end, text.data() + text.size() - end)));
  SizeSpec spec;
  if (suffix == "%") {
    if (number > 100.0 * 1000) throw bad("percentage too large");
    spec.fraction = number / 100.0;
    return spec;
  }
  double scale = 0;
  static const struct {
    const char* name;
    double scale;
  } kSuffixes[] = {
      {"", 1.0},
      {"b", 1.0},
      {"k", 1e3},
      {"kb", 1e3},
      {"kib", 1024.0},
      {"m", 1e6},
      {"mb", 1e6},
      {"mib", 1048576.0},
      {"g", 1e9},
      {"gb", 1e9},
      {"gib", 1073741824.0},
      {"t", 1e12},
      {"tb", 1e12},
      {"tib", 1099511627776.0},
  };
  for (const auto& entry : kSuffixes) {
    if (suffix == entry.name) scale = entry.scale;
  }
  if (scale == 0) throw bad("unknown unit");
  const double value = std::round(number * scale);
  if (value >= 1.8e19) throw bad("too large");
  spec.bytes = static_cast<std::uint64_t>(value);
  return spec;
}

std::uint64_t parse_bytes(std::string_view text) {
  const SizeSpec spec = parse_size(text);
  if (spec.fraction) {
    throw UsageError("invalid size '" + std::string(text) + "': a percentage is not allowed here");
  }
  return spec.bytes;
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char text[48];
  if (unit == 0) {
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text, sizeof text, "%.2f %s", value, kUnits[unit]);
  }
  return text;
}

}  // namespace brulee
