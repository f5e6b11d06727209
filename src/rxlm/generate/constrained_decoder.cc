// Token-level constrained decoding (see constrained_decoder.h).
#include "rxlm/generate/constrained_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

bool answer_char(char c) { return is_drug_name_char(c) || c == '\n' || c == 'D' || c == ':'; }

int64_t longest_name(const DrugTrie& trie) {
  // Depth of the deepest node: walk breadth-first.
  int64_t depth = 0;
  std::vector<int32_t> level = {trie.root()}, next;
  const std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 /-.,'()+&";
  while (!level.empty()) {
    next.clear();
    for (int32_t node : level)
      for (char c : alphabet)
        if (int32_t child = trie.child(node, c); child != DrugTrie::kNone) next.push_back(child);
    if (!next.empty()) ++depth;
    level.swap(next);
  }
  return depth;
}

}  // namespace

int64_t closing_allowance(const AnswerConstraintOptions& options) {
  if (options.closing_tokens >= 0) return options.closing_tokens;
  return options.vocabulary ? 16 + longest_name(*options.vocabulary) : 64;
}

AnswerTokenTable::AnswerTokenTable(const Tokenizer& tokenizer, int64_t logits_width) : width_(logits_width) {
  const int32_t n = tokenizer.vocab_size();
  if (logits_width < n)
    fail("the tokenizer has {} tokens but the model only {} logits (wrong tokenizer for this model?)", n,
         logits_width);
  bytes_.resize(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    bytes_[id] = tokenizer.token_bytes(id);
    if (tokenizer.is_stop(id)) {
      stops_.push_back(id);
      continue;
    }
    const std::string& b = bytes_[id];
    if (tokenizer.is_control(id) || b.empty() || !std::all_of(b.begin(), b.end(), answer_char)) continue;
    candidates_.push_back(id);
    if (b.front() == '\n') newline_led_.push_back(id);
  }
  if (stops_.empty())
    fail("constrained decoding needs an end-of-turn or EOS token, and this tokenizer has none");
}

ConstrainedAnswer::ConstrainedAnswer(const AnswerTokenTable& table, const AnswerConstraintOptions& options)
    : table_(table), options_(options), automaton_(options.vocabulary, options.max_drugs) {
  if (options_.max_tokens < 1) fail("max tokens must be ≥ 1 for a constrained answer, got {}", options_.max_tokens);
  options_.closing_tokens = closing_allowance(options_);
  masked_.resize(static_cast<size_t>(table.width()));
  allowed_.resize(static_cast<size_t>(table.width()));
}

int32_t ConstrainedAnswer::best_stop(std::span<const float> logits) const {
  int32_t best = table_.stops().front();
  for (int32_t s : table_.stops())
    if (logits[s] > logits[best]) best = s;
  return best;
}

int32_t ConstrainedAnswer::choose(std::span<float> logits, Sampler& sampler, std::span<const int32_t> history) {
  if (finished_) fail("constrained decoding: the answer is already finished");
  if (static_cast<int64_t>(logits.size()) != table_.width())
    fail("constrained decoding: {} logits for a vocabulary of {}", logits.size(), table_.width());
  if (generated_ >= options_.max_tokens) automaton_.close();
  const bool complete = automaton_.complete();
  if (generated_ >= options_.max_tokens + options_.closing_tokens) {
    cut_ = !complete;
    last_allowed_ = 1;
    return best_stop(logits);
  }
  if (automaton_.closing() && complete) {
    if (generated_ >= options_.max_tokens) {  // budget spent: end now
      last_allowed_ = 1;
      return best_stop(logits);
    }
    // The last name may end here; the model's wish for a new line is a wish to end the list.
    const int32_t stop = best_stop(logits);
    for (int32_t id : table_.newline_led()) logits[stop] = std::max(logits[stop], logits[id]);
  }
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  std::fill(masked_.begin(), masked_.end(), kMasked);
  std::fill(allowed_.begin(), allowed_.end(), 0);
  int64_t allowed = 0;
  for (int32_t id : table_.candidates())
    if (automaton_.accepts(table_.bytes(id))) {
      masked_[id] = logits[id];
      allowed_[id] = 1;
      ++allowed;
    }
  if (complete)
    for (int32_t id : table_.stops()) {
      masked_[id] = logits[id];
      allowed_[id] = 1;
      ++allowed;
    }
  last_allowed_ = allowed;
  if (allowed == 0)
    fail("constrained decoding: no token of this vocabulary can continue \"{}\" (the tokenizer lacks "
         "single-character tokens?)", automaton_.text());
  int32_t next = sampler.sample(masked_, history);
  if (next < 0 || next >= table_.width() || !allowed_[next]) {
    // The sampler's rounding fallback can land on a masked token: take the best allowed one.
    next = -1;
    for (int64_t id = 0; id < table_.width(); ++id)
      if (allowed_[id] && (next < 0 || logits[id] > logits[next])) next = static_cast<int32_t>(id);
  }
  return next;
}

void ConstrainedAnswer::accept(int32_t token) {
  if (finished_) fail("constrained decoding: the answer is already finished");
  if (std::find(table_.stops().begin(), table_.stops().end(), token) != table_.stops().end()) {
    finished_ = true;
    return;
  }
  automaton_.append(table_.bytes(token));
  ++generated_;
}

}  // namespace rxlm
