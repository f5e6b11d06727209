// The answer format as an automaton over characters: which texts are prefixes of an answer that
// clinical::parse_answer accepts ("Drugs:\n- name\n- name", name characters only, no empty or repeated
// names), optionally with every name a whole entry of a drug vocabulary (DrugTrie). Constrained decoding
// asks it, per candidate token, whether the token's bytes keep the text such a prefix.
//
// The canonical subset it admits: no '\r', no blank lines, no trailing spaces on a line (the parser
// tolerates those, the automaton never produces them), and it never opens a line it cannot finish: with a
// vocabulary a character is allowed only while some unused name still completes it, and a new line only
// while an unused name is left.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "rxlm/generate/drug_trie.h"

namespace rxlm {

class AnswerAutomaton {
 public:
  // `vocabulary` (may be null: any well-formed name) must outlive the automaton. `max_drugs` > 0 makes
  // the max_drugs-th name the last one (no new line after it); 0 = no limit.
  explicit AnswerAutomaton(const DrugTrie* vocabulary = nullptr, int64_t max_drugs = 0);

  // Whether text() + bytes is still a prefix of a well-formed answer (and respects the limits).
  bool accepts(std::string_view bytes) const;
  // Appends; throws rxlm::Error when !accepts(bytes).
  void append(std::string_view bytes);
  // text() is a whole answer parse_answer accepts: the turn may end here.
  bool complete() const;
  // From now on the current (or next) name is the last: no new line after it. Used when the token
  // budget is spent, so the answer closes cleanly.
  void close() { closing_ = true; }
  bool closing() const;

  const std::string& text() const { return text_; }
  // Names finished so far (a name is finished by its newline; complete() also counts the current one).
  int64_t finished_names() const { return static_cast<int64_t>(names_.size()); }

 private:
  enum class Phase : uint8_t { Header, HeaderEnd, LineStart, Dash, NameStart, Name };
  struct Cursor {
    Phase phase = Phase::Header;
    int32_t header_pos = 0;  // characters of "Drugs:" matched (Header)
    int32_t node = 0;        // trie node of the current name (with a vocabulary)
  };
  // One character: false when it breaks the format. `name` is the current name so far (extended here).
  bool step(Cursor& cursor, std::string& name, char c) const;
  bool name_may_end(const Cursor& cursor, const std::string& name) const;
  // A name finished by a newline may be followed by another line.
  bool may_open_line() const;
  // Appends when accepted; false (nothing changed) otherwise.
  bool try_append(std::string_view bytes);
  void use_name(const std::string& name);

  const DrugTrie* vocabulary_;
  int64_t max_drugs_;
  bool closing_ = false;
  std::string text_;
  Cursor cursor_;
  std::string name_;  // the current name so far
  std::unordered_set<std::string> names_;
  std::vector<int32_t> used_below_;  // per trie node: used names ending at or below it
  std::vector<uint8_t> used_here_;   // per trie node: its own name is used
  mutable std::string scratch_;
};

}  // namespace rxlm
