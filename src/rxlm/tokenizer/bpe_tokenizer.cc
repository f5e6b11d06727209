// Byte-level BPE tokenizer: specials first, then regex pieces, then merges per piece.
#include "rxlm/tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "rxlm/core/error.h"

namespace rxlm {

bool is_end_of_turn_text(std::string_view text) {
  for (std::string_view known : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>",
                                 "<end_of_turn>", "<|end|>", "</s>"})
    if (text == known) return true;
  return false;
}

BpeTokenizer::BpeTokenizer(BpeTokenizerParts parts, const std::string& origin)
    : model_(std::move(parts.model)), pre_tokenizer_(std::move(parts.pre_tokenizer)) {
  size_t size = model_.size();
  for (const SpecialToken& special : parts.specials) {
    if (special.id < 0) fail("{}: special token {} has negative id {}", origin, special.text, special.id);
    size = std::max(size, static_cast<size_t>(special.id) + 1);
  }
  special_text_.resize(size);
  is_special_.assign(size, false);
  for (const SpecialToken& special : parts.specials) {
    if (is_special_[special.id] && special_text_[special.id] != special.text)
      fail("{}: id {} is both {} and {}", origin, special.id, special_text_[special.id], special.text);
    special_text_[special.id] = special.text;
    is_special_[special.id] = true;
    matcher_.add(special.text, special.id, special.always, special.lstrip, special.rstrip);
    special_ids_.emplace(special.text, special.id);
  }
  for (size_t id = 0; id < size; ++id)
    if (!is_special_[id] && (id >= model_.size() || model_.bytes(static_cast<int32_t>(id)).empty()))
      fail("{}: token id {} has neither bytes nor a special-token text (ids must be contiguous)", origin, id);
  vocab_size_ = static_cast<int32_t>(size);
  for (auto id : {parts.bos, parts.eos})
    if (id && (*id < 0 || *id >= vocab_size_)) fail("{}: BOS/EOS id {} is outside the vocabulary of {}", origin, *id, vocab_size_);
  bos_id_ = parts.bos;
  eos_id_ = parts.eos;
  add_bos_ = parts.add_bos && parts.bos.has_value();
  if (parts.eos) stop_ids_.push_back(*parts.eos);
  for (int32_t id : parts.extra_stops)
    if (id >= 0 && id < vocab_size_ && !is_stop(id)) stop_ids_.push_back(id);
  chat_format_ = parts.chat_format;
  chat_template_ = std::move(parts.chat_template);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  std::vector<TextSegment> segments;
  matcher_.split(text, parse_special, segments);
  for (const TextSegment& segment : segments) {
    if (segment.token >= 0) {
      out.push_back(segment.token);
      continue;
    }
    if (pre_tokenizer_.empty()) {
      model_.encode_piece(segment.text, out);
      continue;
    }
    for (std::string_view piece : pre_tokenizer_.split(segment.text)) model_.encode_piece(piece, out);
  }
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  check_id(id);
  if (is_special_[id]) return special_text_[id];
  return model_.bytes(id);
}

bool BpeTokenizer::is_control(int32_t id) const {
  check_id(id);
  return is_special_[id];
}

std::optional<int32_t> BpeTokenizer::find_token(std::string_view piece) const {
  if (auto hit = special_ids_.find(std::string(piece)); hit != special_ids_.end()) return hit->second;
  return model_.find(piece);
}

}  // namespace rxlm
