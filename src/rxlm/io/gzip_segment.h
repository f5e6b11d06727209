// One stretch of a single-member gzip file inflated by ISA-L (for GzipParts): from the gzip header or
// from a deflate block boundary at any bit (with the 32 KiB window before it given), up to an exact bit
// where the next stretch starts, or to the member's end. Needs RXLM_HAVE_ISAL.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

struct inflate_state;

namespace rxlm {

// A file opened for positioned reads (shared by the threads of one GzipParts). A regular file is also
// mapped read-only, so the decoder reads the page cache where it lies instead of a copy of it (on the
// full synthetic set the copy cost the single prescriptions inflate chain 0.2-0.5 s of its ~2.5 s,
// docs/prep.md); a file that cannot be mapped is read with pread(2).
class PositionedFile {
 public:
  enum class Access { Map, Read };  // Read: never map (tests compare the two)
  explicit PositionedFile(std::string name, Access access = Access::Map);
  ~PositionedFile();
  PositionedFile(const PositionedFile&) = delete;
  PositionedFile& operator=(const PositionedFile&) = delete;
  // Up to `size` bytes at `offset`; fewer only at the end of the file. Throws rxlm::Error.
  std::size_t read_at(std::uint64_t offset, std::uint8_t* out, std::size_t size) const;
  std::uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }
  // The whole file, mapped; null when it is not mapped. Valid while this object lives. (As with any
  // mapping, a file truncated by another program while it is read ends the process with SIGBUS.)
  const std::uint8_t* bytes() const { return bytes_; }

 private:
  std::string name_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  const std::uint8_t* bytes_ = nullptr;
};

class GzipSegment {
 public:
  struct Trailer {
    std::uint32_t crc32 = 0, isize = 0;
    bool another_member = false;  // gzip magic right after the trailer
  };

  // From the gzip header at the start of the file.
  explicit GzipSegment(const PositionedFile& file);
  // From the block that begins at `start_bit`, with the 32 KiB that precede it inflated.
  GzipSegment(const PositionedFile& file, std::uint64_t start_bit, const std::uint8_t* window32k);
  ~GzipSegment();
  GzipSegment(const GzipSegment&) = delete;
  GzipSegment& operator=(const GzipSegment&) = delete;

  // End at `bit` (must lie ahead) instead of the member's end; set before the first fill().
  void stop_at(std::uint64_t bit);
  // The stop is not known yet but lies at or after byte `not_before`: when the input reaches that byte,
  // `decide` (called on the filling thread; it may block) gives the stop bit, or nothing, and then the
  // first segment reads the whole file, member after member, like GzipFile.
  void stop_later(std::uint64_t not_before, std::function<std::optional<std::uint64_t>()> decide);

  // Up to `capacity` inflated bytes; 0 once the segment has ended. Throws rxlm::Error on corrupt or
  // truncated data.
  std::size_t fill(char* out, std::size_t capacity);

  // After the end, with stop_at(): whether the decoder stopped exactly at the start of a (non-final)
  // block's header at that bit; false also when the member ended before it.
  bool stopped_at_boundary() const { return stopped_at_boundary_; }
  // After the end without stop_at(): the member's trailer; nothing when a stop was set.
  const std::optional<Trailer>& trailer() const { return trailer_; }
  // CRC-32 and count of the bytes inflated so far.
  std::uint32_t crc32() const;
  std::uint64_t total_out() const { return total_out_; }

 private:
  bool refill();
  void stop_here();
  void read_trailer();
  bool next_member();
  void skip_into_first_byte();
  void decide_stop_now();

  const PositionedFile& file_;
  std::unique_ptr<inflate_state> state_;
  std::unique_ptr<std::uint8_t[]> input_;  // the read buffer of a file that is not mapped
  std::uint64_t next_read_ = 0;  // file offset of the next byte not yet given to the decoder
  std::uint64_t read_limit_;     // no bytes at or after this offset are fed to the decoder
  std::optional<std::uint64_t> stop_bit_;
  std::function<std::optional<std::uint64_t>()> decide_stop_;
  std::uint64_t total_out_ = 0;
  int start_skip_bits_ = 0;  // bits of the first byte before the start bit
  bool ended_ = false, stopped_at_boundary_ = false;
  std::optional<Trailer> trailer_;
};

}  // namespace rxlm
