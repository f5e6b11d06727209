// CsvReader: a vectorised split of plain records in place, and a byte-at-a-time RFC 4180 state
// machine for the rest, over a refillable buffer.
#include "rxlm/io/csv.h"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "rxlm/core/error.h"
#include "rxlm/io/gzip.h"

namespace rxlm {
namespace {
constexpr std::size_t kBuffer = 1 << 20;
constexpr std::size_t kPadding = 64;  // readable bytes past the data, so 32-byte loads never leave the buffer

// Where the structural bytes are among the next (up to) 32: bit i stands for byte i.
struct Block {
  std::uint32_t newline = 0, quote_or_cr = 0, delimiter = 0;
  std::size_t width = 0;  // bytes classified
};

Block classify(const char* bytes, std::size_t left, char delimiter) {
  Block block;
  block.width = std::min<std::size_t>(left, 32);
  const std::uint32_t valid = block.width == 32 ? ~0u : (1u << block.width) - 1;
#ifdef __AVX2__
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes));  // may read padding
  auto where = [&](char c) {
    return static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c)))) & valid;
  };
  block.newline = where('\n');
  block.quote_or_cr = where('"') | where('\r');
  block.delimiter = where(delimiter);
#else
  for (std::size_t i = 0; i < block.width; ++i) {
    const std::uint32_t bit = 1u << i;
    if (bytes[i] == '\n') block.newline |= bit;
    if (bytes[i] == '"' || bytes[i] == '\r') block.quote_or_cr |= bit;
    if (bytes[i] == delimiter) block.delimiter |= bit;
  }
  (void)valid;
#endif
  return block;
}
}  // namespace

CsvReader::CsvReader(std::string name, ReadFn read, CsvOptions options)
    : CsvReader(std::move(name), std::move(read), nullptr, options) {}

CsvReader::CsvReader(std::string name, ReadFn read, std::shared_ptr<GzipFile> file, CsvOptions options)
    : name_(std::move(name)), read_(std::move(read)), file_(std::move(file)), options_(options) {
  if (!file_) {
    buffer_.assign(kBuffer + kPadding, 0);
    window_ = buffer_.data();
  }
  for (char c : {options_.delimiter, '\n', '\r', '"'}) special_[static_cast<unsigned char>(c)] = true;
  // The header is parsed strictly even when data rows may be skipped: without it nothing can be found.
  Parse got = parse_record();
  if (got == Parse::End) fail("{}: empty file; expected a header line naming the columns", name_);
  if (got == Parse::Malformed) fail("{}:1: malformed header ({})", name_, malformed_why_);
  for (std::size_t i = 0; i < field_ends_.size(); ++i) header_.emplace_back(field(i));
  if (header_[0].starts_with("\xEF\xBB\xBF")) header_[0].erase(0, 3);  // UTF-8 BOM
}

CsvReader::~CsvReader() = default;
CsvReader::CsvReader(CsvReader&&) noexcept = default;

CsvReader CsvReader::open(const std::filesystem::path& path, CsvOptions options) {
  return CsvReader(path.string(), nullptr, std::make_shared<GzipFile>(path), options);
}

std::optional<std::size_t> CsvReader::find_column(std::string_view name) const {
  for (std::size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == name) return i;
  return std::nullopt;
}

std::size_t CsvReader::column(std::string_view name) const {
  if (auto index = find_column(name)) return *index;
  std::string have;
  for (const auto& h : header_) have += (have.empty() ? "" : ",") + h;
  fail("{}: missing column '{}' (the header has: {}); is this the right table and release?", name_, name, have);
}

bool CsvReader::refill() {
  if (eof_) return false;
  pos_ = 0;
  if (file_) {
    const GzipFile::View chunk = file_->next_chunk();
    window_ = chunk.data;
    end_ = chunk.size;
  } else {
    end_ = read_(window_, kBuffer);
  }
  if (end_ == 0) eof_ = true;
  return end_ > 0;
}

// Puts the unread bytes in front of more data (the next chunk's headroom, or the front of buffer_);
// false when nothing more came or the unread bytes do not fit (the state machine copes then).
bool CsvReader::compact_and_refill() {
  if (eof_) return false;
  const std::size_t keep = end_ - pos_;
  if (file_) {
    if (keep > GzipFile::kHeadroom) return false;
    carry_.assign(window_ + pos_, keep);  // the chunk it is in goes back to the inflater next
    const GzipFile::View chunk = file_->next_chunk();
    if (chunk.size == 0) {  // end of data: keep the unread bytes where the state machine can find them
      eof_ = true;
      buffer_.assign(keep + kPadding, 0);
      std::memcpy(buffer_.data(), carry_.data(), keep);
      window_ = buffer_.data();
      pos_ = 0;
      end_ = keep;
      return false;
    }
    window_ = chunk.data - keep;
    std::memcpy(window_, carry_.data(), keep);
    pos_ = 0;
    end_ = keep + chunk.size;
    return true;
  }
  if (keep == kBuffer) return false;  // a record longer than the buffer: the state machine copes
  std::memmove(window_, window_ + pos_, keep);
  pos_ = 0;
  end_ = keep;
  std::size_t got = read_(window_ + keep, kBuffer - keep);
  if (got == 0) eof_ = true;
  end_ += got;
  return got > 0;
}

void CsvReader::malformed(std::string why) { malformed_why_ = std::move(why); }

void CsvReader::skip_rest_of_line() {
  while (pos_ < end_ || refill()) {
    char c = window_[pos_++];
    if (c == '\n') {
      ++line_;
      return;
    }
  }
}

// A record ends at LF, CRLF or a lone CR; the last field ends with it.
CsvReader::Parse CsvReader::end_line(char c) {
  if (c == '\r') {
    if (pos_ == end_) refill();
    if (pos_ < end_ && window_[pos_] == '\n') ++pos_;
  }
  ++line_;
  field_ends_.push_back(record_.size());
  return Parse::Record;
}

CsvReader::Parse CsvReader::parse_record() {
  if (parse_plain_record()) return Parse::Record;
  Parse got = parse_quoted_record();
  fields_ = record_.data();
  return got;
}

bool CsvReader::parse_plain_record() {
  field_ends_.clear();
  std::size_t scanned = pos_;  // bytes before this are plain, their delimiters recorded
  for (;;) {
    const char* base = window_;
    while (scanned < end_) {
      const Block block = classify(base + scanned, end_ - scanned, options_.delimiter);
      const std::uint32_t before = block.newline ? (block.newline & (0u - block.newline)) - 1 : ~0u;
      if (block.quote_or_cr & before) return false;
      for (std::uint32_t d = block.delimiter & before; d; d &= d - 1)
        field_ends_.push_back(scanned + static_cast<std::size_t>(__builtin_ctz(d)) - pos_);
      if (block.newline) {
        const std::size_t at = scanned + static_cast<std::size_t>(__builtin_ctz(block.newline));
        field_ends_.push_back(at - pos_);
        fields_ = base + pos_;
        record_line_ = line_++;
        pos_ = at + 1;
        return true;
      }
      scanned += block.width;
    }
    // The record runs past the buffer: move it to the front and read more after it.
    const std::size_t have = end_ - pos_;
    if (!compact_and_refill()) return false;
    scanned = have;
  }
}

CsvReader::Parse CsvReader::parse_quoted_record() {
  enum State { FieldStart, Unquoted, Quoted, QuoteInQuoted } state = FieldStart;
  record_.clear();
  field_ends_.clear();
  record_line_ = line_;
  std::uint64_t quote_line = 0;
  bool any = false;
  const char delimiter = options_.delimiter;
  for (;;) {
    if (pos_ == end_ && !refill()) break;
    char c = window_[pos_++];
    any = true;
    switch (state) {
      case FieldStart:
        if (c == '"') {
          state = Quoted;
          quote_line = line_;
          break;
        }
        state = Unquoted;
        [[fallthrough]];
      case Unquoted:
        if (c == delimiter) {
          field_ends_.push_back(record_.size());
          record_.push_back(delimiter);  // keeps field i at field_ends_[i - 1] + 1, as in the buffer
          state = FieldStart;
        } else if (c == '\n' || c == '\r') {
          return end_line(c);
        } else if (c == '"') {
          malformed("a quote inside an unquoted field; quote the whole field and double inner quotes");
          return Parse::Malformed;
        } else {
          // Copy the run of plain bytes in one go: most fields have no quotes or delimiters.
          std::size_t start = pos_ - 1, stop = pos_;
          while (stop < end_ && !special_[static_cast<unsigned char>(window_[stop])]) ++stop;
          record_.append(window_ + start, stop - start);
          pos_ = stop;
        }
        break;
      case Quoted:
        if (c == '"') {
          state = QuoteInQuoted;
        } else {
          if (c == '\n') ++line_;
          // Copy up to the next quote or newline in one go.
          std::size_t start = pos_ - 1, stop = pos_;
          while (stop < end_ && window_[stop] != '"' && window_[stop] != '\n') ++stop;
          record_.append(window_ + start, stop - start);
          pos_ = stop;
        }
        break;
      case QuoteInQuoted:
        if (c == '"') {
          record_.push_back('"');
          state = Quoted;
        } else if (c == delimiter) {
          field_ends_.push_back(record_.size());
          record_.push_back(delimiter);
          state = FieldStart;
        } else if (c == '\n' || c == '\r') {
          return end_line(c);
        } else {
          malformed("text after a closing quote; double a quote that belongs inside the field");
          --pos_;  // let skip_rest_of_line see this byte (it may be the newline-free tail)
          return Parse::Malformed;
        }
        break;
    }
  }
  if (!any) return Parse::End;
  if (state == Quoted) {
    malformed(fmt::format("quoted field opened on line {} never closes before the end of the data", quote_line));
    return Parse::Malformed;
  }
  field_ends_.push_back(record_.size());  // last record without a final newline
  return Parse::Record;
}

bool CsvReader::next() {
  for (;;) {
    Parse got = parse_record();
    if (got == Parse::End) return false;
    if (got == Parse::Record) {
      if (field_ends_.size() == header_.size()) {
        ++records_;
        return true;
      }
      malformed(fmt::format("{} fields where the header has {}", field_ends_.size(), header_.size()));
    } else {
      skip_rest_of_line();
    }
    std::string why = fmt::format("{}:{}: {}", name_, record_line_, malformed_why_);
    if (!options_.skip_malformed) fail("{} (fix the file, or ask to skip malformed rows)", why);
    ++skipped_;
    if (skip_examples_.size() < 5) skip_examples_.push_back(std::move(why));
  }
}

void CsvReader::fail_field(std::size_t index, std::string_view why) const {
  fail("{}:{}: column '{}' ('{}'): {}", name_, record_line_, index < header_.size() ? header_[index] : "?",
       field(index), why);
}

std::optional<std::int64_t> CsvReader::parse_integer(std::size_t index) const {
  std::string_view text = field(index);
  if (text.size() <= 18) {  // plain unsigned decimals (ids, counts) without the generality of from_chars
    std::uint64_t value = 0;
    bool plain = true;
    for (char c : text) {
      const unsigned digit = static_cast<unsigned char>(c) - unsigned{'0'};
      plain = plain && digit <= 9;
      value = value * 10 + digit;
    }
    if (plain) return static_cast<std::int64_t>(value);
  }
  std::int64_t value = 0;  // signs, spaces, overflow: as std::from_chars judges them
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) fail_field(index, "not a whole number");
  return value;
}

std::optional<double> CsvReader::number(std::size_t index) const {
  std::string_view text = field(index);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) fail_field(index, "not a number");
  return value;
}

}  // namespace rxlm
