// Constrained decoding at the token level: each step only the tokens whose bytes keep the answer a valid
// prefix (AnswerAutomaton) keep their logits, the rest are masked to -inf, and the ordinary sampler
// picks among them (greedy by default), so the model's own probabilities choose. End-of-turn/EOS is
// allowed only where the answer is complete; past the token budget the answer is closed cleanly.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rxlm/generate/answer_constraint.h"
#include "rxlm/generate/sampler.h"
#include "rxlm/tokenizer/tokenizer.h"

namespace rxlm {

// Every token's bytes, decoded once per vocabulary, and the tokens that can ever appear in an answer.
class AnswerTokenTable {
 public:
  // `logits_width`: the model's vocabulary size (may exceed the tokenizer's; the extra ids are never allowed).
  AnswerTokenTable(const Tokenizer& tokenizer, int64_t logits_width);

  int64_t width() const { return width_; }
  std::string_view bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  // Non-control, non-stop tokens made only of characters an answer may contain.
  const std::vector<int32_t>& candidates() const { return candidates_; }
  const std::vector<int32_t>& stops() const { return stops_; }
  // Candidates whose bytes start with a newline: when the last name is complete they vote for the end.
  const std::vector<int32_t>& newline_led() const { return newline_led_; }

 private:
  int64_t width_;
  std::vector<std::string> bytes_;
  std::vector<int32_t> candidates_, stops_, newline_led_;
};

struct AnswerConstraintOptions {
  const DrugTrie* vocabulary = nullptr;  // names limited to these (null: any well-formed name)
  int64_t max_drugs = 0;                 // 0 = no limit
  // Token budget: after max_tokens generated tokens the answer is closed (no new line; the end is taken
  // as soon as the current name is complete). Finishing the current name may take up to closing_tokens
  // more (enough for the header and the longest vocabulary name; 64 without a vocabulary); a walk that
  // still is not complete then is cut (the record carries the parse error).
  int64_t max_tokens = 256;
  int64_t closing_tokens = -1;  // -1: 16 + the longest vocabulary name, or 64
};

// options.closing_tokens, with -1 resolved.
int64_t closing_allowance(const AnswerConstraintOptions& options);

// One sequence's constrained decoding.
class ConstrainedAnswer {
 public:
  ConstrainedAnswer(const AnswerTokenTable& table, const AnswerConstraintOptions& options);

  // The next token from `logits` (the model's row for this sequence; used as scratch): masks to the
  // allowed tokens, applies the ending rule, samples. A stop token means the answer is finished.
  int32_t choose(std::span<float> logits, Sampler& sampler, std::span<const int32_t> history);
  // Records a token chosen by choose(); stop tokens finish the answer.
  void accept(int32_t token);

  bool finished() const { return finished_; }
  bool cut() const { return cut_; }  // ended at the hard limit without a complete answer
  int64_t generated() const { return generated_; }  // tokens accepted, stop token excluded
  const std::string& text() const { return automaton_.text(); }
  const AnswerAutomaton& automaton() const { return automaton_; }
  // Tokens allowed at the last choose() (for tests and measurements).
  int64_t last_allowed() const { return last_allowed_; }

 private:
  int32_t best_stop(std::span<const float> logits) const;

  const AnswerTokenTable& table_;
  AnswerConstraintOptions options_;
  AnswerAutomaton automaton_;
  int64_t generated_ = 0, last_allowed_ = 0;
  bool finished_ = false, cut_ = false;
  std::vector<float> masked_;
  std::vector<uint8_t> allowed_;
};

}  // namespace rxlm
