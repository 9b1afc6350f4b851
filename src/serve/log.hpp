#pragma once
// The server's log on stderr: one line per event, readable by default, JSON lines on request.
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brulee::serve {

enum class LogFormat { kText, kJson };
LogFormat parse_log_format(std::string_view text);  // "text" | "json"; throws UsageError

class Logger {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  explicit Logger(LogFormat format = LogFormat::kText, bool enabled = true)
      : format_(format), enabled_(enabled) {}
  // level: "info", "warn", "error". Fields are printed as key=value (text) or JSON members.
  void log(std::string_view level, std::string_view message, const Fields& fields = {});

 private:
  LogFormat format_;
  bool enabled_;
  std::mutex mutex_;
};

}  // namespace brulee::serve
