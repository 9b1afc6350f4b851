#include "serve/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace brulee::serve {

LogFormat parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  throw UsageError("--log-format must be text or json, not \"" + std::string(text) + "\"");
}

void Logger::log(std::string_view level, std::string_view message, const Fields& fields) {
  if (!enabled_) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[96];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  std::string line;
  if (format_ == LogFormat::kJson) {
    nlohmann::json record{
        {"time", stamp}, {"level", std::string(level)}, {"msg", std::string(message)}};
    for (const auto& [key, value] : fields) record[key] = value;
    line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = std::string(stamp) + " " + std::string(level) + " " + std::string(message);
    for (const auto& [key, value] : fields) {
      line += " " + key + "=";
      line += value.find(' ') == std::string::npos ? value : "\"" + value + "\"";
    }
  }
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace brulee::serve
