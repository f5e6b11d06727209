// PCRE2-backed pre-tokenizer. PCRE2_MATCH_INVALID_UTF lets raw bytes through without rejecting the text.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rxlm/tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include "rxlm/core/error.h"
#include "rxlm/tokenizer/unicode_additions.h"

namespace rxlm {
namespace {

pcre2_code* code_of(void* p) { return static_cast<pcre2_code*>(p); }

// Match data and a JIT stack per thread: encode() is const and may run on several threads.
struct ThreadMatchState {
  pcre2_match_data* data = nullptr;
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* context = nullptr;
  ThreadMatchState() {
    data = pcre2_match_data_create(4, nullptr);
    // Long whitespace runs backtrack through \s+(?!\S); the default 32 KiB JIT stack is too small.
    stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

constexpr std::string_view kWhiteSpace = R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

}  // namespace

std::string with_current_unicode(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      const std::string_view property = pattern.substr(i + 1, 4);
      if (property == "p{L}" || property == "p{N}") {
        const std::string members = "\\" + std::string(property) + std::string(property[2] == 'L' ? kExtraLetters : kExtraNumbers);
        out += in_class ? members : "[" + members + "]";
        i += 4;
        continue;
      }
      if (next == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += next;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

RegexSplitter::RegexSplitter(std::string_view pattern) : pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  const std::string rewritten = with_current_unicode(pattern);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    fail("pre-tokenizer regex does not compile at offset {}: {} (pattern {})", offset, reinterpret_cast<char*>(message), pattern_);
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  code_ = code;
}

RegexSplitter::~RegexSplitter() {
  if (code_) pcre2_code_free(code_of(code_));
}

RegexSplitter::RegexSplitter(RegexSplitter&& other) noexcept : pattern_(std::move(other.pattern_)), code_(other.code_) {
  other.code_ = nullptr;
}

RegexSplitter& RegexSplitter::operator=(RegexSplitter&& other) noexcept {
  std::swap(pattern_, other.pattern_);
  std::swap(code_, other.code_);
  return *this;
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  ThreadMatchState& state = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t gap_start = 0;
  size_t position = 0;
  while (position < text.size()) {
    const int rc = pcre2_match(code_of(code_), subject, text.size(), position, 0, state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      fail("pre-tokenizer regex failed on a {}-byte text: {}", text.size(), reinterpret_cast<char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const size_t start = ovector[0], end = ovector[1];
    if (end == start) {  // an empty match: step over one character so the scan moves on
      position = start + 1;
      while (position < text.size() && (static_cast<unsigned char>(text[position]) & 0xC0) == 0x80) ++position;
      continue;
    }
    if (start > gap_start) out.push_back(text.substr(gap_start, start - gap_start));
    out.push_back(text.substr(start, end - start));
    gap_start = position = end;
  }
  if (gap_start < text.size()) out.push_back(text.substr(gap_start));
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  for (const RegexSplitter& step : steps_) {
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) step.split(piece, next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace rxlm
