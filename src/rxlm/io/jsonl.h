// Atomic output files (temp file + rename, so a crash never leaves a half-written file in place)
// and JSON Lines writing on top of them.
#pragma once
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace rxlm {

class DirectWriter;  // jsonl.cc

// Writes to "<path>.tmp-<pid>" and renames onto `path` in commit(); if commit() is never reached the
// temporary file is removed and whatever was at `path` before is left untouched.
class AtomicFile {
 public:
  // `large`: the file will hold hundreds of MB. It is then written with O_DIRECT from aligned blocks on
  // a background thread, past the page cache (filling fresh page-cache pages and flushing them in
  // fsync costs more than the disk write itself); where the file system refuses O_DIRECT (tmpfs), it
  // is written like any other. A large file that commit() replaces is freed on a background thread.
  explicit AtomicFile(std::filesystem::path path, bool large = false);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  // One compact JSON object followed by "\n".
  void write_json_line(const nlohmann::json& value);
  void write_json_line(const nlohmann::ordered_json& value);
  // Writes out and fsyncs what was written, without replacing anything yet; throws naming the file (its
  // temporary is then removed). Lets several files be flushed at once, on threads, before any of them
  // replaces its old version. commit() calls it when it has not been called.
  void finish_writing();
  // finish_writing(), then the new file replaces the old one.
  void commit();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_, temp_;
  bool large_ = false;
  bool written_ = false, committed_ = false;  // finish_writing() and commit() succeeded
  std::FILE* file_ = nullptr;             // buffered mode
  std::unique_ptr<DirectWriter> direct_;  // O_DIRECT mode
  std::thread remover_;                   // frees the blocks of the large file that commit() replaced
};

// Appends `text` as a JSON string literal, byte-identical to nlohmann::json::dump() (UTF-8 passed
// through, control characters escaped); invalid UTF-8 throws like dump() in strict mode.
void append_json_string(std::string& out, std::string_view text);

// The bytes of `text` as they stand inside a JSON string literal (as append_json_string writes them,
// without the quotes), written at `out`, which must have room for json_chars_room(text.size()) bytes.
// Returns the end; nullptr when `text` has a byte >= 0x80, whose UTF-8 only append_json_string checks.
char* write_json_chars(char* out, std::string_view text);
// The longest escape is \u00XX, and whole 32-byte blocks are stored before they are cut back.
constexpr std::size_t json_chars_room(std::size_t bytes) { return 6 * bytes + 32; }

// A growing byte buffer written through raw pointers, for renderers that put many records into one
// buffer reused between batches: unlike std::string it is not zero-filled when it grows or is reused.
class TextBuffer {
 public:
  // Room for `bytes` more bytes after the end; returns where they go (earlier pointers may move).
  char* reserve(std::size_t bytes) {
    if (capacity_ - size_ < bytes) grow(bytes);
    return data_.get() + size_;
  }
  // Ends the buffer at `end`, a pointer into the room from reserve().
  void set_end(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void append(std::string_view bytes) {
    std::memcpy(reserve(bytes.size()), bytes.data(), bytes.size());
    size_ += bytes.size();
  }
  void resize_down(std::size_t size) { size_ = size < size_ ? size : size_; }
  void clear() { size_ = 0; }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  void grow(std::size_t bytes);

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Whole-file convenience: atomically replaces `path` with `bytes`.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace rxlm
