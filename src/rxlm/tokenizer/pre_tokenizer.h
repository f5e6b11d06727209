// Pre-tokenizer: cuts text into pieces with PCRE2 regexes (Unicode properties, JIT) before BPE.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm {

// Meta's Llama 3 pattern (llama-models tokenizer.py pat_str), also HF's Split regex for Llama 3.
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-2's pattern, which HF's ByteLevel pre-tokenizer uses when use_regex is true.
inline constexpr std::string_view kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// One regex; split() keeps both the matches and the unmatched text between them, in order
// (HF's "Isolated" behaviour). Invalid UTF-8 bytes never match, so they end up in the gaps.
class RegexSplitter {
 public:
  explicit RegexSplitter(std::string_view pattern);  // throws rxlm::Error with PCRE2's message
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

// Regexes applied one after another, each to every piece the previous one produced
// (llama.cpp's regex_exprs lists; HF pre_tokenizer Sequence of Split/Digits).
class PreTokenizer {
 public:
  void add(std::string_view pattern) { steps_.emplace_back(pattern); }
  bool empty() const { return steps_.empty(); }
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  std::vector<RegexSplitter> steps_;
};

// Rewrites a pattern so PCRE2 means what Rust's regex crate (tiktoken) and llama.cpp mean: \s and \S
// become Unicode White_Space (PCRE2's UCP \s also takes U+180E MONGOLIAN VOWEL SEPARATOR), and \p{L},
// \p{N} gain the letters/numbers Unicode 15-16 added (PCRE2 10.42 has Unicode 14 tables).
std::string with_current_unicode(std::string_view pattern);

}  // namespace rxlm
