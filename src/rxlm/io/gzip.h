// Streaming reader for .gz files (and plain files, passed through unchanged) with clear errors.
// Decompression runs on a background thread a few chunks ahead of the reader, so inflating and
// parsing overlap on two cores. Inflate uses ISA-L's igzip when rxlm was built with it
// (RXLM_HAVE_ISAL, 2-4x faster than zlib), zlib otherwise; both read concatenated gzip members.
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

class Inflater;  // igzip, zlib or plain pass-through (gzip.cc)

// Reads a gzip-compressed file (or an uncompressed one, recognised by its first bytes) in chunks.
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
  std::unique_ptr<Inflater> inflater_;
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
