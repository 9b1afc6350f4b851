#pragma once
// Streams a text file line by line in large blocks (no iostreams, no whole-file copy).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace brulee::workload::detail {

class LineReader {
 public:
  // Throws InputError (missing file, empty file).
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  // Next line without its "\n" or "\r\n"; valid until the next call. False at the end.
  bool next(std::string_view& line);
  std::uint64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  void fill();
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint64_t line_number_ = 0;
};

}  // namespace brulee::workload::detail
