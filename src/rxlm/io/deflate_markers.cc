// Deflate decoding with placeholders for an unknown window (see deflate_markers.h). Speed matters less
// than in ISA-L: it decodes only until its window is marker-free (typically well under a MiB of output).
#include "rxlm/io/deflate_markers.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace rxlm::deflate {
namespace {

std::uint64_t load_u64(const std::uint8_t* p) {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;  // x86-64: little endian, as deflate's bit order wants
}

// LSB-first bit reader with a 64-bit buffer. Past the end of the input it reads zero bits; callers
// detect that with overran() at block ends (garbage decoded meanwhile is bounded by their output cap).
class BitReader {
 public:
  BitReader(Bits in, std::uint64_t bit) : data_(in.data), size_(in.size) { seek(bit); }

  void seek(std::uint64_t bit) {
    next_ = bit / 8;
    bits_ = 0;
    count_ = 0;
    refill();
    drop(static_cast<int>(bit % 8));
  }
  // Afterwards at least 56 bits are buffered.
  void refill() {
    if (next_ + 8 <= size_) {
      bits_ |= load_u64(data_ + next_) << count_;
      next_ += (63 - count_) >> 3;
      count_ |= 56;
      return;
    }
    while (count_ <= 56) {
      std::uint64_t byte = next_ < size_ ? data_[next_] : 0;
      bits_ |= byte << count_;
      ++next_;
      count_ += 8;
    }
  }
  std::uint32_t peek(int n) const { return static_cast<std::uint32_t>(bits_ & ((std::uint64_t{1} << n) - 1)); }
  void drop(int n) {
    bits_ >>= n;
    count_ -= n;
  }
  std::uint32_t take(int n) {
    std::uint32_t value = peek(n);
    drop(n);
    return value;
  }
  std::uint64_t position() const { return next_ * 8 - static_cast<std::uint64_t>(count_); }
  bool overran() const { return position() > std::uint64_t{size_} * 8; }
  void align_to_byte() { drop(static_cast<int>((8 - position() % 8) % 8)); }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t next_ = 0;
  std::uint64_t bits_ = 0;
  int count_ = 0;
};

// A canonical Huffman code: codes up to kFastBits long decode with one table look-up, longer ones
// bit by bit (puff's method).
class Huffman {
 public:
  static constexpr int kFastBits = 10;
  enum class Shape { kComplete, kCompleteOrSingle };  // zlib also accepts a lone 1-bit code or none

  bool build(const std::uint8_t* lengths, int n, Shape shape) {
    std::fill(std::begin(count_), std::end(count_), 0);
    for (int i = 0; i < n; ++i) ++count_[lengths[i]];
    count_[0] = 0;
    int left = 1, codes = 0;
    for (int len = 1; len <= 15; ++len) {
      left = (left << 1) - count_[len];
      if (left < 0) return false;  // over-subscribed
      codes += count_[len];
    }
    if (left > 0 && !(shape == Shape::kCompleteOrSingle && (codes == 0 || (codes == 1 && count_[1] == 1))))
      return false;
    std::array<std::uint16_t, 17> offset{};
    for (int len = 1; len <= 15; ++len) offset[len + 1] = offset[len] + count_[len];
    for (int symbol = 0; symbol < n; ++symbol)
      if (lengths[symbol]) symbol_[offset[lengths[symbol]]++] = static_cast<std::uint16_t>(symbol);
    fill_fast_table();
    return true;
  }

  // A symbol, or -1 for a bit pattern that is no code. Needs 15 buffered bits.
  int decode(BitReader& r) const {
    std::uint16_t entry = fast_[r.peek(kFastBits)];
    if (entry) {
      r.drop(entry & 15);
      return entry >> 4;
    }
    return decode_slow(r);
  }

 private:
  void fill_fast_table() {
    std::fill(std::begin(fast_), std::end(fast_), 0);
    unsigned code = 0, index = 0;
    for (int len = 1; len <= kFastBits; ++len) {
      for (int k = 0; k < count_[len]; ++k, ++code, ++index) {
        unsigned reversed = 0;
        for (int b = 0; b < len; ++b) reversed |= ((code >> b) & 1u) << (len - 1 - b);
        auto entry = static_cast<std::uint16_t>((symbol_[index] << 4) | len);
        for (unsigned i = reversed; i < (1u << kFastBits); i += 1u << len) fast_[i] = entry;
      }
      code <<= 1;
    }
  }

  int decode_slow(BitReader& r) const {
    std::uint32_t bits = r.peek(15);
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= 15; ++len) {
      code |= static_cast<int>(bits & 1);
      bits >>= 1;
      int count = count_[len];
      if (code - first < count) {
        r.drop(len);
        return symbol_[index + code - first];
      }
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    return -1;
  }

  std::uint16_t fast_[1 << kFastBits];  // symbol << 4 | length; 0: a longer code or none
  std::uint16_t count_[16];
  std::uint16_t symbol_[288];
};

constexpr std::uint8_t kCodeLengthOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
constexpr std::uint16_t kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                           31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::uint8_t kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                           2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::uint16_t kDistanceBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                             33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                             1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::uint8_t kDistanceExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                             6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// Reads a dynamic block's code definitions (after the 3 header bits). `strict`: the codes must be
// complete (what a block finder demands); otherwise zlib's leniency applies.
bool read_dynamic_codes(BitReader& r, Huffman& literals, Huffman& distances, bool strict) {
  r.refill();
  const int nlit = static_cast<int>(r.take(5)) + 257, ndist = static_cast<int>(r.take(5)) + 1;
  const int nclen = static_cast<int>(r.take(4)) + 4;
  if (nlit > 286 || ndist > 30) return false;
  std::uint8_t clen[19] = {};
  for (int i = 0; i < nclen; ++i) {
    if (i == 10) r.refill();
    clen[kCodeLengthOrder[i]] = static_cast<std::uint8_t>(r.take(3));
  }
  Huffman precode;
  if (!precode.build(clen, 19, Huffman::Shape::kComplete)) return false;
  std::uint8_t lengths[286 + 30];
  for (int i = 0; i < nlit + ndist;) {
    r.refill();
    int symbol = precode.decode(r);
    if (symbol < 0) return false;
    if (symbol < 16) {
      lengths[i++] = static_cast<std::uint8_t>(symbol);
      continue;
    }
    std::uint8_t value = 0;
    int repeat = 0;
    if (symbol == 16) {
      if (i == 0) return false;
      value = lengths[i - 1];
      repeat = 3 + static_cast<int>(r.take(2));
    } else if (symbol == 17) {
      repeat = 3 + static_cast<int>(r.take(3));
    } else {
      repeat = 11 + static_cast<int>(r.take(7));
    }
    if (i + repeat > nlit + ndist) return false;
    std::fill(lengths + i, lengths + i + repeat, value);
    i += repeat;
  }
  if (lengths[256] == 0) return false;  // no end-of-block code
  const auto shape = strict ? Huffman::Shape::kComplete : Huffman::Shape::kCompleteOrSingle;
  return literals.build(lengths, nlit, shape) && distances.build(lengths + nlit, ndist, shape);
}

const Huffman& fixed_literals() {
  static const Huffman code = [] {
    std::uint8_t lengths[288];
    std::fill(lengths, lengths + 144, 8);
    std::fill(lengths + 144, lengths + 256, 9);
    std::fill(lengths + 256, lengths + 280, 7);
    std::fill(lengths + 280, lengths + 288, 8);
    Huffman h;
    h.build(lengths, 288, Huffman::Shape::kComplete);
    return h;
  }();
  return code;
}

const Huffman& fixed_distances() {
  static const Huffman code = [] {
    std::uint8_t lengths[32];
    std::fill(lengths, lengths + 32, 5);
    Huffman h;
    h.build(lengths, 32, Huffman::Shape::kComplete);
    return h;
  }();
  return code;
}

// Decodes block after block into a symbol buffer whose first kWindow entries are the markers.
class MarkerDecoder {
 public:
  enum class Block { kDecoded, kFinal, kInvalid, kFull };

  MarkerDecoder(Bits in, std::uint64_t start_bit, std::size_t max_symbols)
      : reader_(in, start_bit),
        capacity_(kWindow + max_symbols),
        buffer_(std::make_unique_for_overwrite<std::uint16_t[]>(capacity_ + 258)) {
    for (std::size_t i = 0; i < kWindow; ++i) buffer_[i] = static_cast<std::uint16_t>(kMarker + i);
  }

  Block decode_block() {
    reader_.refill();
    const bool final = reader_.take(1) != 0;
    const std::uint32_t type = reader_.take(2);
    bool ok = false;
    if (type == 0) {
      ok = copy_stored();
    } else if (type == 1) {
      ok = decode_huffman(fixed_literals(), fixed_distances());
    } else if (type == 2) {
      ok = read_dynamic_codes(reader_, literals_, distances_, false) && decode_huffman(literals_, distances_);
    }
    if (full_) return Block::kFull;
    if (!ok || reader_.overran()) return Block::kInvalid;
    return final ? Block::kFinal : Block::kDecoded;
  }

  // At a block boundary: true when the last kWindow symbols are bytes.
  bool window_known() const { return size_ - last_marker_end_ >= kWindow; }
  std::uint64_t position() const { return reader_.position(); }
  std::size_t size() const { return size_; }  // including the kWindow markers at the front
  std::size_t last_marker_end() const { return last_marker_end_; }
  std::size_t markers_in_window() const {
    std::size_t markers = 0;
    for (std::size_t i = size_ - kWindow; i < size_; ++i) markers += buffer_[i] >> 15;
    return markers;
  }
  std::unique_ptr<std::uint16_t[]> release() { return std::move(buffer_); }

 private:
  bool copy_stored() {
    reader_.align_to_byte();
    reader_.refill();
    const std::uint32_t length = reader_.take(16), complement = reader_.take(16);
    if ((length ^ 0xffff) != complement) return false;
    const std::uint64_t byte = reader_.position() / 8;
    if (byte + length > reader_.size()) return false;
    if (size_ + length > capacity_) {
      full_ = true;
      return false;
    }
    const std::uint8_t* from = reader_.data() + byte;
    for (std::uint32_t i = 0; i < length; ++i) buffer_[size_ + i] = from[i];
    size_ += length;
    reader_.seek((byte + length) * 8);
    return true;
  }

  bool decode_huffman(const Huffman& literals, const Huffman& distances) {
    std::uint16_t* out = buffer_.get();
    std::size_t size = size_;
    for (;;) {
      if (size >= capacity_) {
        size_ = size;
        full_ = true;
        return false;
      }
      reader_.refill();
      int symbol = literals.decode(reader_);
      if (symbol < 256) {
        if (symbol < 0) break;
        out[size++] = static_cast<std::uint16_t>(symbol);
        continue;
      }
      if (symbol == 256) {
        size_ = size;
        return true;
      }
      symbol -= 257;
      if (symbol >= 29) break;
      const std::uint32_t length = kLengthBase[symbol] + reader_.take(kLengthExtra[symbol]);
      const int code = distances.decode(reader_);
      if (code < 0 || code >= 30) break;
      const std::uint32_t distance = kDistanceBase[code] + reader_.take(kDistanceExtra[code]);
      if (distance > size) break;  // reaches before the unknown window: not deflate data from here
      const std::uint16_t* from = out + size - distance;
      std::uint16_t* to = out + size;
      std::uint16_t seen = 0;
      for (std::uint32_t i = 0; i < length; ++i) {  // forward, so overlapping copies repeat (deflate's rule)
        to[i] = from[i];
        seen |= to[i];
      }
      size += length;
      if (seen & kMarker) last_marker_end_ = size;
    }
    size_ = size;
    return false;
  }

  BitReader reader_;
  std::size_t capacity_;
  std::unique_ptr<std::uint16_t[]> buffer_;
  std::size_t size_ = kWindow;
  std::size_t last_marker_end_ = kWindow;  // the markers in front count as used
  bool full_ = false;
  Huffman literals_, distances_;
};

}  // namespace

bool plausible_dynamic_block(Bits in, std::uint64_t bit) {
  const std::size_t byte = bit / 8;
  if (byte + 24 > in.size) return false;  // too near the end to be worth a split
  const std::uint64_t head = load_u64(in.data + byte) >> (bit % 8);
  if ((head & 7) != 4) return false;  // BFINAL = 0, BTYPE = 10 (dynamic)
  if (((head >> 3) & 31) > 29 || ((head >> 8) & 31) > 29) return false;
  // The code-length code must be complete: a cheap test that rejects nearly all of the remaining bits.
  const int nclen = static_cast<int>((head >> 13) & 15) + 4;
  const std::uint64_t lengths_bits = load_u64(in.data + (bit + 17) / 8) >> ((bit + 17) % 8);
  int kraft = 0;  // in units of 2^-7
  for (int i = 0; i < nclen; ++i) {
    const int len = static_cast<int>((lengths_bits >> (3 * i)) & 7);
    if (len) kraft += 128 >> len;
  }
  if (kraft != 128) return false;
  BitReader reader(in, bit + 3);
  Huffman literals, distances;
  return read_dynamic_codes(reader, literals, distances, true) && !reader.overran();
}

MarkerOutcome decode_with_markers(Bits in, std::uint64_t start_bit, const MarkerLimits& limits) {
  MarkerOutcome outcome;
  MarkerDecoder decoder(in, start_bit, limits.max_symbols);
  std::size_t next_census = limits.census_from;
  for (int blocks = 0;; ++blocks) {
    const auto block = decoder.decode_block();
    if (block != MarkerDecoder::Block::kDecoded) {
      // One bad block right at the start: a false candidate. Later: corrupt data, or a window that
      // stays unknown (or the final block) - no later candidate would fare better.
      outcome.status = block == MarkerDecoder::Block::kInvalid && blocks == 0 ? MarkerOutcome::kNotABlock
                                                                              : MarkerOutcome::kGaveUp;
      return outcome;
    }
    if (decoder.window_known()) break;
    if (decoder.size() >= next_census) {
      // Markers copied on and on sustain themselves in some data (shuffled rows): stop early when the
      // window is still full of them.
      if (decoder.markers_in_window() > limits.census_max_markers) {
        outcome.status = MarkerOutcome::kGaveUp;
        return outcome;
      }
      next_census = decoder.size() + limits.census_every;
    }
  }
  outcome.status = MarkerOutcome::kFound;
  MarkerRun& run = outcome.run;
  run.start_bit = start_bit;
  run.end_bit = decoder.position();
  run.size = decoder.size() - kWindow;
  run.marker_free_from = decoder.last_marker_end() - kWindow;
  run.buffer = decoder.release();
  return outcome;
}

MarkerOutcome find_marker_run(Bits in, std::uint64_t from_bit, std::uint64_t to_bit, const MarkerLimits& limits) {
  for (std::uint64_t bit = from_bit; bit < to_bit; ++bit) {
    if (!plausible_dynamic_block(in, bit)) continue;
    MarkerOutcome outcome = decode_with_markers(in, bit, limits);
    if (outcome.status != MarkerOutcome::kNotABlock) return outcome;
  }
  return {};
}

std::optional<BlockMap> map_blocks(Bits in, std::uint64_t start_bit, std::size_t max_output) {
  BlockMap map;
  MarkerDecoder decoder(in, start_bit, max_output);
  for (;;) {
    map.block_starts.push_back(decoder.position());
    const auto block = decoder.decode_block();
    if (block == MarkerDecoder::Block::kDecoded) continue;
    if (block != MarkerDecoder::Block::kFinal) return std::nullopt;
    break;
  }
  if (decoder.last_marker_end() != kWindow) return std::nullopt;  // referred to data before the stream
  map.end_bit = decoder.position();
  const std::size_t size = decoder.size() - kWindow;
  auto buffer = decoder.release();
  map.output.resize(size);
  for (std::size_t i = 0; i < size; ++i) map.output[i] = static_cast<std::uint8_t>(buffer[kWindow + i]);
  return map;
}

}  // namespace rxlm::deflate
