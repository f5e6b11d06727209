// A byte-level BPE tokenizer assembled from parts: special-token matcher, pre-tokenizer, BPE model.
// tiktoken, tokenizer.json and GGUF "gpt2" vocabularies all load into this one class.
#pragma once
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rxlm/tokenizer/bpe.h"
#include "rxlm/tokenizer/pre_tokenizer.h"
#include "rxlm/tokenizer/special_tokens.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

struct SpecialToken {
  int32_t id;
  std::string text;
  bool always = false;  // matched in text even without parse_special (non-special added tokens)
  bool lstrip = false, rstrip = false;  // the match takes the whitespace before/after it (HF added tokens)
};

struct BpeTokenizerParts {
  BpeModel model;                      // ids of ordinary tokens (and, possibly, holes for specials)
  PreTokenizer pre_tokenizer;
  std::vector<SpecialToken> specials;  // ids may lie inside or after the model's range
  std::optional<int32_t> bos, eos;
  std::vector<int32_t> extra_stops;    // end-of-turn tokens besides EOS
  bool add_bos = false;
  ChatFormat chat_format = ChatFormat::None;
  std::string chat_template;
};

// End-of-generation tokens recognised by their text when a file names none (llama.cpp does the same).
bool is_end_of_turn_text(std::string_view text);

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(BpeTokenizerParts parts, const std::string& origin);

  std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const override;
  std::string token_bytes(int32_t id) const override;
  bool is_control(int32_t id) const override;
  std::optional<int32_t> find_token(std::string_view piece) const override;

 private:
  BpeModel model_;
  PreTokenizer pre_tokenizer_;
  SpecialTokenMatcher matcher_;
  std::vector<std::string> special_text_;  // by id; empty for ordinary ids
  std::vector<bool> is_special_;
  std::unordered_map<std::string, int32_t> special_ids_;  // text → id, for find_token
};

}  // namespace rxlm
