// GzipFile: zlib's gz* API with every error turned into an rxlm::Error that names the file.
#include "rxlm/io/gzip.h"

#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "rxlm/core/error.h"

namespace rxlm {

GzipFile::GzipFile(const std::filesystem::path& path) : name_(path.string()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file; check the path", name_);
  gzFile file = gzopen(name_.c_str(), "rb");
  if (!file) fail("{}: cannot open ({})", name_, std::strerror(errno));
  gzbuffer(file, 1 << 18);
  handle_ = file;
}

GzipFile::~GzipFile() {
  if (handle_) gzclose_r(static_cast<gzFile>(handle_));
}

std::size_t GzipFile::read(char* buffer, std::size_t capacity) {
  auto file = static_cast<gzFile>(handle_);
  unsigned want = capacity > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<unsigned>(capacity);
  int got = gzread(file, buffer, want);
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  // zlib reports a stream cut short as Z_BUF_ERROR once the last whole block has been returned.
  if (got < 0 || (code != Z_OK && code != Z_STREAM_END)) {
    fail("{}: corrupt or truncated gzip data ({}); re-download or re-compress the file", name_,
         message ? message : "unknown zlib error");
  }
  return static_cast<std::size_t>(got);
}

}  // namespace rxlm
