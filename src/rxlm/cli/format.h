// Number formatting shared by the subcommands' human-readable output.
#pragma once
#include <cstdint>
#include <string>

namespace rxlm::cli {

// 8030261248 → "8,030,261,248": the form people compare against model cards.
inline std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace rxlm::cli
