// read_csv_in_parts: one CsvReader per GzipParts part, the bytes before a part's first newline handed
// to the end of the part before it.
#include "rxlm/io/csv_parts.h"

#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace rxlm {
namespace {

// What the parts' readers tell each other: each part's cut-off first bytes, and whether to give up.
class Handoff {
 public:
  explicit Handoff(int parts) : prefix_(parts) {}

  void publish(int part, std::string bytes) {
    std::lock_guard lock(mutex_);
    prefix_[part] = std::move(bytes);
    changed_.notify_all();
  }
  // Part `part`'s cut-off first bytes, once its reader has them; GzipSplitFailed after abort().
  std::string take(int part) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return aborted_ || prefix_[part].has_value(); });
    if (aborted_) throw GzipSplitFailed("another part of the file failed");
    return std::move(*prefix_[part]);
  }
  void abort() {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    changed_.notify_all();
  }
  bool aborted() {
    std::lock_guard lock(mutex_);
    return aborted_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::optional<std::string>> prefix_;
  bool aborted_ = false;
};

// Part k of the inflated file as CsvReader sees it: without the bytes before its first newline (k > 0),
// and with part k + 1's such bytes appended at its end.
class PartSource final : public ChunkSource {
 public:
  PartSource(GzipParts& parts, int part, Handoff& handoff, std::uint64_t file_size)
      : parts_(parts), part_(part), handoff_(handoff), file_size_(file_size) {}

  // The whole file's, not this part's: each part's reader sizes its tables as if it were to hold the
  // whole file (memory only reserved, not touched), so the parts' rows can be appended to part 0's
  // without moving them (csv_parts.h).
  std::uint64_t expected_size() const override { return file_size_; }

  View next_chunk() override {
    if (done_ || handoff_.aborted()) return {};
    View chunk = parts_.next_chunk(part_);
    while (part_ > 0 && !started_) {  // drop (and hand over) everything up to the first line end
      if (chunk.size == 0) throw GzipSplitFailed("a part of the file holds no line end");
      const void* newline = std::memchr(chunk.data, '\n', chunk.size);
      if (!newline) {
        cut_.append(chunk.data, chunk.size);
        if (cut_.size() > (std::size_t{16} << 20)) throw GzipSplitFailed("no line end near a part's start");
        chunk = parts_.next_chunk(part_);
        continue;
      }
      const std::size_t head = static_cast<const char*>(newline) - chunk.data + 1;
      cut_.append(chunk.data, head);
      handoff_.publish(part_, std::move(cut_));
      started_ = true;
      chunk.data += head;  // the headroom before it only grows
      chunk.size -= head;
      if (chunk.size == 0) chunk = parts_.next_chunk(part_);
    }
    if (chunk.size > 0) return chunk;
    if (part_ + 1 == parts_.parts()) {
      done_ = true;
      return {};
    }
    // The end of this part: the next part's cut-off first bytes complete its last record.
    const std::string tail = handoff_.take(part_ + 1);
    tail_ = std::make_unique<char[]>(kHeadroom + tail.size() + kPadding);  // zeroed padding
    std::memcpy(tail_.get() + kHeadroom, tail.data(), tail.size());
    done_ = true;
    return {tail_.get() + kHeadroom, tail.size()};
  }

 private:
  GzipParts& parts_;
  const int part_;
  Handoff& handoff_;
  const std::uint64_t file_size_;
  bool started_ = false, done_ = false;
  std::string cut_;                // bytes before the first line end, across chunks
  std::unique_ptr<char[]> tail_;   // the appended bytes, with headroom and padding
};

}  // namespace

int read_csv_in_parts(const std::filesystem::path& path, CsvOptions options,
                      const std::function<void(CsvReader& reader, int part)>& read, std::size_t min_compressed) {
  if (options.skip_malformed) {  // skipped rows must be counted (and named) exactly: one reader
    CsvReader reader = CsvReader::open(path, options);
    read(reader, 0);
    return 1;
  }
  GzipParts parts(path, 2, min_compressed);
  const std::uint64_t file_size = expected_size_of(path.string());
  const int count = parts.parts();
  Handoff handoff(count);
  std::vector<std::exception_ptr> errors(count);
  std::vector<std::thread> threads;
  auto run_part = [&](int part, const std::vector<std::string>* header) {
    try {
      CsvReader reader(path.string(), std::make_shared<PartSource>(parts, part, handoff, file_size), options, header);
      read(reader, part);
    } catch (...) {
      errors[part] = std::current_exception();
      handoff.abort();
    }
  };
  std::exception_ptr error;
  std::vector<std::string> header;  // outlives the threads that copy it
  try {
    CsvReader first(path.string(), std::make_shared<PartSource>(parts, 0, handoff, file_size), options);
    header = first.header();
    for (int part = 1; part < count; ++part) threads.emplace_back(run_part, part, &header);
    read(first, 0);
  } catch (...) {
    error = std::current_exception();
    handoff.abort();
  }
  for (auto& thread : threads) thread.join();
  for (const auto& e : errors)
    if (!error && e) error = e;
  if (!error) {
    try {
      parts.finish();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (!error) return count;
  if (count == 1) std::rethrow_exception(error);
  try {
    std::rethrow_exception(error);
  } catch (const GzipSplitFailed&) {
    throw;
  } catch (const std::exception& e) {
    throw GzipSplitFailed(std::string("a part could not be read: ") + e.what());
  }
}

}  // namespace rxlm
