// GPT-2 bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes take
// code points 256, 257, ... in byte order.
#include "rxlm/tokenizer/byte_level.h"

#include <array>

#include "rxlm/tokenizer/utf8.h"

namespace rxlm {
namespace {

struct Tables {
  std::array<uint32_t, 256> to_code_point{};
  std::array<int, 512> to_byte{};  // every mapped code point is < 512
  Tables() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_code_point[b] = printable ? static_cast<uint32_t>(b) : next++;
      to_byte[to_code_point[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::optional<std::string> byte_level_decode(std::string_view mapped) {
  const Tables& t = tables();
  std::string out;
  out.reserve(mapped.size());
  for (size_t i = 0; i < mapped.size();) {
    const auto lead = static_cast<unsigned char>(mapped[i]);
    uint32_t cp;
    size_t length;
    if (lead < 0x80) {
      cp = lead, length = 1;
    } else if ((lead & 0xE0) == 0xC0 && i + 1 < mapped.size()) {
      cp = ((lead & 0x1F) << 6) | (static_cast<unsigned char>(mapped[i + 1]) & 0x3F), length = 2;
    } else {
      return std::nullopt;  // 3- and 4-byte characters are never in the table
    }
    if (cp >= t.to_byte.size() || t.to_byte[cp] < 0) return std::nullopt;
    out += static_cast<char>(t.to_byte[cp]);
    i += length;
  }
  return out;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) append_utf8(out, tables().to_code_point[b]);
  return out;
}

}  // namespace rxlm
