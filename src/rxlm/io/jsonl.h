// Atomic output files (temp file + rename, so a crash never leaves a half-written file in place)
// and JSON Lines writing on top of them.
#pragma once
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

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
  // is written like any other.
  explicit AtomicFile(std::filesystem::path path, bool large = false);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  // One compact JSON object followed by "\n".
  void write_json_line(const nlohmann::json& value);
  void write_json_line(const nlohmann::ordered_json& value);
  void commit();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_, temp_;
  std::FILE* file_ = nullptr;             // buffered mode
  std::unique_ptr<DirectWriter> direct_;  // O_DIRECT mode
};

// Appends `text` as a JSON string literal, byte-identical to nlohmann::json::dump() (UTF-8 passed
// through, control characters escaped); invalid UTF-8 throws like dump() in strict mode.
void append_json_string(std::string& out, std::string_view text);

// Whole-file convenience: atomically replaces `path` with `bytes`.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace rxlm
