// Test helper: run the built rxlm CLI and capture its stdout, stderr and exit code.
#pragma once
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "rxlm/core/paths.h"

namespace rxlm::test {

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `args` is appended to the binary path as shell words (the caller quotes).
inline CliResult run_cli(const std::string& args) {
  static int counter = 0;
  const auto err_path = std::filesystem::temp_directory_path() /
                        ("rxlm_test_err_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string command = std::string(RXLM_BIN) + " " + args + " 2>" + err_path.string();
  CliResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = read_file(err_path);
  std::filesystem::remove(err_path);
  return result;
}

inline std::string shared_path(const std::string& relative) { return (rxlm::shared_dir() / relative).string(); }

}  // namespace rxlm::test
