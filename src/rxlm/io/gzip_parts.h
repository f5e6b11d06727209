// One gzip stream inflated on several threads by speculative splitting (the rapidgzip idea, Knespel &
// Brunst 2023): a second decoder starts at a guessed deflate block boundary in the middle of the
// compressed bytes, decodes with placeholders for the unknown 32 KiB window before its start, and hands
// over to ISA-L as soon as its window is fully known; the first decoder must stop exactly at that bit.
// The split is verified (exact block boundary, whole-stream CRC-32 and length), never trusted.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "rxlm/io/gzip.h"

namespace rxlm {

// The split turned out invalid: every part's data must be discarded and the file read serially.
struct GzipSplitFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The inflated bytes of one .gz file as `parts()` consecutive pieces decoded at once, each read by its own
// consumer thread. Part k > 0 begins at an arbitrary byte of the data (not a line start). One part when the
// file is small (< 64 MiB compressed), not gzip, or no split point is found: a split needs a point where
// the speculative decoder's window became free of markers, which some data never allow (rows in random
// order: a few bytes from the file's start are copied on and on). Several gzip members are noticed only
// while inflating: then GzipSplitFailed (or one part, when found before the split was planned).
// Each part needs its own consumer thread: a producer waits while its consumer is a few chunks behind.
class GzipParts {
 public:
  static constexpr std::size_t kDefaultMinCompressed = std::size_t{64} << 20;

  // `min_compressed` (tests only): files smaller than this are not split.
  GzipParts(const std::filesystem::path& path, int wanted_parts /* 2 */,
            std::size_t min_compressed = kDefaultMinCompressed);
  ~GzipParts();  // stops all threads, also when consumers stopped early
  GzipParts(const GzipParts&) = delete;
  GzipParts& operator=(const GzipParts&) = delete;

  int parts() const;
  // Same contract as GzipFile::View / next_chunk(): valid until the next call for the same k; kHeadroom
  // bytes writable before, kPadding readable after; size 0 at the end of part k. Thread-safe across
  // different k (one consumer per part). Throws rxlm::Error on corrupt/truncated data (naming the file),
  // GzipSplitFailed when the split turned out invalid (all parts' data must then be discarded).
  GzipFile::View next_chunk(int k);
  // Call after every part returned size 0: checks CRC32/ISIZE of the whole stream; throws as above.
  void finish();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rxlm
