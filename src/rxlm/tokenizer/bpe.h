// Byte-level BPE core: token bytes ↔ ids and the merge loop over one pre-tokenized piece.
// Two merge rules: tiktoken's (merge the adjacent pair whose concatenation has the lowest rank) and
// Hugging Face/llama.cpp's (merge the adjacent pair listed earliest in the merges list).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rxlm {

class BpeModel {
 public:
  // tiktoken: tokens[id] are the bytes of rank id (empty = not a BPE token, e.g. a special id).
  static BpeModel from_ranks(std::vector<std::string> tokens, const std::string& origin);
  // Merge list: merges[i] = (left id, right id), rank i; the result is the token spelled by the
  // concatenation. `mergeable[id]` false keeps special/control tokens out of BPE.
  static BpeModel from_merges(std::vector<std::string> tokens, std::vector<bool> mergeable,
                              const std::vector<std::pair<int32_t, int32_t>>& merges, const std::string& origin);

  // Appends the ids of one piece. With ignore_merges a piece that is itself a token is emitted as is
  // (tiktoken always does this; HF's ignore_merges and llama.cpp's llama-bpe too).
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void set_ignore_merges(bool value) { ignore_merges_ = value; }
  // What a byte without a token of its own encodes to; without one such a byte is an error.
  void set_unknown(std::optional<int32_t> id) { unknown_ = id; }

  size_t size() const { return tokens_.size(); }
  const std::string& bytes(int32_t id) const { return tokens_[id]; }
  std::optional<int32_t> find(std::string_view bytes) const;
  // The first byte value with no single-byte token, if any.
  std::optional<int> missing_byte() const;

 private:
  BpeModel() = default;
  void index_tokens(const std::vector<bool>& mergeable, const std::string& origin);

  std::vector<std::string> tokens_;
  std::unordered_map<std::string_view, int32_t> index_;  // bytes → id of mergeable tokens
  int32_t byte_token_[256];
  bool by_rank_ = false;   // tiktoken rule (rank of the concatenation = its id)
  bool ignore_merges_ = true;
  std::optional<int32_t> unknown_;
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) → rank and result
};

}  // namespace rxlm
