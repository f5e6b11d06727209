// Score-based (SentencePiece-style) tokenizer: llama2.c tok*.bin vocabularies and GGUF "llama" vocabs.
// Encode: dummy-prefix space, split into UTF-8 characters, repeatedly merge the adjacent pair whose
// concatenation is a piece with the highest score (leftmost on ties), then byte-fallback for
// characters that are not pieces.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "rxlm/tokenizer/special_tokens.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

// Token kinds as GGUF stores them (tokenizer.ggml.token_type) and SentencePiece defines them.
enum class PieceKind : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SentencePieceVocab {
  std::vector<std::string> pieces;  // as stored: llama2.c spells spaces ' ', GGUF spells them U+2581
  std::vector<float> scores;
  std::vector<PieceKind> kinds;
  bool spaces_as_u2581 = false;     // pieces use U+2581 for spaces (GGUF/SentencePiece proper)
  // llama2.c's run.c groups a lead byte with at most 3 following continuation bytes; llama.cpp takes
  // the length the lead byte announces. They differ only on invalid UTF-8.
  bool llama2c_grouping = false;
  bool add_dummy_prefix = true;
  std::optional<int32_t> bos, eos, unk;
  std::vector<int32_t> extra_stops;  // end-of-turn tokens besides EOS
  bool add_bos = true;
  std::string chat_template;
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `origin` names the file for error messages.
  SentencePieceTokenizer(SentencePieceVocab vocab, const std::string& origin);

  std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const override;
  std::string token_bytes(int32_t id) const override;
  std::string decode_next(int32_t previous, int32_t id) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  bool is_control(int32_t id) const override;
  std::optional<int32_t> find_token(std::string_view piece) const override;

 private:
  void encode_fragment(std::string_view fragment, bool dummy_prefix, std::vector<int32_t>& out) const;

  SentencePieceVocab vocab_;
  std::vector<std::string> bytes_;  // what each token decodes to (spaces restored, <0xXX> → the byte)
  std::unordered_map<std::string_view, int32_t> index_;  // stored piece → id (first one wins)
  std::array<int32_t, 256> byte_token_{};                // <0xXX> piece of each byte, -1 if none
  SpecialTokenMatcher specials_;
};

}  // namespace rxlm
