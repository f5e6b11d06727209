// The best-first pair-merge loop shared by byte-level BPE and SentencePiece-style encoding: a piece is a
// chain of adjacent symbols; candidate pairs wait in a priority queue and stale ones are skipped, so a
// piece of n symbols costs O(n log n).
#pragma once
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace rxlm {

struct ChainSymbol {
  uint32_t start, length;  // bytes of the piece this symbol covers; length 0 once merged away
  int32_t id;              // token id (-1: a byte with no token)
  int32_t prev, next;      // neighbours in the chain, -1 at the ends
};

// A chain over consecutive spans of the given lengths, ids unset (-1).
inline std::vector<ChainSymbol> make_chain(const std::vector<uint32_t>& lengths) {
  std::vector<ChainSymbol> symbols(lengths.size());
  uint32_t start = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const auto index = static_cast<int32_t>(i);
    symbols[i] = {start, lengths[i], -1, index - 1, i + 1 < lengths.size() ? index + 1 : -1};
    start += lengths[i];
  }
  return symbols;
}

// Candidate: fields left, right (symbol indices) and result (merged id), ordered so that the best
// candidate is the largest. find_pair(left, right) → optional<Candidate> for two neighbours;
// is_current(candidate, left, right) says whether earlier merges left the candidate's pair intact.
template <class Candidate, class FindPair, class IsCurrent>
void merge_best_first(std::vector<ChainSymbol>& symbols, FindPair&& find_pair, IsCurrent&& is_current) {
  std::priority_queue<Candidate> queue;
  auto offer = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    if (std::optional<Candidate> candidate = find_pair(left, right)) queue.push(*candidate);
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) offer(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  while (!queue.empty()) {
    const Candidate best = queue.top();
    queue.pop();
    ChainSymbol& left = symbols[best.left];
    ChainSymbol& right = symbols[best.right];
    if (left.length == 0 || right.length == 0 || left.next != best.right || !is_current(best, left, right)) continue;
    left.length += right.length;
    left.id = best.result;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = best.left;
    offer(left.prev, best.left);
    offer(best.left, left.next);
  }
}

}  // namespace rxlm
