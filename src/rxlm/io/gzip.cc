// GzipFile: an Inflater (ISA-L igzip when built with it, else zlib's gz* API) on a read-ahead thread;
// every error becomes an rxlm::Error naming the file.
#include "rxlm/io/gzip.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#ifndef RXLM_HAVE_ISAL
#include <zlib.h>
#endif

#include "rxlm/core/error.h"
#include "rxlm/io/gzip_errors.h"
#ifdef RXLM_HAVE_ISAL
#include "rxlm/io/gzip_segment.h"
#endif

namespace rxlm {
namespace {
constexpr std::size_t kChunk = ChunkSource::kChunk, kChunksAhead = ChunkSource::kChunksAhead;

using gzip_errors::corrupt;
// Chunk memory outlives its file: the next file takes it instead of faulting in fresh pages (each
// table opens its own file; up to two are open at once).
class ChunkPool {
 public:
  static std::unique_ptr<char[]> take(std::size_t bytes) {
    {
      std::lock_guard lock(mutex());
      auto& free = chunks();
      if (!free.empty()) {
        std::unique_ptr<char[]> memory = std::move(free.back());
        free.pop_back();
        return memory;
      }
    }
    return std::make_unique_for_overwrite<char[]>(bytes);
  }
  static void give(std::unique_ptr<char[]> memory) {
    if (!memory) return;
    std::lock_guard lock(mutex());
    if (chunks().size() < kKept) chunks().push_back(std::move(memory));
  }

 private:
  static constexpr std::size_t kKept = 2 * (kChunksAhead + 2);  // two files' worth
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<std::unique_ptr<char[]>>& chunks() {
    static std::vector<std::unique_ptr<char[]>> free;
    return free;
  }
};
}  // namespace

class Inflater {
 public:
  virtual ~Inflater() = default;
  // Up to `capacity` bytes (fewer only at the end of the data); 0 at the end. Throws rxlm::Error.
  virtual std::size_t fill(char* out, std::size_t capacity) = 0;
};

namespace {

#ifdef RXLM_HAVE_ISAL

constexpr std::size_t kInput = 1 << 20;

// The file's raw bytes through read(2).
class RawFile {
 public:
  explicit RawFile(std::string name) : name_(std::move(name)) {
    fd_ = ::open(name_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("{}: cannot open ({})", name_, std::strerror(errno));
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~RawFile() { ::close(fd_); }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  // Up to `capacity` bytes; 0 at the end of the file.
  std::size_t read(std::uint8_t* out, std::size_t capacity) {
    for (;;) {
      ssize_t got = ::read(fd_, out, capacity);
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) fail("{}: read failed ({})", name_, std::strerror(errno));
    }
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int fd_ = -1;
};

// igzip over one or more concatenated gzip members: a GzipSegment without a stop (gzip_segment.h, shared
// with GzipParts). Like zlib's gzread, bytes after a member that do not start another member are ignored.
class IsalInflater final : public Inflater {
 public:
  explicit IsalInflater(const std::string& name) : file_(name), segment_(file_) {}

  std::size_t fill(char* out, std::size_t capacity) override {
    std::size_t filled = 0;
    while (filled < capacity) {
      const std::size_t got = segment_.fill(out + filled, capacity - filled);
      if (got == 0) break;
      filled += got;
    }
    return filled;
  }

 private:
  PositionedFile file_;
  GzipSegment segment_;
};

// A file that does not start with the gzip magic bytes is handed out as it is.
class PlainFile final : public Inflater {
 public:
  PlainFile(std::unique_ptr<RawFile> file, std::unique_ptr<std::uint8_t[]> input, std::size_t have)
      : file_(std::move(file)), input_(std::move(input)), have_(have) {}

  std::size_t fill(char* out, std::size_t capacity) override {
    std::size_t filled = 0;
    if (pos_ < have_) {
      filled = std::min(capacity, have_ - pos_);
      std::memcpy(out, input_.get() + pos_, filled);
      pos_ += filled;
    }
    while (filled < capacity) {
      std::size_t got = file_->read(reinterpret_cast<std::uint8_t*>(out) + filled, capacity - filled);
      if (got == 0) break;
      filled += got;
    }
    return filled;
  }

 private:
  std::unique_ptr<RawFile> file_;
  std::unique_ptr<std::uint8_t[]> input_;
  std::size_t have_, pos_ = 0;
};

std::unique_ptr<Inflater> open_inflater(const std::string& name) {
  auto file = std::make_unique<RawFile>(name);
  auto input = std::make_unique_for_overwrite<std::uint8_t[]>(kInput);
  std::size_t have = 0;
  while (have < 2) {  // enough to see the magic bytes, even from a slow source
    std::size_t got = file->read(input.get() + have, kInput - have);
    if (got == 0) break;
    have += got;
  }
  if (have >= 2 && input[0] == 0x1f && input[1] == 0x8b) return std::make_unique<IsalInflater>(name);
  return std::make_unique<PlainFile>(std::move(file), std::move(input), have);
}

#else  // zlib

// zlib's gz* API: it recognises plain files itself and reads concatenated members.
class ZlibInflater final : public Inflater {
 public:
  explicit ZlibInflater(std::string name) : name_(std::move(name)) {
    file_ = gzopen(name_.c_str(), "rb");
    if (!file_) fail("{}: cannot open ({})", name_, std::strerror(errno));
    gzbuffer(file_, 1 << 18);
  }
  ~ZlibInflater() override { gzclose_r(file_); }

  std::size_t fill(char* out, std::size_t capacity) override {
    std::size_t filled = 0;
    while (filled < capacity) {
      int got = gzread(file_, out + filled, static_cast<unsigned>(std::min<std::size_t>(capacity - filled, 1u << 30)));
      int code = Z_OK;
      const char* message = gzerror(file_, &code);
      // zlib reports a stream cut short as Z_BUF_ERROR once the last whole block has been returned.
      if (got < 0 || (code != Z_OK && code != Z_STREAM_END))
        fail("{}", corrupt(name_, message ? message : "unknown zlib error"));
      if (got == 0) break;
      filled += static_cast<std::size_t>(got);
    }
    return filled;
  }

 private:
  std::string name_;
  gzFile file_ = nullptr;
};

std::unique_ptr<Inflater> open_inflater(const std::string& name) { return std::make_unique<ZlibInflater>(name); }

#endif

}  // namespace

// The gzip trailer's ISIZE (little-endian, the last 4 bytes) or the size of a plain file. Any failure
// just leaves it unknown; reading proper reports errors.
std::uint64_t expected_size_of(const std::string& name) {
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::uint64_t size = 0;
  unsigned char magic[2] = {}, trailer[4] = {};
  const off_t length = ::lseek(fd, 0, SEEK_END);
  if (length >= 2 && ::pread(fd, magic, 2, 0) == 2) {
    if (magic[0] != 0x1f || magic[1] != 0x8b)
      size = static_cast<std::uint64_t>(length);
    else if (length >= 18 && ::pread(fd, trailer, 4, length - 4) == 4)
      size = trailer[0] | trailer[1] << 8 | trailer[2] << 16 | std::uint64_t{trailer[3]} << 24;
  }
  ::close(fd);
  return size;
}

GzipFile::GzipFile(const std::filesystem::path& path) : name_(path.string()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file; check the path", name_);
  expected_size_ = expected_size_of(name_);
  inflater_ = open_inflater(name_);
  worker_ = std::thread([this] { inflate_ahead(); });
}

GzipFile::~GzipFile() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
  ChunkPool::give(std::move(current_.memory));
  for (Chunk& chunk : ready_) ChunkPool::give(std::move(chunk.memory));
  for (Chunk& chunk : spare_) ChunkPool::give(std::move(chunk.memory));
}

void GzipFile::inflate_ahead() {
  for (;;) {
    Chunk chunk;
    {
      std::lock_guard lock(mutex_);
      if (!spare_.empty()) {
        chunk = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (!chunk.memory) {
      chunk.memory = ChunkPool::take(kHeadroom + kChunk + kPadding);
      std::memset(chunk.data() + kChunk, 0, kPadding);
    }
    std::string error;
    try {
      chunk.size = inflater_->fill(chunk.data(), kChunk);
    } catch (const Error& e) {
      error = e.what();
    }
    std::unique_lock lock(mutex_);
    if (!error.empty()) {
      error_ = std::move(error);
      finished_ = true;
    } else if (chunk.size == 0) {
      finished_ = true;
    } else {
      changed_.wait(lock, [this] { return ready_.size() < kChunksAhead || stopping_; });
      ready_.push_back(std::move(chunk));
    }
    bool done = finished_ || stopping_;
    lock.unlock();
    changed_.notify_all();
    if (done) return;
  }
}

GzipFile::View GzipFile::next_chunk() {
  std::unique_lock lock(mutex_);
  if (current_.memory) spare_.push_back(std::move(current_));
  current_ = Chunk{};
  changed_.wait(lock, [this] { return !ready_.empty() || finished_; });
  if (ready_.empty()) {
    if (!error_.empty()) throw Error(error_);
    return {};
  }
  current_ = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  return {current_.data(), current_.size};
}

}  // namespace rxlm
