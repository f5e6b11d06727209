// Streaming reader for .gz files (and plain files, read through the same zlib calls) with clear errors.
// Decompression runs on a background thread one chunk ahead of the reader, so inflating and parsing
// overlap on two cores.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  void inflate_ahead();  // the background thread

  std::string name_;
  void* handle_ = nullptr;  // gzFile, kept opaque so zlib.h stays out of this header
  std::mutex mutex_;
  std::condition_variable changed_;
  struct Chunk {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  std::deque<Chunk> ready_;  // inflated chunks not yet handed out (bounded)
  std::vector<Chunk> spare_;  // consumed chunks, reused so no fresh pages are faulted in per chunk
  Chunk current_;
  std::size_t current_pos_ = 0;
  bool finished_ = false, stopping_ = false;
  std::string error_;  // set by the thread; thrown by read() once the chunks before it are consumed
  std::thread worker_;
};

}  // namespace rxlm
