// Small UTF-8 helpers shared by the tokenizers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rxlm {

// Bytes a sequence starting with `lead` announces (1 for continuation or invalid lead bytes).
inline size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;  // as llama.cpp's table: 0xF8..0xFF also announce 4
}

// Whitespace sets: Unicode White_Space (Rust's char::is_whitespace, used by Hugging Face tokenizers) and
// Python's str.isspace() (Jinja's trim), which adds the separators U+001C..U+001F.
enum class SpaceSet { Unicode, Python };

inline bool is_space(uint32_t cp, SpaceSet set) {
  if (set == SpaceSet::Python && cp >= 0x1C && cp <= 0x1F) return true;
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Byte length of a whitespace character at the start of `text`, 0 if none (whitespace is 1-3 bytes).
inline size_t leading_space(std::string_view text, SpaceSet set) {
  if (text.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(text[0]);
  if (b0 < 0x80) return is_space(b0, set) ? 1 : 0;
  const size_t length = utf8_sequence_length(b0);
  if (length < 2 || length > 3 || text.size() < length) return 0;
  uint32_t cp = b0 & (length == 2 ? 0x1F : 0x0F);
  for (size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  return is_space(cp, set) ? length : 0;
}

// Byte length of a whitespace character ending `text`, 0 if none.
inline size_t trailing_space(std::string_view text, SpaceSet set) {
  for (size_t length = 1; length <= 3 && length <= text.size(); ++length) {
    const auto first = static_cast<unsigned char>(text[text.size() - length]);
    if ((first & 0xC0) == 0x80) continue;  // still inside the character: step back further
    return leading_space(text.substr(text.size() - length), set) == length ? length : 0;
  }
  return 0;
}

inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace rxlm
