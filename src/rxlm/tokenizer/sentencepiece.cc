// SentencePiece-style encoding with a priority queue of candidate merges (O(n log n) per fragment).
#include "rxlm/tokenizer/sentencepiece.h"

#include <fmt/format.h>

#include "rxlm/core/error.h"
#include "rxlm/tokenizer/merge_chain.h"
#include "rxlm/tokenizer/utf8.h"

namespace rxlm {
namespace {

constexpr std::string_view kU2581 = "\xE2\x96\x81";

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

// "<0x41>" → 0x41; -1 if the piece is not spelled as a byte piece.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

struct Candidate {
  float score;
  int32_t left, right;
  int32_t result;
  uint32_t length;  // combined length when queued: stale entries no longer match it
  bool operator<(const Candidate& other) const {
    // priority_queue pops the largest: higher score first, then the leftmost pair.
    if (score != other.score) return score < other.score;
    return left > other.left;
  }
};

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceVocab vocab, const std::string& origin)
    : vocab_(std::move(vocab)) {
  const size_t n = vocab_.pieces.size();
  if (n == 0) fail("{}: the vocabulary has no tokens", origin);
  if (vocab_.scores.size() != n) fail("{}: {} scores for {} tokens", origin, vocab_.scores.size(), n);
  if (vocab_.kinds.empty()) vocab_.kinds.assign(n, PieceKind::Normal);
  if (vocab_.kinds.size() != n) fail("{}: {} token types for {} tokens", origin, vocab_.kinds.size(), n);
  for (auto id : {vocab_.bos, vocab_.eos, vocab_.unk})
    if (id && (*id < 0 || static_cast<size_t>(*id) >= n)) fail("{}: special token id {} is outside the vocabulary of {}", origin, *id, n);

  byte_token_.fill(-1);
  bytes_.resize(n);
  index_.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    const std::string& piece = vocab_.pieces[i];
    const int byte = parse_byte_piece(piece);
    if (byte >= 0 && (vocab_.kinds[i] == PieceKind::Byte || vocab_.llama2c_grouping)) {
      bytes_[i] = std::string(1, static_cast<char>(byte));
      if (byte_token_[byte] < 0) byte_token_[byte] = static_cast<int32_t>(i);
    } else {
      bytes_[i] = vocab_.spaces_as_u2581 ? replace_all(piece, kU2581, " ") : piece;
    }
    index_.emplace(std::string_view(vocab_.pieces[i]), static_cast<int32_t>(i));
    // Control tokens are text only on request; user-defined ones are always matched (llama.cpp).
    if (vocab_.kinds[i] == PieceKind::Control) specials_.add(piece, static_cast<int32_t>(i), false);
    if (vocab_.kinds[i] == PieceKind::UserDefined) specials_.add(piece, static_cast<int32_t>(i), true);
  }
  vocab_size_ = static_cast<int32_t>(n);
  bos_id_ = vocab_.bos;
  eos_id_ = vocab_.eos;
  add_bos_ = vocab_.add_bos && vocab_.bos.has_value();
  if (vocab_.eos) stop_ids_.push_back(*vocab_.eos);
  for (int32_t id : vocab_.extra_stops)
    if (id >= 0 && static_cast<size_t>(id) < n && !is_stop(id)) stop_ids_.push_back(id);
  chat_template_ = vocab_.chat_template;
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  std::vector<TextSegment> segments;
  specials_.split(text, parse_special, segments);
  // llama.cpp puts the dummy prefix in front of the text and again after every special token.
  bool after_special = true;
  for (const TextSegment& segment : segments) {
    if (segment.token >= 0) {
      out.push_back(segment.token);
      after_special = true;
    } else {
      encode_fragment(segment.text, vocab_.add_dummy_prefix && after_special, out);
      after_special = false;
    }
  }
  return out;
}

void SentencePieceTokenizer::encode_fragment(std::string_view fragment, bool dummy_prefix,
                                             std::vector<int32_t>& out) const {
  std::string text;
  if (dummy_prefix) text = " ";
  text.append(fragment);
  if (vocab_.spaces_as_u2581) text = replace_all(text, " ", kU2581);

  std::vector<uint32_t> lengths;
  for (size_t offset = 0; offset < text.size(); offset += lengths.back()) {
    size_t length;
    if (vocab_.llama2c_grouping) {
      length = 1;
      while (offset + length < text.size() && length < 4 && (static_cast<unsigned char>(text[offset + length]) & 0xC0) == 0x80) ++length;
    } else {
      length = std::min(utf8_sequence_length(static_cast<unsigned char>(text[offset])), text.size() - offset);
    }
    lengths.push_back(static_cast<uint32_t>(length));
  }
  if (lengths.empty()) return;
  std::vector<ChainSymbol> symbols = make_chain(lengths);
  auto find_pair = [&](int32_t left, int32_t right) -> std::optional<Candidate> {
    const uint32_t length = symbols[left].length + symbols[right].length;
    auto hit = index_.find(std::string_view(text).substr(symbols[left].start, length));
    if (hit == index_.end()) return std::nullopt;
    return Candidate{vocab_.scores[hit->second], left, right, hit->second, length};
  };
  merge_best_first<Candidate>(symbols, find_pair, [](const Candidate& c, const ChainSymbol& left, const ChainSymbol& right) {
    return left.length + right.length == c.length;
  });

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = std::string_view(text).substr(symbols[i].start, symbols[i].length);
    if (auto hit = index_.find(piece); hit != index_.end()) {
      out.push_back(hit->second);
      continue;
    }
    for (unsigned char byte : piece) {
      if (byte_token_[byte] >= 0) {
        out.push_back(byte_token_[byte]);
      } else if (vocab_.unk) {
        out.push_back(*vocab_.unk);
      } else {
        fail("text byte 0x{:02X} has no token in this vocabulary (no <0x{:02X}> piece and no <unk>)", byte, byte);
      }
    }
  }
}

std::string SentencePieceTokenizer::token_bytes(int32_t id) const {
  check_id(id);
  return bytes_[id];
}

std::string SentencePieceTokenizer::decode_next(int32_t previous, int32_t id) const {
  check_id(id);
  const std::string& bytes = bytes_[id];
  // SentencePiece drops the dummy-prefix space of the first piece after BOS (llama2.c run.c does too).
  if (previous >= 0 && vocab_.bos && previous == *vocab_.bos && !bytes.empty() && bytes[0] == ' ')
    return bytes.substr(1);
  return bytes;
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  // encode() put a dummy-prefix space at the start and after every special token; take it back.
  bool after_special = true;
  for (int32_t id : ids) {
    std::string bytes = token_bytes(id);
    const PieceKind kind = vocab_.kinds[id];
    if (kind == PieceKind::Control || kind == PieceKind::UserDefined || kind == PieceKind::Unknown) {
      out += bytes;
      after_special = true;
      continue;
    }
    if (vocab_.add_dummy_prefix && after_special && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
    after_special = false;
    out += bytes;
  }
  return out;
}

bool SentencePieceTokenizer::is_control(int32_t id) const {
  check_id(id);
  return vocab_.kinds[id] == PieceKind::Control || vocab_.kinds[id] == PieceKind::Unknown;
}

std::optional<int32_t> SentencePieceTokenizer::find_token(std::string_view piece) const {
  if (auto hit = index_.find(piece); hit != index_.end()) return hit->second;
  if (vocab_.spaces_as_u2581) {
    const std::string stored = replace_all(piece, " ", kU2581);
    if (auto hit = index_.find(stored); hit != index_.end()) return hit->second;
  }
  return std::nullopt;
}

}  // namespace rxlm
