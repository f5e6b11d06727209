// GzipSegment: ISA-L's stateful inflate, started or stopped at an arbitrary bit of the deflate stream.
//
// Starting: a raw-deflate state gets the window via isal_inflate_set_dict and the bits of the first,
// partly used byte via read_in / read_in_length (ISA-L keeps not-yet-decoded input bits there).
// Stopping exactly (ISA-L 2.30 has no "stop at bit"): the decoder is fed no byte past the one holding
// the stop bit. At the end of a block ISA-L starts on the next header (read_header_stateful); a dynamic
// header needs at least 17 bits, so with fewer than 8 bits left it returns ISAL_END_INPUT, restores
// read_in / read_in_length to the header's first bit, parks the rest of the input in tmp_in_buffer and
// sets block_state = ISAL_BLOCK_HDR. The header then starts at
//   8 * (bytes fed) - read_in_length - 8 * (tmp_in_size + avail_in),
// which must equal the stop bit. Stopping anywhere else leaves the decoder inside a block (state
// CODED/TYPE0) or at another position, and the check fails. tests/unit/gzip_parts_test.cc checks this
// claim at every block boundary of a few streams (and next to them).
#include "rxlm/io/gzip_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "rxlm/core/error.h"
#include "rxlm/io/gzip_errors.h"

#ifdef RXLM_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#else
struct inflate_state {};  // never used: GzipParts does not split without ISA-L
#endif

namespace rxlm {

PositionedFile::PositionedFile(std::string name, Access access) : name_(std::move(name)) {
  fd_ = ::open(name_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("{}: cannot open ({})", name_, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    ::close(fd_);
    fail("{}: cannot stat ({})", name_, std::strerror(errno));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (access == Access::Map && S_ISREG(st.st_mode) && size_ > 0) {
    void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (map != MAP_FAILED) bytes_ = static_cast<const std::uint8_t*>(map);
  }
}

PositionedFile::~PositionedFile() {
  if (bytes_) ::munmap(const_cast<std::uint8_t*>(bytes_), size_);
  ::close(fd_);
}

std::size_t PositionedFile::read_at(std::uint64_t offset, std::uint8_t* out, std::size_t size) const {
  if (bytes_) {
    const std::size_t n = offset >= size_ ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(size, size_ - offset));
    std::memcpy(out, bytes_ + offset, n);
    return n;
  }
  std::size_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("{}: read failed ({})", name_, std::strerror(errno));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

#ifdef RXLM_HAVE_ISAL

namespace {
constexpr std::size_t kInput = 1 << 20;
constexpr std::uint32_t kWindow = 32768;

using gzip_errors::corrupt;

using gzip_errors::isal_error;
}  // namespace

GzipSegment::GzipSegment(const PositionedFile& file)
    : file_(file),
      state_(std::make_unique<inflate_state>()),
      input_(file.bytes() ? nullptr : std::make_unique_for_overwrite<std::uint8_t[]>(kInput)),
      read_limit_(file.size()) {
  isal_inflate_init(state_.get());
  state_->crc_flag = ISAL_GZIP;  // parses the header; keeps the CRC-32 of the output in state_->crc
  state_->next_in = input_.get();
  state_->avail_in = 0;
}

GzipSegment::GzipSegment(const PositionedFile& file, std::uint64_t start_bit, const std::uint8_t* window32k)
    : file_(file),
      state_(std::make_unique<inflate_state>()),
      input_(file.bytes() ? nullptr : std::make_unique_for_overwrite<std::uint8_t[]>(kInput)),
      next_read_(start_bit / 8),
      read_limit_(file.size()) {
  inflate_state& s = *state_;
  isal_inflate_init(&s);
  s.crc_flag = ISAL_GZIP_NO_HDR;  // raw deflate, CRC-32 of the output kept, trailer left to us
  if (isal_inflate_set_dict(&s, const_cast<std::uint8_t*>(window32k), kWindow) != ISAL_DECOMP_OK)
    fail("{}: igzip refused the window of a split point", file_.name());
  s.next_in = input_.get();
  s.avail_in = 0;
  start_skip_bits_ = static_cast<int>(start_bit % 8);  // taken on the first fill(), after stop_at()
}

// The first byte holds bits of the block before: igzip gets only the rest, through read_in.
void GzipSegment::skip_into_first_byte() {
  inflate_state& s = *state_;
  if (!refill()) fail("{}", corrupt(file_.name(), "unexpected end of file"));
  s.read_in = static_cast<std::uint64_t>(s.next_in[0] >> start_skip_bits_);
  s.read_in_length = 8 - start_skip_bits_;
  ++s.next_in;
  --s.avail_in;
  start_skip_bits_ = 0;
}

GzipSegment::~GzipSegment() = default;

void GzipSegment::stop_at(std::uint64_t bit) {
  stop_bit_ = bit;
  read_limit_ = std::min<std::uint64_t>(file_.size(), (bit + 7) / 8);
}

void GzipSegment::stop_later(std::uint64_t not_before, std::function<std::optional<std::uint64_t>()> decide) {
  read_limit_ = std::min<std::uint64_t>(file_.size(), not_before);
  decide_stop_ = std::move(decide);
}

std::uint32_t GzipSegment::crc32() const { return state_->crc; }

void GzipSegment::decide_stop_now() {
  auto decide = std::move(decide_stop_);
  decide_stop_ = nullptr;
  if (auto bit = decide()) {
    stop_at(*bit);
  } else {
    read_limit_ = file_.size();
  }
}

// Reads more input after what is left unread; false when nothing more may or can be read. A mapped
// file is its own input: the decoder's input grows over the mapping by up to kInput at a time.
bool GzipSegment::refill() {
  inflate_state& s = *state_;
  if (next_read_ >= read_limit_ && decide_stop_) decide_stop_now();
  if (next_read_ >= read_limit_) return false;
  if (const std::uint8_t* bytes = file_.bytes()) {
    if (s.avail_in > UINT32_MAX - kInput) return false;
    const auto more = static_cast<std::uint32_t>(std::min<std::uint64_t>(kInput, read_limit_ - next_read_));
    s.next_in = const_cast<std::uint8_t*>(bytes + next_read_ - s.avail_in);  // igzip never writes its input
    s.avail_in += more;
    next_read_ += more;
    return true;
  }
  if (s.avail_in == kInput) return false;
  std::memmove(input_.get(), s.next_in, s.avail_in);
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kInput - s.avail_in, read_limit_ - next_read_));
  const std::size_t got = file_.read_at(next_read_, input_.get() + s.avail_in, want);
  next_read_ += got;
  s.next_in = input_.get();
  s.avail_in += static_cast<std::uint32_t>(got);
  return got > 0;
}

std::size_t GzipSegment::fill(char* out, std::size_t capacity) {
  if (ended_) return 0;
  if (start_skip_bits_ != 0) skip_into_first_byte();
  inflate_state& s = *state_;
  s.next_out = reinterpret_cast<std::uint8_t*>(out);
  s.avail_out = static_cast<std::uint32_t>(capacity);
  while (s.avail_out > 0) {
    if (s.block_state == ISAL_BLOCK_FINISH) {
      if (decide_stop_) decide_stop_now();  // a member ended early: a split after it would be wrong
      if (stop_bit_) {
        ended_ = true;  // the member ended before the stop: not a split of this member
        break;
      }
      if (s.crc_flag == ISAL_GZIP) {  // the whole file: igzip checked the trailer
        if (next_member()) continue;
        ended_ = true;
        break;
      }
      read_trailer();
      break;
    }
    if (s.avail_in == 0) refill();
    const std::uint32_t in_before = s.avail_in, out_before = s.avail_out;
    const int code = isal_inflate(&s);
    if (code < 0) fail("{}", corrupt(file_.name(), isal_error(code)));
    // Neither input taken nor output made: igzip needs more input than it has.
    if (s.block_state != ISAL_BLOCK_FINISH && s.avail_in == in_before && s.avail_out == out_before && !refill()) {
      if (stop_bit_ && next_read_ == read_limit_) {
        stop_here();
        break;
      }
      fail("{}", corrupt(file_.name(), "unexpected end of file"));
    }
  }
  const std::size_t produced = capacity - s.avail_out;
  total_out_ += produced;
  return produced;
}

// All input up to the stop bit is used and igzip wants more: is it at a block header at that bit?
void GzipSegment::stop_here() {
  const inflate_state& s = *state_;
  ended_ = true;
  if (s.block_state != ISAL_BLOCK_HDR && s.block_state != ISAL_BLOCK_NEW_HDR) return;
  const std::uint64_t unread_bits = static_cast<std::uint64_t>(s.read_in_length) +
                                    8 * (static_cast<std::uint64_t>(s.tmp_in_size) + s.avail_in);
  stopped_at_boundary_ = 8 * next_read_ >= unread_bits && 8 * next_read_ - unread_bits == *stop_bit_;
}

// After a member's trailer (whole-file reading): true when another gzip member follows (and is started);
// other bytes after a member are ignored, as zlib's gzread does.
bool GzipSegment::next_member() {
  inflate_state& s = *state_;
  while (s.avail_in < 2 && refill()) {
  }
  if (s.avail_in < 2 || s.next_in[0] != 0x1f || s.next_in[1] != 0x8b) return false;
  std::uint8_t* next_in = s.next_in;
  std::uint32_t avail_in = s.avail_in, avail_out = s.avail_out;
  std::uint8_t* next_out = s.next_out;
  isal_inflate_init(&s);
  s.crc_flag = ISAL_GZIP;
  s.next_in = next_in;
  s.avail_in = avail_in;
  s.next_out = next_out;
  s.avail_out = avail_out;
  return true;
}

// After the last block: the 8-byte trailer begins at the next byte boundary.
void GzipSegment::read_trailer() {
  const inflate_state& s = *state_;
  ended_ = true;
  const std::uint64_t offset = next_read_ - s.avail_in - static_cast<std::uint64_t>(s.read_in_length / 8);
  std::uint8_t bytes[10] = {};
  const std::size_t got = file_.read_at(offset, bytes, sizeof bytes);
  if (got < 8) fail("{}", corrupt(file_.name(), "unexpected end of file"));
  Trailer trailer;
  std::memcpy(&trailer.crc32, bytes, 4);
  std::memcpy(&trailer.isize, bytes + 4, 4);
  trailer.another_member = got == 10 && bytes[8] == 0x1f && bytes[9] == 0x8b;
  trailer_ = trailer;
}

#else  // without ISA-L GzipParts never splits

GzipSegment::GzipSegment(const PositionedFile& file) : file_(file) {
  fail("{}: split gzip reading needs ISA-L", file.name());
}
GzipSegment::GzipSegment(const PositionedFile& file, std::uint64_t, const std::uint8_t*) : file_(file) {
  fail("{}: split gzip reading needs ISA-L", file.name());
}
GzipSegment::~GzipSegment() = default;
void GzipSegment::stop_at(std::uint64_t) {}
void GzipSegment::stop_later(std::uint64_t, std::function<std::optional<std::uint64_t>()>) {}
std::size_t GzipSegment::fill(char*, std::size_t) { return 0; }
std::uint32_t GzipSegment::crc32() const { return 0; }

#endif

}  // namespace rxlm
