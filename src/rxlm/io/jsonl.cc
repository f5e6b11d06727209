// AtomicFile: buffered stdio writes to a sibling temp file, fsync, then rename over the target.
#include "rxlm/io/jsonl.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rxlm/core/error.h"

namespace rxlm {

AtomicFile::AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
  temp_ = path_;
  temp_ += ".tmp-" + std::to_string(::getpid());
  file_ = std::fopen(temp_.c_str(), "wb");
  if (!file_) fail("{}: cannot create ({}); check that the folder exists and is writable", temp_.string(), std::strerror(errno));
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

AtomicFile::~AtomicFile() {
  if (file_) {
    std::fclose(file_);
    std::error_code ignored;
    std::filesystem::remove(temp_, ignored);
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (!file_) fail("{}: write after commit", path_.string());
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    fail("{}: write failed ({}); is the disk full?", temp_.string(), std::strerror(errno));
}

void AtomicFile::write_json_line(const nlohmann::json& value) {
  std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  line += '\n';
  write(line);
}

void AtomicFile::write_json_line(const nlohmann::ordered_json& value) {
  std::string line = value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
  line += '\n';
  write(line);
}

void AtomicFile::commit() {
  if (!file_) return;
  bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok) {
    std::error_code ignored;
    std::filesystem::remove(temp_, ignored);
    fail("{}: could not finish writing ({}); nothing was replaced", temp_.string(), std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) fail("{}: could not rename into place ({})", path_.string(), ec.message());
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (unsigned char c : text) {
    if (c >= 0x80) {  // rare in MIMIC text: let nlohmann validate and escape the whole string
      out.pop_back();
      out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      return;
    }
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the current run of bytes that need no escaping
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[(c >> 4) & 0xF]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace rxlm
