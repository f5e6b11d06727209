// CsvReader: a vectorised split of plain records in place, and a byte-at-a-time RFC 4180 state
// machine for the rest, over a refillable buffer.
#include "rxlm/io/csv.h"

#include <bit>
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
constexpr std::size_t kPadding = 64;  // readable bytes past the data, so 64-byte loads never leave the buffer

// Where the structural bytes are among the (up to) 64 bytes at `bytes`: bit i stands for byte i; bits
// for bytes at or past `left` are clear.
[[gnu::always_inline]] inline CsvReader::Block classify(const char* bytes, std::size_t left, char delimiter) {
  CsvReader::Block block;
  const std::uint64_t valid = left >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << left) - 1;
#ifdef __AVX2__
  const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes));  // may read padding
  const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + 32));
  auto mask = [](__m256i lo, __m256i hi) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(hi))) << 32) |
           static_cast<std::uint32_t>(_mm256_movemask_epi8(lo));
  };
  auto equal = [&](const __m256i v, char c) { return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c)); };
  block.newline = mask(equal(low, '\n'), equal(high, '\n')) & valid;
  block.quote_or_cr = mask(_mm256_or_si256(equal(low, '"'), equal(low, '\r')),
                           _mm256_or_si256(equal(high, '"'), equal(high, '\r'))) & valid;
  block.delimiter = mask(equal(low, delimiter), equal(high, delimiter)) & valid;
#else
  for (std::size_t i = 0; i < std::min<std::size_t>(left, 64); ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
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
    : CsvReader(std::move(name), std::move(read), nullptr, options, nullptr) {}

CsvReader::CsvReader(std::string name, std::shared_ptr<ChunkSource> chunks, CsvOptions options,
                     const std::vector<std::string>* header)
    : CsvReader(std::move(name), nullptr, std::move(chunks), options, header) {}

CsvReader::CsvReader(std::string name, ReadFn read, std::shared_ptr<ChunkSource> file, CsvOptions options,
                     const std::vector<std::string>* header)
    : name_(std::move(name)), read_(std::move(read)), file_(std::move(file)), options_(options) {
  if (!file_) {
    buffer_.assign(kBuffer + kPadding, 0);
    window_ = buffer_.data();
  }
  for (char c : {options_.delimiter, '\n', '\r', '"'}) special_[static_cast<unsigned char>(c)] = true;
  if (header) {
    header_ = *header;
    return;
  }
  // The header is parsed strictly even when data rows may be skipped: without it nothing can be found.
  Parse got = parse_record();
  if (got == Parse::End) fail("{}: empty file; expected a header line naming the columns", name_);
  if (got == Parse::Malformed) fail("{}:1: malformed header ({})", name_, malformed_why_);
  for (std::size_t i = 0; i < field_count_; ++i) header_.emplace_back(field(i));
  if (header_[0].starts_with("\xEF\xBB\xBF")) header_[0].erase(0, 3);  // UTF-8 BOM
}

CsvReader::~CsvReader() = default;
CsvReader::CsvReader(CsvReader&&) noexcept = default;

CsvReader CsvReader::open(const std::filesystem::path& path, CsvOptions options) {
  return CsvReader(path.string(), nullptr, std::make_shared<GzipFile>(path), options, nullptr);
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
  resume_at_ = SIZE_MAX;  // block_ describes the old bytes
  if (eof_) return false;
  pos_ = 0;
  if (file_) {
    const ChunkSource::View chunk = file_->next_chunk();
    window_ = chunk.data;
    end_ = chunk.size;
    received_ += chunk.size;
  } else {
    end_ = read_(window_, kBuffer);
  }
  if (end_ == 0) eof_ = true;
  return end_ > 0;
}

// Puts the unread bytes in front of more data (the next chunk's headroom, or the front of buffer_);
// false when nothing more came or the unread bytes do not fit (the state machine copes then).
bool CsvReader::compact_and_refill() {
  resume_at_ = SIZE_MAX;  // block_ describes the old bytes
  if (eof_) return false;
  const std::size_t keep = end_ - pos_;
  if (file_) {
    if (keep > ChunkSource::kHeadroom) return false;
    carry_.assign(window_ + pos_, keep);  // the chunk it is in goes back to the inflater next
    const ChunkSource::View chunk = file_->next_chunk();
    received_ += chunk.size;
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

double CsvReader::fraction_read() const {
  if (!file_ || file_->expected_size() == 0) return 0;
  const std::uint64_t read = received_ - std::min<std::uint64_t>(received_, end_ - pos_);
  return static_cast<double>(read) / static_cast<double>(file_->expected_size());
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
  field_count_ = field_ends_.size();
  return got;
}

// Works on local copies of the members: the field ends it stores are of the same type as most of
// them, and the compiler would otherwise reload them after every store.
bool CsvReader::parse_plain_record() {
  const char delimiter = options_.delimiter;
  const std::size_t keep = keep_;
  std::size_t begin = pos_, at = block_at_;
  Block block = block_;
  if (begin != resume_at_) {  // not where the last plain record ended: classify afresh
    at = begin;
    block = begin < end_ ? classify(window_ + begin, end_ - begin, delimiter) : Block{};
  }
  resume_at_ = SIZE_MAX;  // set again only when this record ends in the block
  std::size_t count = 0;  // fields ended so far; the ends of the first `keep` are recorded
  for (;;) {
    for (;;) {
      if (std::min(count, keep) + 65 > field_ends_.size()) field_ends_.resize(2 * std::min(count, keep) + 65);
      std::size_t* ends = field_ends_.data();
      const std::uint64_t newline = block.newline & (0 - block.newline);  // the first one
      const std::uint64_t before = newline ? newline - 1 : ~std::uint64_t{0};
      if (block.quote_or_cr & before) return false;
      std::uint64_t delimiters = block.delimiter & before;
      if (count < keep) {
        // Eight ends at a time, whether there are that many or not (the room is there): a branch per
        // field would be mispredicted. Ends past `keep` are written but never read.
        const std::size_t offset = at - begin;  // wraps when the block started before the record: fine
        std::size_t* out = ends + count;
        for (std::uint64_t left = delimiters; left; out += 8) {
          for (int k = 0; k < 8; ++k) {
            out[k] = offset + static_cast<std::size_t>(std::countr_zero(left));
            left &= left - 1;
            asm("" : "+r"(left));  // keeps the compiler from turning the 8 steps back into branches
          }
        }
      }
      count += static_cast<std::size_t>(std::popcount(delimiters));
      if (newline) {
        const std::size_t stop = at + static_cast<std::size_t>(__builtin_ctzll(newline));
        if (count < keep) ends[count] = stop - begin;
        field_count_ = count + 1;
        fields_ = window_ + begin;
        record_line_ = line_++;
        pos_ = stop + 1;
        const std::uint64_t rest = ~(before | newline);  // the bytes after this record
        block_ = {block.newline & rest, block.quote_or_cr & rest, block.delimiter & rest};
        block_at_ = at;
        resume_at_ = pos_;
        return true;
      }
      if (at + 64 >= end_) break;
      at += 64;
      // The chunk was just written by the inflating thread on the other core: ask for its lines
      // early (measured: ~0.1 CPU-s less over the prescriptions table).
      __builtin_prefetch(window_ + at + 1024);
      block = classify(window_ + at, end_ - at, delimiter);
    }
    // The record runs past the data: move it to the front and read more after it.
    const std::size_t have = end_ - begin;
    if (!compact_and_refill()) return false;
    begin = pos_;  // 0
    at = have;     // the first `have` bytes are scanned: plain, their delimiters counted
    block = have < end_ ? classify(window_ + have, end_ - have, delimiter) : Block{};
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
      if (field_count_ == header_.size()) {
        ++records_;
        return true;
      }
      malformed(fmt::format("{} fields where the header has {}", field_count_, header_.size()));
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
