// Test helpers for tokenizer fixtures: JSON files written by tools/reference/make_tokenizer_fixtures.py.
#pragma once
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm::testing {

inline std::filesystem::path fixture_dir() { return std::filesystem::path(RXLM_SOURCE_DIR) / "tests" / "fixtures" / "tokenizer"; }

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline nlohmann::json read_fixture(const std::string& name) {
  const auto path = fixture_dir() / name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path.string() + "; run tools/reference/make_tokenizer_fixtures.py");
  return nlohmann::json::parse(in);
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// A printable form of bytes for failure messages.
inline std::string escaped(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 32 && c < 127 && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02X", c);
      out += buffer;
    }
  }
  return out;
}

inline std::filesystem::path write_temp(const std::string& name, const std::string& bytes) {
  auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Every fixture case {"hex": bytes, "ids": [...]} encodes (no BOS, no specials) to its ids and decodes back
// to its bytes. Returns how many cases there were.
inline size_t expect_cases(const Tokenizer& tokenizer, const nlohmann::json& cases) {
  for (const auto& c : cases) {
    const std::string text = from_hex(c["hex"]);
    const std::vector<int32_t> ids = tokenizer.encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << escaped(text);
    EXPECT_EQ(tokenizer.decode(ids), text) << escaped(text);
  }
  return cases.size();
}

// Runs `load`, expecting an rxlm::Error whose message holds every fragment.
template <class Load>
void expect_error(Load&& load, const std::vector<std::string>& fragments) {
  try {
    load();
    ADD_FAILURE() << "no error; expected one mentioning " << fragments.front();
  } catch (const Error& e) {
    for (const std::string& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what() << "\nmissing: " << fragment;
  }
}

}  // namespace rxlm::testing
