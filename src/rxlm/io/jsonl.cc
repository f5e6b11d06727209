// AtomicFile: buffered stdio (or, for large files, O_DIRECT) writes to a sibling temp file, fsync, then
// rename over the target.
#include "rxlm/io/jsonl.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

constexpr std::size_t kDirectAlign = 4096;    // O_DIRECT offsets, sizes and buffers are multiples of this
constexpr std::size_t kDirectBlock = 8 << 20;  // bytes per write

// Writes all `size` bytes; 0 or the errno of the failure.
int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t done = ::write(fd, data, size);
    if (done < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (done == 0) return EIO;
    data += done;
    size -= static_cast<std::size_t>(done);
  }
  return 0;
}

struct FreeAligned {
  void operator()(char* p) const { std::free(p); }
};
using AlignedBlock = std::unique_ptr<char, FreeAligned>;

// Aligned for O_DIRECT. No MADV_HUGEPAGE: where transparent huge pages are "madvise" with defrag
// "madvise" (Debian's default), each 2 MiB fault may compact memory first; on the benchmark VM that
// made first touch about 6x slower per byte than plain 4 KiB faults (docs/prep.md).
AlignedBlock aligned_block() {
  return AlignedBlock(static_cast<char*>(std::aligned_alloc(kDirectAlign, kDirectBlock)));
}

}  // namespace

// Queued O_DIRECT writer: the caller fills one aligned block while a background thread writes the
// blocks filled before it, in order. Up to kDirectBlocks blocks per file, so that the disk stays busy
// while the caller is rendering rather than copying; the unaligned tail is written in finish() after
// O_DIRECT is switched off.
class DirectWriter {
 public:
  // nullptr when the file system refuses O_DIRECT.
  static std::unique_ptr<DirectWriter> create(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0666);
    if (fd < 0 && errno == EINVAL) return nullptr;
    if (fd < 0)
      fail("{}: cannot create ({}); check that the folder exists and is writable", path.string(), std::strerror(errno));
    return std::unique_ptr<DirectWriter>(new DirectWriter(fd, path.string()));
  }

  ~DirectWriter() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t take = std::min(bytes.size(), kDirectBlock - filled_);
      std::memcpy(filling_.get() + filled_, bytes.data(), take);
      filled_ += take;
      bytes.remove_prefix(take);
      if (filled_ == kDirectBlock) hand_off();
    }
  }

  // Writes what is left, fsyncs and closes; throws naming the file when anything failed.
  void finish() {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return queued_.empty(); });
    }
    int error = error_;
    const std::size_t aligned = filled_ / kDirectAlign * kDirectAlign;
    if (!error) error = write_block(filling_.get(), aligned);
    if (!error && aligned < filled_) {
      const int flags = ::fcntl(fd_, F_GETFL);
      if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) < 0) error = errno;
      if (!error) error = write_all(fd_, filling_.get() + aligned, filled_ - aligned);
    }
    if (!error && ::fsync(fd_) != 0) error = errno;
    if (::close(fd_) != 0 && !error) error = errno;
    fd_ = -1;
    if (error) fail("{}: could not finish writing ({}); nothing was replaced", name_, std::strerror(error));
  }

 private:
  static constexpr std::size_t kDirectBlocks = 4;  // per file: the one being filled and up to 3 queued

  DirectWriter(int fd, std::string name) : fd_(fd), name_(std::move(name)), filling_(aligned_block()) {
    if (!filling_) fail("{}: out of memory for the write buffers", name_);
    blocks_ = 1;
    thread_ = std::thread([this] { run(); });
  }

  // write_all; but a file system that accepts O_DIRECT at open and refuses it on write (EINVAL before
  // any byte is written) gets this block and the rest of the file through the page cache instead.
  int write_block(const char* data, std::size_t size) {
    const off_t before = ::lseek(fd_, 0, SEEK_CUR);
    int error = write_all(fd_, data, size);
    if (error == EINVAL && ::lseek(fd_, 0, SEEK_CUR) == before) {
      const int flags = ::fcntl(fd_, F_GETFL);
      if (flags >= 0 && ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) == 0) error = write_all(fd_, data, size);
    }
    return error;
  }

  // Queues the full block and takes an empty one: a spare, a new one while fewer than kDirectBlocks
  // exist, or else the next one the thread has written.
  void hand_off() {
    std::unique_lock lock(mutex_);
    if (error_) fail("{}: write failed ({}); is the disk full?", name_, std::strerror(error_));
    queued_.push_back(std::move(filling_));
    filled_ = 0;
    changed_.notify_all();
    if (spare_.empty() && blocks_ < kDirectBlocks) {
      lock.unlock();
      AlignedBlock block = aligned_block();
      if (!block) fail("{}: out of memory for the write buffers", name_);
      filling_ = std::move(block);
      lock.lock();
      ++blocks_;
      return;
    }
    changed_.wait(lock, [this] { return !spare_.empty(); });
    filling_ = std::move(spare_.back());
    spare_.pop_back();
  }

  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queued_.empty() || stopping_; });
      if (queued_.empty()) return;
      const char* block = queued_.front().get();  // stays at the front (and alive) while it is written
      const bool skip = error_ || stopping_;       // after a failure, or for a file that is abandoned
      lock.unlock();
      const int error = skip ? 0 : write_block(block, kDirectBlock);
      lock.lock();
      if (error) error_ = error;
      spare_.push_back(std::move(queued_.front()));
      queued_.pop_front();
      changed_.notify_all();
    }
  }

  int fd_;
  std::string name_;
  AlignedBlock filling_;
  std::size_t filled_ = 0, blocks_ = 0;  // blocks_: allocated so far
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<AlignedBlock> queued_;  // full blocks in file order; the front one is being written
  std::vector<AlignedBlock> spare_;  // written blocks to fill again
  bool stopping_ = false;
  int error_ = 0;  // errno of a failed block write
  std::thread thread_;
};

AtomicFile::AtomicFile(std::filesystem::path path, bool large) : path_(std::move(path)), large_(large) {
  temp_ = path_;
  temp_ += ".tmp-" + std::to_string(::getpid());
  if (large && (direct_ = DirectWriter::create(temp_))) return;
  file_ = std::fopen(temp_.c_str(), "wb");
  if (!file_) fail("{}: cannot create ({}); check that the folder exists and is writable", temp_.string(), std::strerror(errno));
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

AtomicFile::~AtomicFile() {
  if (remover_.joinable()) remover_.join();
  if (file_ || direct_ || (written_ && !committed_)) {  // abandoned: the old file stays as it was
    if (file_) std::fclose(file_);
    direct_.reset();
    std::error_code ignored;
    std::filesystem::remove(temp_, ignored);
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (direct_) return direct_->write(bytes);
  if (!file_) fail("{}: write after commit", path_.string());
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    fail("{}: write failed ({}); is the disk full?", temp_.string(), std::strerror(errno));
}

void AtomicFile::write_json_line(const nlohmann::json& value) {
  std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  line += '\n';
  write(line);
}

void AtomicFile::write_json_line(const nlohmann::ordered_json& value) {
  std::string line = value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
  line += '\n';
  write(line);
}

void AtomicFile::finish_writing() {
  if (written_) return;
  if (direct_) {
    try {
      direct_->finish();
    } catch (const Error&) {
      direct_.reset();
      std::error_code ignored;
      std::filesystem::remove(temp_, ignored);
      throw;
    }
    direct_.reset();
  } else {
    if (!file_) return;
    bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok) {
      std::error_code ignored;
      std::filesystem::remove(temp_, ignored);
      fail("{}: could not finish writing ({}); nothing was replaced", temp_.string(), std::strerror(errno));
    }
  }
  written_ = true;
}

void AtomicFile::commit() {
  if (committed_) return;
  finish_writing();
  if (!written_) return;
  // Replacing a large file frees all its blocks inside rename(): tens of ms for hundreds of MB. So the
  // old file first gets a second name, rename() then only drops a link, and the blocks are freed on a
  // background thread. `path_` names a complete file all along, the old one or the new one.
  std::filesystem::path old;
  if (large_) {
    old = path_;
    old += ".old-" + std::to_string(::getpid());
    if (::link(path_.c_str(), old.c_str()) != 0) old.clear();  // nothing to replace, or no hard links here
  }
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) {
    if (!old.empty()) ::unlink(old.c_str());
    fail("{}: could not rename into place ({})", path_.string(), ec.message());
  }
  committed_ = true;
  if (!old.empty()) remover_ = std::thread([old] { ::unlink(old.c_str()); });
}

namespace {

// Index of the first byte at or after `from` that JSON cannot take as it is (a control character,
// '"' or '\\') or that starts a multi-byte UTF-8 sequence (>= 0x80); text.size() when there is none.
std::size_t next_special(std::string_view text, std::size_t from) {
  std::size_t i = from;
#ifdef __AVX2__
  const __m256i space = _mm256_set1_epi8(0x20), quote = _mm256_set1_epi8('"'), backslash = _mm256_set1_epi8('\\');
  for (; i + 32 <= text.size(); i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text.data() + i));
    // Signed compare: bytes >= 0x80 are negative, so "< 0x20" also catches them.
    const __m256i special = _mm256_or_si256(_mm256_cmpgt_epi8(space, v),
                                            _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)));
    if (const auto mask = static_cast<std::uint32_t>(_mm256_movemask_epi8(special))) return i + __builtin_ctz(mask);
  }
#endif
  for (; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
  }
  return text.size();
}

}  // namespace

namespace {

// The escape of one byte that JSON strings cannot hold as it is (a quote, a backslash or a control
// character below 0x20), as nlohmann::json::dump() writes it, at `out`; returns the end (at most 6 bytes).
char* write_escape(char* out, char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"': *out++ = '\\', *out++ = '"'; break;
    case '\\': *out++ = '\\', *out++ = '\\'; break;
    case '\b': *out++ = '\\', *out++ = 'b'; break;
    case '\f': *out++ = '\\', *out++ = 'f'; break;
    case '\n': *out++ = '\\', *out++ = 'n'; break;
    case '\r': *out++ = '\\', *out++ = 'r'; break;
    case '\t': *out++ = '\\', *out++ = 't'; break;
    default:
      std::memcpy(out, "\\u00", 4);
      out[4] = kHex[(c >> 4) & 0xF];
      out[5] = kHex[c & 0xF];
      out += 6;
  }
  return out;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  const std::size_t start = out.size();
  out.push_back('"');
  std::size_t run = 0;  // start of the current run of bytes that need no escaping
  for (std::size_t i = next_special(text, 0); i < text.size(); i = next_special(text, i + 1)) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {  // rare in MIMIC text: let nlohmann validate and escape it all
      out.resize(start);
      out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      return;
    }
    out.append(text.data() + run, i - run);
    run = i + 1;
    char escape[6];
    out.append(escape, write_escape(escape, c));
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

namespace {

#ifdef __AVX2__
// Bit i set where byte i of `v` needs escaping or is >= 0x80 (negative as a signed byte, so "< 0x20").
std::uint32_t special_bytes(__m256i v) {
  const __m256i special = _mm256_or_si256(
      _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v),
      _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')), _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))));
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(special));
}

std::uint32_t special_bytes(__m128i v) {
  const __m128i special = _mm_or_si128(
      _mm_cmpgt_epi8(_mm_set1_epi8(0x20), v),
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
  return static_cast<std::uint32_t>(_mm_movemask_epi8(special));
}

// Loads `Width` (4, 8 or 16) bytes.
template <int Width>
__m128i load(const char* p) {
  if constexpr (Width == 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (Width == 8) return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  std::int32_t word;
  std::memcpy(&word, p, 4);
  return _mm_cvtsi32_si128(word);
}

template <int Width>
void store(char* p, __m128i v) {
  if constexpr (Width == 16) return _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
  if constexpr (Width == 8) return _mm_storel_epi64(reinterpret_cast<__m128i*>(p), v);
  const std::int32_t word = _mm_cvtsi128_si32(v);
  std::memcpy(p, &word, 4);
}

// For Width <= n < 2 * Width: copies the n bytes at `in` to `out` as two overlapping blocks, the first
// and the last Width bytes, so nothing outside them is read. Returns how many lead the first special byte
// (n when there is none); bytes copied past it are overwritten later.
template <int Width>
std::size_t copy_short(const char* in, std::size_t n, char* out) {
  const __m128i first = load<Width>(in), last = load<Width>(in + n - Width);
  store<Width>(out, first);
  store<Width>(out + n - Width, last);
  constexpr std::uint32_t lanes = (1u << Width) - 1;  // load<4>/<8> zero the upper lanes, which count as special
  if (const std::uint32_t mask = special_bytes(first) & lanes) return static_cast<std::size_t>(__builtin_ctz(mask));
  // The overlap was checked clean in `first`, so the first special of `last` is the first of all.
  if (const std::uint32_t mask = special_bytes(last) & lanes) return n - Width + static_cast<std::size_t>(__builtin_ctz(mask));
  return n;
}
#endif

// Copies bytes from `in` to `out` up to the first special byte (or `end`); both advance past the copy.
// Writes up to 32 bytes past the copy at `out`.
void copy_plain_run(const char*& in, const char* end, char*& out) {
#ifdef __AVX2__
  // Whole blocks are stored as they are, then the output is cut back to the first special byte.
  while (end - in >= 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
    if (const std::uint32_t mask = special_bytes(v)) {
      in += __builtin_ctz(mask);
      out += __builtin_ctz(mask);
      return;
    }
    in += 32;
    out += 32;
  }
  const auto left = static_cast<std::size_t>(end - in);
  std::size_t plain = 0;
  if (left >= 16) plain = copy_short<16>(in, left, out);
  else if (left >= 8) plain = copy_short<8>(in, left, out);
  else if (left >= 4) plain = copy_short<4>(in, left, out);
  else
    while (plain < left) {
      const auto c = static_cast<unsigned char>(in[plain]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      out[plain++] = static_cast<char>(c);
    }
  in += plain;
  out += plain;
#else
  while (in != end) {
    const auto c = static_cast<unsigned char>(*in);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return;
    *out++ = *in++;
  }
#endif
}

}  // namespace

char* write_json_chars(char* out, std::string_view text) {
  const char* in = text.data();
  const char* const end = in + text.size();
  for (;;) {
    copy_plain_run(in, end, out);
    if (in == end) return out;
    const char c = *in++;
    if (static_cast<unsigned char>(c) >= 0x80) return nullptr;
    out = write_escape(out, c);
  }
}

void TextBuffer::grow(std::size_t bytes) {
  const std::size_t capacity = std::max({capacity_ * 2, size_ + bytes, std::size_t{1} << 16});
  std::unique_ptr<char[]> data(new char[capacity]);  // not zero-filled
  if (size_) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace rxlm
