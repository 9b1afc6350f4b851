#include "workload/line_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace brulee::workload::detail {

LineReader::LineReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw InputError(
        path, 0,
        errno == ENOENT ? "no such file" : std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd_, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd_);
    throw InputError(path, 0, "is a directory");
  }
  capacity_ = std::size_t{4} << 20;
  buffer_ = std::make_unique<char[]>(capacity_);
  fill();
  if (end_ == 0) {
    ::close(fd_);
    throw InputError(path, 0, "empty file");
  }
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

void LineReader::fill() {
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (!eof_ && end_ < capacity_) {
    const ssize_t got = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw InputError(path_, line_number_, std::string("read failed: ") + std::strerror(errno));
    }
    if (got == 0) eof_ = true;
    end_ += static_cast<std::size_t>(got);
  }
}

bool LineReader::next(std::string_view& line) {
  for (;;) {
    char* start = buffer_.get() + begin_;
    auto* newline = static_cast<char*>(std::memchr(start, '\n', end_ - begin_));
    if (newline != nullptr || (eof_ && begin_ < end_)) {
      const std::size_t length =
          newline ? static_cast<std::size_t>(newline - start) : end_ - begin_;
      begin_ += newline ? length + 1 : length;
      line = std::string_view(start, length);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      ++line_number_;
      return true;
    }
    if (eof_) return false;
    if (begin_ == 0 && end_ == capacity_) {
      throw InputError(path_, line_number_ + 1,
                       "line longer than " + std::to_string(capacity_) + " bytes");
    }
    fill();
  }
}

}  // namespace brulee::workload::detail
