// GzipFile: zlib's gz* API on a read-ahead thread; every error becomes an rxlm::Error naming the file.
#include "rxlm/io/gzip.h"

#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {
constexpr std::size_t kChunk = 4 << 20;
constexpr std::size_t kChunksAhead = 3;
}  // namespace

GzipFile::GzipFile(const std::filesystem::path& path) : name_(path.string()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file; check the path", name_);
  gzFile file = gzopen(name_.c_str(), "rb");
  if (!file) fail("{}: cannot open ({})", name_, std::strerror(errno));
  gzbuffer(file, 1 << 18);
  handle_ = file;
  worker_ = std::thread([this] { inflate_ahead(); });
}

GzipFile::~GzipFile() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
  gzclose_r(static_cast<gzFile>(handle_));
}

void GzipFile::inflate_ahead() {
  auto file = static_cast<gzFile>(handle_);
  for (;;) {
    Chunk chunk;
    {
      std::lock_guard lock(mutex_);
      if (!spare_.empty()) {
        chunk = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (!chunk.data) chunk.data = std::make_unique_for_overwrite<char[]>(kChunk);
    int got = gzread(file, chunk.data.get(), static_cast<unsigned>(kChunk));
    int code = Z_OK;
    const char* message = gzerror(file, &code);
    std::unique_lock lock(mutex_);
    // zlib reports a stream cut short as Z_BUF_ERROR once the last whole block has been returned.
    if (got < 0 || (code != Z_OK && code != Z_STREAM_END)) {
      error_ = fmt::format("{}: corrupt or truncated gzip data ({}); re-download or re-compress the file", name_,
                           message ? message : "unknown zlib error");
      finished_ = true;
    } else if (got == 0) {
      finished_ = true;
    } else {
      chunk.size = static_cast<std::size_t>(got);
      changed_.wait(lock, [this] { return ready_.size() < kChunksAhead || stopping_; });
      ready_.push_back(std::move(chunk));
    }
    bool done = finished_ || stopping_;
    lock.unlock();
    changed_.notify_all();
    if (done) return;
  }
}

std::size_t GzipFile::read(char* buffer, std::size_t capacity) {
  if (current_pos_ == current_.size) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !ready_.empty() || finished_; });
    if (ready_.empty()) {
      if (!error_.empty()) throw Error(error_);
      return 0;
    }
    if (current_.data) spare_.push_back(std::move(current_));
    current_ = std::move(ready_.front());
    ready_.pop_front();
    current_pos_ = 0;
    lock.unlock();
    changed_.notify_all();
  }
  std::size_t take = std::min(capacity, current_.size - current_pos_);
  std::memcpy(buffer, current_.data.get() + current_pos_, take);
  current_pos_ += take;
  return take;
}

}  // namespace rxlm
