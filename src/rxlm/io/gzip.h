// Streaming reader for .gz files (and plain files, passed through unchanged) with clear errors.
// Decompression runs on a background thread a few chunks ahead of the reader, so inflating and
// parsing overlap on two cores. Inflate uses ISA-L's igzip when rxlm was built with it
// (RXLM_HAVE_ISAL; 3.7x faster than zlib on the synthetic prescriptions file), zlib otherwise; both read
// concatenated gzip members.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rxlm {

class Inflater;  // igzip, zlib or plain pass-through (gzip.cc)

// Inflated data handed out chunk by chunk, to be parsed where it lies (CsvReader): a whole file
// (GzipFile) or one part of a file inflated in parts (GzipParts, csv_parts).
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Bytes writable before each chunk (a reader may put the unread end of the previous chunk there, so
  // that a record cut by the chunk boundary lies in one piece) and readable after it (for wide loads).
  static constexpr std::size_t kHeadroom = 64 << 10, kPadding = 64;
  // Inflaters fill chunks of kChunk bytes and run at most kChunksAhead chunks ahead of their reader.
  static constexpr std::size_t kChunk = 4 << 20, kChunksAhead = 3;

  // The next inflated chunk, without copying: valid until the next call; size 0 only at the true end of
  // the data. kHeadroom bytes before `data` may be written; kPadding bytes after the chunk may be read.
  struct View {
    char* data = nullptr;
    std::size_t size = 0;
  };
  virtual View next_chunk() = 0;
  // How many bytes the data likely holds, for sizing memory only; 0 when not known.
  virtual std::uint64_t expected_size() const { return 0; }
};

// Reads a gzip-compressed file (or an uncompressed one, recognised by its first bytes) in chunks.
// A truncated or corrupt stream throws rxlm::Error naming the file instead of ending early.
class GzipFile : public ChunkSource {
 public:
  explicit GzipFile(const std::filesystem::path& path);
  ~GzipFile();
  GzipFile(const GzipFile&) = delete;
  GzipFile& operator=(const GzipFile&) = delete;

  View next_chunk() override;
  const std::string& name() const { return name_; }
  // How many bytes the data likely holds, for sizing memory only: a gzip file's trailer (the last
  // member's length, modulo 2^32), a plain file's size; 0 when not known.
  std::uint64_t expected_size() const override { return expected_size_; }

 private:
  struct Chunk {
    std::unique_ptr<char[]> memory;  // kHeadroom + capacity + kPadding
    std::size_t size = 0;
    char* data() const { return memory.get() + kHeadroom; }
  };
  void inflate_ahead();  // the background thread

  std::string name_;
  std::uint64_t expected_size_ = 0;
  std::unique_ptr<Inflater> inflater_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Chunk> ready_;  // inflated chunks not yet handed out (bounded)
  std::vector<Chunk> spare_;  // consumed chunks, reused so no fresh pages are faulted in per chunk
  Chunk current_;             // handed out by next_chunk()
  bool finished_ = false, stopping_ = false;
  std::string error_;  // set by the thread; thrown by next_chunk() once the chunks before it are consumed
  std::thread worker_;
};

// What GzipFile::expected_size() gives for `name`, without opening it for reading.
std::uint64_t expected_size_of(const std::string& name);

}  // namespace rxlm
