// Test helpers for the loader tests: a scratch directory, whole-file read/write, and the message of
// the rxlm::Error a call throws (so tests can check it names the file and the tensor or key).
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "rxlm/core/error.h"

namespace rxlm::testing {

inline std::filesystem::path fixtures_dir() { return std::filesystem::path(RXLM_SOURCE_DIR) / "tests" / "fixtures"; }
inline std::filesystem::path tiny_llama_dir() { return fixtures_dir() / "tiny_llama"; }

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rxlm-io-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Copies a fixture directory (non-recursive) into `to`, which is created.
inline void copy_dir(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(from))
    if (entry.is_regular_file()) std::filesystem::copy_file(entry.path(), to / entry.path().filename());
}

// The message of the rxlm::Error that `call` throws; a test failure (and "") if it throws nothing.
template <class F>
std::string error_of(F&& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an rxlm::Error, none was thrown";
  return "";
}

}  // namespace rxlm::testing
