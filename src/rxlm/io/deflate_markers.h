// A small deflate (RFC 1951) decoder that can start in the middle of a stream. The 32 KiB of output
// before its start are unknown there, so it emits 16-bit symbols: a byte (< 256) or a marker
// kMarker + i naming byte i of that unknown window; back-references copy markers like bytes. Once the
// window before the current block boundary holds no markers, a fast decoder (ISA-L) can take over with
// that window as its dictionary, and the markers are resolved later from the preceding part's output.
// Also finds plausible block starts (dynamic-Huffman headers whose codes are valid and complete).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace rxlm::deflate {

inline constexpr std::size_t kWindow = 32768;
inline constexpr std::uint16_t kMarker = 0x8000;  // kMarker + i: byte i of the unknown window before the start

// Compressed bytes held by the caller; bit b is bit (b % 8) of byte b / 8, as deflate reads them.
struct Bits {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;  // bytes
};

// A speculative decode from `start_bit` to `end_bit` (a block boundary, not after a final block).
struct MarkerRun {
  std::uint64_t start_bit = 0, end_bit = 0;
  std::unique_ptr<std::uint16_t[]> buffer;  // kWindow markers (the unknown window), then the output
  std::size_t size = 0;                     // output symbols; the last kWindow are bytes, never markers
  std::size_t marker_free_from = 0;         // output()[marker_free_from..] holds no markers
  const std::uint16_t* output() const { return buffer.get() + kWindow; }
};

// True when a block with BFINAL = 0 and dynamic Huffman codes could begin at `bit`: the code-length
// code, the literal/length code and the distance code are all valid and complete and end-of-block has a
// code. A cheap filter: most bit positions fail in the first few checks.
bool plausible_dynamic_block(Bits in, std::uint64_t bit);

struct MarkerLimits {
  std::size_t max_symbols = std::size_t{32} << 20;  // give up after this much output
  // From census_from symbols on, every census_every symbols: give up when more than census_max_markers
  // of the last kWindow symbols are markers (in shuffled rows markers copy themselves on for ever).
  std::size_t census_from = std::size_t{8} << 20, census_every = std::size_t{1} << 20;
  std::size_t census_max_markers = 2500;
};

struct MarkerOutcome {
  enum Status {
    kNotABlock,  // invalid data in the first block: `start_bit` was no block start
    kGaveUp,     // valid data, but no marker-free window within the limits (or corrupt / final later)
    kFound,
  };
  Status status = kNotABlock;
  MarkerRun run;  // when kFound
};

// Decodes whole blocks from `start_bit` with markers for the unknown window, until at a block boundary
// the last kWindow symbols hold no markers.
MarkerOutcome decode_with_markers(Bits in, std::uint64_t start_bit, const MarkerLimits& limits);

// Tries each bit in [from_bit, to_bit) where a plausible dynamic block begins (plausible_dynamic_block)
// until one is no false candidate; kNotABlock when none.
MarkerOutcome find_marker_run(Bits in, std::uint64_t from_bit, std::uint64_t to_bit, const MarkerLimits& limits);

// For tests: the bit offset of every block in a raw deflate stream starting at `start_bit` (the first
// block), and its output; nothing when the stream is invalid or cut short.
struct BlockMap {
  std::vector<std::uint64_t> block_starts;
  std::vector<std::uint8_t> output;
  std::uint64_t end_bit = 0;  // after the final block
};
std::optional<BlockMap> map_blocks(Bits in, std::uint64_t start_bit, std::size_t max_output);

}  // namespace rxlm::deflate
