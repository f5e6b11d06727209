// BPE merge loop with a priority queue of candidate pairs (lowest rank, then leftmost), so a piece of
// n bytes costs O(n log n) instead of tiktoken's O(n²) rescans, with the same result.
#include "rxlm/tokenizer/bpe.h"

#include "rxlm/core/error.h"
#include "rxlm/tokenizer/merge_chain.h"

namespace rxlm {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Candidate {
  int32_t rank;
  int32_t left, right;
  int32_t left_id, right_id;  // ids when queued: a stale candidate no longer matches them
  int32_t result;
  bool operator<(const Candidate& other) const {
    // priority_queue pops the largest: lowest rank first, then the leftmost pair.
    if (rank != other.rank) return rank > other.rank;
    return left > other.left;
  }
};

}  // namespace

void BpeModel::index_tokens(const std::vector<bool>& mergeable, const std::string& origin) {
  index_.reserve(tokens_.size() * 2);
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (!mergeable[id] || tokens_[id].empty()) continue;
    auto [it, inserted] = index_.emplace(std::string_view(tokens_[id]), static_cast<int32_t>(id));
    if (!inserted && by_rank_)
      fail("{}: rank {} repeats the bytes of rank {}; each token must appear once", origin, id, it->second);
  }
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    auto hit = index_.find(std::string_view(&byte, 1));
    // Some vocabularies (SmolLM2) lack control bytes; such bytes become <unk> or an error at encode time.
    byte_token_[b] = hit == index_.end() ? -1 : hit->second;
  }
}

BpeModel BpeModel::from_ranks(std::vector<std::string> tokens, const std::string& origin) {
  BpeModel model;
  model.tokens_ = std::move(tokens);
  model.by_rank_ = true;
  std::vector<bool> mergeable(model.tokens_.size());
  for (size_t i = 0; i < mergeable.size(); ++i) mergeable[i] = !model.tokens_[i].empty();
  model.index_tokens(mergeable, origin);
  return model;
}

BpeModel BpeModel::from_merges(std::vector<std::string> tokens, std::vector<bool> mergeable,
                               const std::vector<std::pair<int32_t, int32_t>>& merges, const std::string& origin) {
  BpeModel model;
  model.tokens_ = std::move(tokens);
  model.by_rank_ = false;
  model.index_tokens(mergeable, origin);
  model.merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto [left, right] = merges[rank];
    const std::string joined = model.tokens_[left] + model.tokens_[right];
    auto hit = model.index_.find(joined);
    if (hit == model.index_.end())
      fail("{}: merge {} joins tokens {} and {} into bytes that are no token", origin, rank, left, right);
    // The first listing of a pair counts, as in HF tokenizers and llama.cpp.
    model.merges_.emplace(pair_key(left, right), Merge{static_cast<int32_t>(rank), hit->second});
  }
  return model;
}

std::optional<int32_t> BpeModel::find(std::string_view bytes) const {
  if (auto hit = index_.find(bytes); hit != index_.end()) return hit->second;
  return std::nullopt;
}

std::optional<int> BpeModel::missing_byte() const {
  for (int b = 0; b < 256; ++b)
    if (byte_token_[b] < 0) return b;
  return std::nullopt;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (auto hit = index_.find(piece); hit != index_.end()) {
      out.push_back(hit->second);
      return;
    }
  }
  std::vector<ChainSymbol> symbols = make_chain(std::vector<uint32_t>(piece.size(), 1));
  for (size_t i = 0; i < piece.size(); ++i) symbols[i].id = byte_token_[static_cast<unsigned char>(piece[i])];
  auto find_pair = [&](int32_t left, int32_t right) -> std::optional<Candidate> {
    const ChainSymbol& a = symbols[left];
    const ChainSymbol& b = symbols[right];
    if (a.id < 0 || b.id < 0) return std::nullopt;  // a byte without a token merges with nothing
    if (by_rank_) {
      auto hit = index_.find(piece.substr(a.start, a.length + b.length));
      if (hit == index_.end()) return std::nullopt;
      return Candidate{hit->second, left, right, a.id, b.id, hit->second};
    }
    auto hit = merges_.find(pair_key(a.id, b.id));
    if (hit == merges_.end()) return std::nullopt;
    return Candidate{hit->second.rank, left, right, a.id, b.id, hit->second.result};
  };
  merge_best_first<Candidate>(symbols, find_pair, [](const Candidate& c, const ChainSymbol& left, const ChainSymbol& right) {
    return left.id == c.left_id && right.id == c.right_id;
  });
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    if (symbols[i].id >= 0) {
      out.push_back(symbols[i].id);
    } else if (unknown_) {
      out.push_back(*unknown_);
    } else {
      fail("byte 0x{:02X} of the text has no token in this vocabulary, which has no unknown token either",
           static_cast<unsigned char>(piece[symbols[i].start]));
    }
  }
}

}  // namespace rxlm
