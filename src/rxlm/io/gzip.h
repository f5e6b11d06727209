// Streaming reader for .gz files (and plain files, read through the same zlib calls) with clear errors.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>

namespace rxlm {

// Reads a gzip-compressed file (or an uncompressed one: zlib passes plain bytes through) in chunks.
// A truncated or corrupt stream throws rxlm::Error naming the file instead of ending early.
class GzipFile {
 public:
  explicit GzipFile(const std::filesystem::path& path);
  ~GzipFile();
  GzipFile(const GzipFile&) = delete;
  GzipFile& operator=(const GzipFile&) = delete;

  // Up to `capacity` bytes into `buffer`; 0 only at the true end of the data.
  std::size_t read(char* buffer, std::size_t capacity);
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  void* handle_ = nullptr;  // gzFile, kept opaque so zlib.h stays out of this header
};

}  // namespace rxlm
