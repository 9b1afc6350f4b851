#pragma once
// A private temporary folder for one test, removed with everything in it at the end, and the
// small file helpers tests use with it. Shared by the test areas (tests/CMakeLists.txt:
// brulee_test_support).
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace brulee::test_support {

// Writes `bytes` to `path`, creating its folder.
inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The whole file; empty if it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "brulee_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the folder, as a string (for command lines).
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `content` to `name` inside the folder; returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    write_file(path_ / name, content);
    return file(name);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace brulee::test_support
