// Streaming CSV reader (RFC 4180: quoted commas, doubled quotes, embedded newlines; CRLF; UTF-8 BOM)
// over any byte source (a .csv/.csv.gz file, a PostgreSQL COPY stream), columns found by header name.
// Records without quotes are split in place (fields are views into the read buffer); the rest go
// through a byte-at-a-time state machine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm {

class ChunkSource;

struct CsvOptions {
  // false: a malformed record throws "file:line: ..."; true: it is skipped and counted in skipped().
  bool skip_malformed = false;
  char delimiter = ',';
};

class CsvReader {
 public:
  // Fills `buffer` with up to `capacity` bytes and returns how many; 0 means end of data.
  using ReadFn = std::function<std::size_t(char* buffer, std::size_t capacity)>;

  // `name` is what errors call the source (a path, or "postgres table mimiciv_hosp.x").
  CsvReader(std::string name, ReadFn read, CsvOptions options = {});
  ~CsvReader();
  CsvReader(CsvReader&&) noexcept;
  // Opens a .csv or .csv.gz file (gzip detected from the bytes, not the name).
  static CsvReader open(const std::filesystem::path& path, CsvOptions options = {});
  // Parses `chunks` where they lie. With `header`, the data has no header line: it is a later part of
  // a file whose header was read elsewhere (line numbers then count from the part's start).
  CsvReader(std::string name, std::shared_ptr<ChunkSource> chunks, CsvOptions options,
            const std::vector<std::string>* header = nullptr);

  const std::vector<std::string>& header() const { return header_; }
  // Index of the column called `name`; throws naming the file and the columns it has.
  std::size_t column(std::string_view name) const;
  std::optional<std::size_t> find_column(std::string_view name) const;

  // Only fields [0, count) are read from now on (field(), integer(), ...): plain records then stop
  // recording where later fields end, though they are still counted and checked as before.
  void keep_fields(std::size_t count) { keep_ = std::max<std::size_t>(count, 1); }

  // Advances to the next record; false at the end of the data.
  bool next();
  std::size_t size() const { return field_count_; }
  std::string_view field(std::size_t index) const {
    const std::size_t begin = index == 0 ? 0 : field_ends_[index - 1] + 1;  // + 1: past the delimiter
    return std::string_view(fields_ + begin, field_ends_[index] - begin);
  }
  // Line (1-based) on which the current record starts.
  std::uint64_t line() const { return record_line_; }
  std::uint64_t records() const { return records_; }
  std::uint64_t skipped() const { return skipped_; }
  // First few skip reasons ("file:line: why"), for reports.
  const std::vector<std::string>& skip_examples() const { return skip_examples_; }
  const std::string& name() const { return name_; }
  // How far through the data the reader is, from 0 to about 1, when the source says how long the data
  // is (a file); 0 when it does not. For sizing memory, never exact.
  double fraction_read() const;

  // Typed access: empty → nullopt; anything else that is not a whole number / a number throws
  // "file:line: column 'x': 'value' is not ...".
  [[gnu::always_inline]] std::optional<std::int64_t> integer(std::size_t index) const {
    const std::string_view text = field(index);
    if (text.empty()) return std::nullopt;
    if (text.size() == 8) {  // MIMIC's subject_id and hadm_id: eight digits in one step
      std::uint64_t chunk;
      std::memcpy(&chunk, text.data(), 8);
      if (((chunk & 0xF0F0F0F0F0F0F0F0) | (((chunk + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) ==
          0x3333333333333333) {
        chunk = (chunk & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8;
        chunk = (chunk & 0x00FF00FF00FF00FF) * 6553601 >> 16;
        chunk = (chunk & 0x0000FFFF0000FFFF) * 42949672960001 >> 32;
        return static_cast<std::int64_t>(chunk);
      }
    } else if (text.size() <= 4) {  // sequence numbers, versions, ages, years: digit by digit
      unsigned value = 0;
      bool plain = true;
      for (const char c : text) {
        const unsigned digit = static_cast<unsigned char>(c) - unsigned{'0'};
        plain = plain && digit <= 9;
        value = value * 10 + digit;
      }
      if (plain) return value;
    }
    return parse_integer(index);
  }
  std::optional<double> number(std::size_t index) const;
  // Throws "file:line: column 'x' ('value'): why" for checks done by the caller.
  [[noreturn]] void fail_field(std::size_t index, std::string_view why) const;

  // Where the structural bytes are among up to 64 bytes: bit i stands for byte i.
  struct Block {
    std::uint64_t newline = 0, quote_or_cr = 0, delimiter = 0;
  };

 private:
  CsvReader(std::string name, ReadFn read, std::shared_ptr<ChunkSource> file, CsvOptions options,
            const std::vector<std::string>* header);
  enum class Parse { Record, End, Malformed };
  Parse parse_record();
  std::optional<std::int64_t> parse_integer(std::size_t index) const;  // integer() past its shortcut
  // The common case without copying: a record with no quote and no CR that lies whole in the buffer
  // (moving a partial record to the front first). False = let the state machine parse it.
  bool parse_plain_record();
  Parse parse_quoted_record();  // the RFC 4180 state machine, copying into record_
  Parse end_line(char c);
  bool refill();
  bool compact_and_refill();
  void skip_rest_of_line();
  void malformed(std::string why);

  std::string name_;
  ReadFn read_;                     // copying source: fills buffer_
  std::shared_ptr<ChunkSource> file_;  // or inflated chunks parsed where they lie
  CsvOptions options_;
  std::vector<char> buffer_;  // kBuffer bytes of data plus zeroed padding for 32-byte loads
  char* window_ = nullptr;    // the bytes being parsed: buffer_, or a chunk of file_ (and its headroom)
  std::string carry_;         // the unread end of a chunk, on its way to the next chunk's headroom
  bool special_[256] = {};  // bytes that end a run of plain field bytes
  std::size_t pos_ = 0, end_ = 0;  // in window_
  std::uint64_t received_ = 0;     // bytes of file_ handed to window_ so far
  bool eof_ = false;
  std::vector<std::string> header_;
  std::string record_;                // the current record's bytes when the state machine parsed it
  const char* fields_ = nullptr;      // the current record's bytes: in buffer_ or record_
  std::vector<std::size_t> field_ends_;  // offsets from fields_: of the first keep_ fields at least
  std::size_t field_count_ = 0;          // fields in the current record
  std::size_t keep_ = SIZE_MAX;          // see keep_fields()
  // The plain scan classifies 64 bytes at a time; the rest of the block that held the end of a record
  // is kept (the bits up to that end cleared) and used for the next record when it starts there.
  Block block_;
  std::size_t block_at_ = 0;           // window_ offset of block_'s bit 0
  std::size_t resume_at_ = SIZE_MAX;   // the pos_ at which block_ is still valid; SIZE_MAX: none
  std::uint64_t line_ = 1, record_line_ = 0, records_ = 0, skipped_ = 0;
  std::string malformed_why_;
  std::vector<std::string> skip_examples_;
};

}  // namespace rxlm
