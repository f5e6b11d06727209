// Error texts of the gzip readers (gzip.cc, gzip_segment.cc, gzip_parts.cc), in one place.
#pragma once
#include <fmt/format.h>

#include <string>
#include <string_view>

#ifdef RXLM_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

namespace rxlm::gzip_errors {

inline std::string corrupt(const std::string& name, std::string_view why) {
  return fmt::format("{}: corrupt or truncated gzip data ({}); re-download or re-compress the file", name, why);
}

#ifdef RXLM_HAVE_ISAL
inline const char* isal_error(int code) {
  switch (code) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid back-reference distance";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length check failed";
    case ISAL_NEED_DICT: return "needs a preset dictionary";
    default: return "unknown igzip error";
  }
}
#endif

}  // namespace rxlm::gzip_errors
