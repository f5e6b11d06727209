// GzipParts: split points found and decoded speculatively in the constructor (deflate_markers), then one
// producer thread per part inflating with ISA-L (gzip_segment) a few chunks ahead of its consumer.
//
// Part k's producer inflates from its start (the gzip header for k = 0, else the hand-over bit Q_k of its
// marker run) to the start bit P_{k+1} of the next marker run, checks that its decoder stopped exactly
// at a block boundary there (the split's verdict), and appends that run's output with the markers
// replaced by the 32 KiB it inflated last. The last part ends with the member's trailer; finish()
// compares the CRC-32 of all parts (crc32_combine) and their length with it.
#include "rxlm/io/gzip_parts.h"

#include <time.h>
#include <zlib.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#ifdef RXLM_HAVE_ISAL
#include <isa-l/crc.h>
#endif

#include "rxlm/core/error.h"
#include "rxlm/io/gzip_errors.h"
#include "rxlm/io/deflate_markers.h"
#include "rxlm/io/gzip_segment.h"

namespace rxlm {
namespace {

constexpr std::size_t kChunk = ChunkSource::kChunk, kChunksAhead = ChunkSource::kChunksAhead;
// Where a split point is looked for: this many compressed bytes after the guess (zlib's blocks are far
// shorter), and the marker run may need this much more input and output before its window is known.
constexpr std::size_t kSearchBytes = 1 << 20;
constexpr std::size_t kMarkerInputBytes = 15 << 20;  // enough for MarkerLimits::max_symbols at ratio 2+
constexpr int kAttempts = 2;

std::uint32_t crc32_update(std::uint32_t crc, const char* data, std::size_t size) {
#ifdef RXLM_HAVE_ISAL
  return crc32_gzip_refl(crc, reinterpret_cast<const unsigned char*>(data), size);
#else
  return static_cast<std::uint32_t>(::crc32_z(crc, reinterpret_cast<const Bytef*>(data), size));
#endif
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

using gzip_errors::corrupt;

}  // namespace

struct GzipParts::Impl {
  struct Chunk {
    std::unique_ptr<char[]> memory;  // kHeadroom + kChunk + kPadding
    std::size_t size = 0;
    char* data() const { return memory.get() + GzipFile::kHeadroom; }
  };
  enum class Verdict { kPending, kExact, kWrong, kUnknown };  // kUnknown: the part before failed first

  struct Part {
    std::unique_ptr<GzipSegment> segment;
    std::optional<deflate::MarkerRun> next_run;  // the next part's start, appended to this part
    std::deque<Chunk> ready;
    std::vector<Chunk> spare;
    Chunk current;
    bool finished = false;
    std::string error;  // corrupt data met by the producer
    std::uint32_t crc = 0;
    std::uint64_t size = 0;
    Verdict verdict = Verdict::kExact;  // of the split at this part's start (set by the part before)
    double cpu_seconds = 0;             // of the producer thread (RXLM_GZIP_PARTS_TRACE)
    std::thread worker;
  };

  std::string name;
  std::unique_ptr<GzipFile> single;  // when not split
  std::unique_ptr<PositionedFile> file;
  std::vector<std::unique_ptr<Part>> parts;
  std::optional<GzipSegment::Trailer> trailer;
  std::mutex mutex;
  std::condition_variable changed;
  bool split_failed = false, stopping = false;
  bool decided = false;  // plan_splits is done: `parts` is complete (producer 0 starts before)
  double plan_cpu_seconds = 0;
  std::string split_failure;

  bool start(int wanted, std::size_t min_compressed);
  void plan_splits(int wanted);
  std::optional<deflate::MarkerRun> find_run_at(std::uint64_t guess);
  void await_decision();
  void produce(std::size_t k);
  bool push(Part& part, Chunk chunk);  // false when stopping
  Chunk take_spare(Part& part);
  void append_resolved(std::size_t k, const std::uint8_t* window, std::uint64_t bytes_before);
  void mark_split_failed(std::string why);
  [[noreturn]] void throw_failure(std::size_t k, std::unique_lock<std::mutex>& lock);
};

// Starts part 0's producer and plans the splits meanwhile; false (nothing started) when the file is
// not worth splitting: plain, too small, or wanted < 2.
bool GzipParts::Impl::start(int wanted, std::size_t min_compressed) {
#ifndef RXLM_HAVE_ISAL
  (void)wanted, (void)min_compressed;
  return false;
#else
  file = std::make_unique<PositionedFile>(name);
  if (wanted < 2 || file->size() < std::max<std::size_t>(min_compressed, 64)) return false;
  std::uint8_t magic[3] = {};
  if (file->read_at(0, magic, 3) < 3 || magic[0] != 0x1f || magic[1] != 0x8b || magic[2] != 8) return false;
  parts.reserve(static_cast<std::size_t>(wanted));  // no reallocation while producer 0 runs
  parts.push_back(std::make_unique<Part>());
  parts[0]->segment = std::make_unique<GzipSegment>(*file);
  parts[0]->segment->stop_later(file->size() / static_cast<std::uint64_t>(wanted), [this] {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return decided || stopping; });
    return parts.size() > 1 && !stopping ? std::optional(parts[0]->next_run->start_bit) : std::nullopt;
  });
  parts[0]->worker = std::thread([this] { produce(0); });
  try {
    const double cpu = thread_cpu_seconds();
    plan_splits(wanted);
    plan_cpu_seconds = thread_cpu_seconds() - cpu;
  } catch (...) {
    {
      std::lock_guard lock(mutex);
      decided = stopping = true;
    }
    changed.notify_all();
    parts[0]->worker.join();
    throw;
  }
  {
    std::lock_guard lock(mutex);
    decided = true;
  }
  changed.notify_all();
  for (std::size_t k = 1; k < parts.size(); ++k) parts[k]->worker = std::thread([this, k] { produce(k); });
  return true;
#endif
}

// Finds up to wanted - 1 split points, evenly spaced over the compressed bytes, each with its marker
// run; sets up the segments of parts 1.. (none when no split point is found).
void GzipParts::Impl::plan_splits(int wanted) {
  const std::uint64_t size = file->size();
  std::uint64_t after_previous = 0;  // bit after the previous marker run
  const std::uint64_t step = size / (8 * static_cast<std::uint64_t>(wanted));
  for (int j = 1; j < wanted; ++j) {
    // Whether the window becomes free of markers depends on the data near the split: a second try a
    // little later often succeeds where the first gave up (the cost of a try: 20-100 ms).
    std::optional<deflate::MarkerRun> found;
    for (int attempt = 0; attempt < kAttempts && !found; ++attempt) {
      const std::uint64_t guess = size * static_cast<std::uint64_t>(j) / static_cast<std::uint64_t>(wanted) +
                                  step * static_cast<std::uint64_t>(attempt);
      if (guess * 8 < after_previous || guess >= size) break;
      found = find_run_at(guess);
    }
    if (!found) break;
    deflate::MarkerRun run = std::move(*found);
    after_previous = run.end_bit;
    // The window the next part's segment starts with: the run's last kWindow symbols, all bytes.
    std::uint8_t window[deflate::kWindow];
    const std::uint16_t* tail = run.output() + run.size - deflate::kWindow;
    for (std::size_t i = 0; i < deflate::kWindow; ++i) window[i] = static_cast<std::uint8_t>(tail[i]);
    auto next = std::make_unique<Part>();
    next->segment = std::make_unique<GzipSegment>(*file, run.end_bit, window);
    next->verdict = Verdict::kPending;
    std::lock_guard lock(mutex);
    parts.back()->next_run = std::move(run);
    if (parts.size() > 1) parts.back()->segment->stop_at(parts.back()->next_run->start_bit);
    parts.push_back(std::move(next));
  }
}

// A marker run from the first plausible block at or after byte `guess`, with bit offsets in the file.
std::optional<deflate::MarkerRun> GzipParts::Impl::find_run_at(std::uint64_t guess) {
  const std::size_t span =
      static_cast<std::size_t>(std::min<std::uint64_t>(file->size() - guess, kSearchBytes + kMarkerInputBytes));
  auto input = std::make_unique_for_overwrite<std::uint8_t[]>(span);
  if (file->read_at(guess, input.get(), span) != span) return std::nullopt;
  const deflate::Bits bits{input.get(), span};
  deflate::MarkerOutcome found = deflate::find_marker_run(bits, 0, std::min<std::uint64_t>(span, kSearchBytes) * 8, {});
  if (found.status != deflate::MarkerOutcome::kFound) return std::nullopt;
  found.run.start_bit += guess * 8;
  found.run.end_bit += guess * 8;
  return std::move(found.run);
}

// Producers other than part 0's exist only once the plan is done; part 0 waits for it before it
// looks at the other parts.
void GzipParts::Impl::await_decision() {
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return decided; });
}

GzipParts::Impl::Chunk GzipParts::Impl::take_spare(Part& part) {
  Chunk chunk;
  {
    std::lock_guard lock(mutex);
    if (!part.spare.empty()) {
      chunk = std::move(part.spare.back());
      part.spare.pop_back();
    }
  }
  if (!chunk.memory) {
    chunk.memory = std::make_unique_for_overwrite<char[]>(GzipFile::kHeadroom + kChunk + GzipFile::kPadding);
    std::memset(chunk.data() + kChunk, 0, GzipFile::kPadding);
  }
  chunk.size = 0;
  return chunk;
}

bool GzipParts::Impl::push(Part& part, Chunk chunk) {
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return part.ready.size() < kChunksAhead || stopping || split_failed; });
  if (stopping || split_failed) return false;
  part.ready.push_back(std::move(chunk));
  lock.unlock();
  changed.notify_all();
  return true;
}

void GzipParts::Impl::mark_split_failed(std::string why) {
  {
    std::lock_guard lock(mutex);
    if (!split_failed) split_failure = std::move(why);
    split_failed = true;
  }
  changed.notify_all();
}

// The next part's marker-run output with every marker replaced by the byte of `window` it names
// (`window` holds the kWindow bytes inflated just before the run; only `bytes_before` of them exist).
void GzipParts::Impl::append_resolved(std::size_t k, const std::uint8_t* window, std::uint64_t bytes_before) {
  Part& part = *parts[k];
  const deflate::MarkerRun& run = *part.next_run;
  const std::uint16_t* symbols = run.output();
  const std::size_t first_known = bytes_before >= deflate::kWindow ? 0 : deflate::kWindow - bytes_before;
  for (std::size_t done = 0; done < run.size;) {
    Chunk chunk = take_spare(part);
    const std::size_t n = std::min(kChunk, run.size - done);
    char* out = chunk.data();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t symbol = symbols[done + i];
      if (symbol < 256) {
        out[i] = static_cast<char>(symbol);
        continue;
      }
      const std::size_t index = symbol - deflate::kMarker;
      if (index < first_known) fail("{}", corrupt(name, "back-reference before the start of the data"));
      out[i] = static_cast<char>(window[index]);
    }
    chunk.size = n;
    part.crc = crc32_update(part.crc, out, n);
    part.size += n;
    done += n;
    if (!push(part, std::move(chunk))) return;
  }
}

void GzipParts::Impl::produce(std::size_t k) {
  Part& part = *parts[k];
  GzipSegment& segment = *part.segment;
  // The kWindow bytes inflated last; for k > 0 it starts as the window the segment was given.
  std::uint8_t window[deflate::kWindow] = {};
  if (k > 0) {
    const deflate::MarkerRun& run = *parts[k - 1]->next_run;
    const std::uint16_t* tail = run.output() + run.size - deflate::kWindow;
    for (std::size_t i = 0; i < deflate::kWindow; ++i) window[i] = static_cast<std::uint8_t>(tail[i]);
  }
  auto remember = [&window](const char* data, std::size_t n) {
    if (n >= deflate::kWindow) {
      std::memcpy(window, data + n - deflate::kWindow, deflate::kWindow);
    } else {
      std::memmove(window, window + n, deflate::kWindow - n);
      std::memcpy(window + deflate::kWindow - n, data, n);
    }
  };
  std::string error;
  try {
    for (;;) {
      Chunk chunk = take_spare(part);
      chunk.size = segment.fill(chunk.data(), kChunk);
      if (chunk.size == 0) break;
      remember(chunk.data(), chunk.size);
      if (!push(part, std::move(chunk))) return;
    }
    part.crc = segment.crc32();
    part.size = segment.total_out();
    await_decision();
    const bool last = k + 1 == parts.size();
    if (!last) {
      const bool exact = segment.stopped_at_boundary();
      {
        std::lock_guard lock(mutex);
        parts[k + 1]->verdict = exact ? Verdict::kExact : Verdict::kWrong;
      }
      if (!exact) {
        mark_split_failed(fmt::format("{}: the deflate block found at bit {} is not a block boundary", name,
                                      part.next_run->start_bit));
        return;
      }
      const std::uint64_t before = k == 0 ? part.size : std::uint64_t{deflate::kWindow} + part.size;
      append_resolved(k, window, before);
    } else if (segment.trailer()) {  // (none when part 0 read the whole file: no split was found)
      if (segment.trailer()->another_member) {
        mark_split_failed(fmt::format("{}: more than one gzip member", name));
        return;
      }
      std::lock_guard lock(mutex);
      trailer = segment.trailer();
    }
  } catch (const Error& e) {
    error = e.what();
  }
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return decided; });
    part.cpu_seconds = thread_cpu_seconds();
    part.finished = true;
    part.error = std::move(error);
    if (k + 1 < parts.size() && parts[k + 1]->verdict == Verdict::kPending) parts[k + 1]->verdict = Verdict::kUnknown;
  }
  changed.notify_all();
}

// Throws for part k after its producer failed: GzipSplitFailed when a split before it proved wrong
// (the error may stem from a false split point), else the error.
void GzipParts::Impl::throw_failure(std::size_t k, std::unique_lock<std::mutex>& lock) {
  changed.wait(lock, [&] {
    if (split_failed || stopping) return true;
    for (std::size_t j = 1; j <= k; ++j)
      if (parts[j]->verdict == Verdict::kPending) return false;
    return true;
  });
  if (split_failed) throw GzipSplitFailed(split_failure);
  std::string error = parts[k]->error;
  for (std::size_t j = 0; j < k && error.empty(); ++j) error = parts[j]->error;
  throw Error(error.empty() ? corrupt(name, "a part failed") : error);
}

GzipParts::GzipParts(const std::filesystem::path& path, int wanted_parts, std::size_t min_compressed)
    : impl_(std::make_unique<Impl>()) {
  impl_->name = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file; check the path", impl_->name);
  if (!impl_->start(wanted_parts, min_compressed)) {
    impl_->parts.clear();
    impl_->file.reset();
    impl_->single = std::make_unique<GzipFile>(path);
    return;
  }
}

GzipParts::~GzipParts() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->changed.notify_all();
  for (auto& part : impl_->parts)
    if (part->worker.joinable()) part->worker.join();
  if (std::getenv("RXLM_GZIP_PARTS_TRACE") && !impl_->parts.empty()) {
    std::string line = fmt::format("{}: {} part(s), plan {:.3f} CPU-s", impl_->name, impl_->parts.size(),
                                   impl_->plan_cpu_seconds);
    for (std::size_t k = 0; k < impl_->parts.size(); ++k) {
      const auto& part = *impl_->parts[k];
      line += fmt::format("; part {}: {:.3f} CPU-s, {} MiB", k, part.cpu_seconds, part.size >> 20);
      if (part.next_run)
        line += fmt::format(" + run of {} KiB from bit {}", part.next_run->size >> 10, part.next_run->start_bit);
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

int GzipParts::parts() const { return impl_->single ? 1 : static_cast<int>(impl_->parts.size()); }

GzipFile::View GzipParts::next_chunk(int k) {
  if (impl_->single) {
    if (k != 0) fail("{}: part {} of 1", impl_->name, k);
    return impl_->single->next_chunk();
  }
  if (k < 0 || k >= parts()) fail("{}: part {} of {}", impl_->name, k, parts());
  Impl::Part& part = *impl_->parts[static_cast<std::size_t>(k)];
  std::unique_lock lock(impl_->mutex);
  if (part.current.memory) part.spare.push_back(std::move(part.current));
  part.current = Impl::Chunk{};
  impl_->changed.wait(lock, [&] { return !part.ready.empty() || part.finished || impl_->split_failed; });
  if (impl_->split_failed) throw GzipSplitFailed(impl_->split_failure);
  if (part.ready.empty()) {
    if (!part.error.empty()) impl_->throw_failure(static_cast<std::size_t>(k), lock);
    return {};
  }
  part.current = std::move(part.ready.front());
  part.ready.pop_front();
  lock.unlock();
  impl_->changed.notify_all();
  return {part.current.data(), part.current.size};
}

void GzipParts::finish() {
  if (impl_->single) return;  // GzipFile checked each member's trailer itself
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait(lock, [&] {
    if (impl_->split_failed) return true;
    for (auto& part : impl_->parts)
      if (!part->finished) return false;
    return true;
  });
  if (impl_->split_failed) throw GzipSplitFailed(impl_->split_failure);
  for (std::size_t k = 0; k < impl_->parts.size(); ++k)
    if (!impl_->parts[k]->error.empty()) impl_->throw_failure(k, lock);
  std::uint32_t crc = impl_->parts[0]->crc;
  std::uint64_t size = impl_->parts[0]->size;
  for (std::size_t k = 1; k < impl_->parts.size(); ++k) {
    const auto& part = *impl_->parts[k];
    crc = static_cast<std::uint32_t>(::crc32_combine(crc, part.crc, static_cast<z_off_t>(part.size)));
    size += part.size;
  }
  if (impl_->parts.size() == 1) return;  // part 0 read the whole file, igzip checked the trailers
  if (!impl_->trailer || impl_->trailer->crc32 != crc || impl_->trailer->isize != static_cast<std::uint32_t>(size))
    fail("{}", corrupt(impl_->name, "CRC-32 or length check failed"));
}

}  // namespace rxlm
