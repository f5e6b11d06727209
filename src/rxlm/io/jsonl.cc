// AtomicFile: buffered stdio writes to a sibling temp file, fsync, then rename over the target.
#include "rxlm/io/jsonl.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#ifdef __AVX2__
#include <immintrin.h>
#endif

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

namespace {

// Index of the first byte at or after `from` that JSON cannot take as it is (a control character,
// '"' or '\\') or that starts a multi-byte UTF-8 sequence (>= 0x80); text.size() when there is none.
std::size_t next_special(std::string_view text, std::size_t from) {
  std::size_t i = from;
#ifdef __AVX2__
  const __m256i space = _mm256_set1_epi8(0x20), quote = _mm256_set1_epi8('"'), backslash = _mm256_set1_epi8('\\');
  for (; i + 32 <= text.size(); i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text.data() + i));
    // Signed compare: bytes >= 0x80 are negative, so "< 0x20" also catches them.
    const __m256i special = _mm256_or_si256(_mm256_cmpgt_epi8(space, v),
                                            _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)));
    if (const auto mask = static_cast<std::uint32_t>(_mm256_movemask_epi8(special))) return i + __builtin_ctz(mask);
  }
#endif
  for (; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
  }
  return text.size();
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t start = out.size();
  out.push_back('"');
  std::size_t run = 0;  // start of the current run of bytes that need no escaping
  for (std::size_t i = next_special(text, 0); i < text.size(); i = next_special(text, i + 1)) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {  // rare in MIMIC text: let nlohmann validate and escape it all
      out.resize(start);
      out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      return;
    }
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
