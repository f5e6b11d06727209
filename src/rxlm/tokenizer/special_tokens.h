// Finds special/added tokens spelled out in text and cuts the text around them before BPE runs.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm {

// A run of text: either ordinary text to pre-tokenize, or one matched special token.
struct TextSegment {
  std::string_view text;
  int32_t token = -1;  // -1: ordinary text
};

class SpecialTokenMatcher {
 public:
  // `always`: matched even when the caller did not ask for special tokens (Hugging Face non-special
  // added tokens and llama.cpp user-defined tokens behave so); otherwise only with parse_special.
  // lstrip/rstrip (Hugging Face added-token flags): the match also takes the whitespace before/after it.
  void add(std::string text, int32_t id, bool always, bool lstrip = false, bool rstrip = false);
  bool empty() const { return tokens_.empty(); }
  // Leftmost-longest matching; ordinary text between matches is kept in order. Empty runs are dropped.
  void split(std::string_view text, bool parse_special, std::vector<TextSegment>& out) const;

 private:
  struct Entry {
    std::string text;
    int32_t id;
    bool always;
    bool lstrip, rstrip;
  };
  std::vector<Entry> tokens_;
  // Indices into tokens_ by first byte, longest first, so a scan checks only plausible tokens.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace rxlm
