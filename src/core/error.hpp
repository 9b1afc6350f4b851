#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace brulee {

// Bad input or usage: the CLI turns it into exit code 2 with one line on stderr,
// the server into a 4xx answer.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A request the cache cannot satisfy: a model larger than the whole capacity, or a need that
// pinned models make impossible to cover.
class CacheError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace brulee

namespace brulee {

// Bad content in an input file: names the file and, where known, the line (1-based).
// A UsageError, so the CLI exits 2 with "file:line: message".
class InputError : public UsageError {
 public:
  InputError(const std::string& file, std::uint64_t line, const std::string& message)
      : UsageError(file + (line ? ":" + std::to_string(line) : std::string()) + ": " + message),
        file_(file),
        line_(line) {}
  const std::string& file() const { return file_; }
  std::uint64_t line() const { return line_; }

 private:
  std::string file_;
  std::uint64_t line_;
};

}  // namespace brulee
