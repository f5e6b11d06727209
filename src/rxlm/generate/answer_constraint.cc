// The answer-format automaton (see answer_constraint.h).
#include "rxlm/generate/answer_constraint.h"

#include "rxlm/core/error.h"

namespace rxlm {
namespace {
constexpr std::string_view kHeader = "Drugs:";

std::string escaped(std::string_view text) {
  std::string out;
  for (char c : text) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}
}  // namespace

AnswerAutomaton::AnswerAutomaton(const DrugTrie* vocabulary, int64_t max_drugs)
    : vocabulary_(vocabulary), max_drugs_(max_drugs) {
  if (max_drugs < 0) fail("max drugs must be ≥ 0 (0 = no limit), got {}", max_drugs);
  if (vocabulary_) {
    if (vocabulary_->size() == 0) fail("the drug vocabulary is empty");
    used_below_.assign(static_cast<size_t>(vocabulary_->node_count()), 0);
    used_here_.assign(static_cast<size_t>(vocabulary_->node_count()), 0);
  }
}

bool AnswerAutomaton::closing() const {
  return closing_ || (max_drugs_ > 0 && finished_names() + 1 >= max_drugs_);
}

bool AnswerAutomaton::name_may_end(const Cursor& c, const std::string& name) const {
  if (c.phase != Phase::Name || name.back() == ' ') return false;
  if (vocabulary_) return vocabulary_->terminal(c.node) && !used_here_[c.node];
  return names_.count(name) == 0;
}

bool AnswerAutomaton::may_open_line() const {
  if (closing()) return false;
  // With a vocabulary, a new line needs an unused name besides the one being finished.
  return !vocabulary_ || vocabulary_->names_below(0) - used_below_[0] - 1 > 0;
}

bool AnswerAutomaton::step(Cursor& c, std::string& name, char ch) const {
  switch (c.phase) {
    case Phase::Header:
      if (ch != kHeader[c.header_pos]) return false;
      if (++c.header_pos == static_cast<int32_t>(kHeader.size())) c.phase = Phase::HeaderEnd;
      return true;
    case Phase::HeaderEnd:
      if (ch != '\n') return false;
      c.phase = Phase::LineStart;
      return true;
    case Phase::LineStart:
      if (ch != '-') return false;
      c.phase = Phase::Dash;
      return true;
    case Phase::Dash:
      if (ch != ' ') return false;
      c.phase = Phase::NameStart;
      name.clear();
      c.node = 0;
      return true;
    case Phase::NameStart:
    case Phase::Name:
      if (ch == '\n') {
        if (!name_may_end(c, name) || !may_open_line()) return false;
        c.phase = Phase::LineStart;
        return true;
      }
      if (!is_drug_name_char(ch) || (c.phase == Phase::NameStart && ch == ' ')) return false;
      if (vocabulary_) {
        const int32_t next = vocabulary_->child(c.node, ch);
        if (next == DrugTrie::kNone || vocabulary_->names_below(next) - used_below_[next] <= 0) return false;
        c.node = next;
      }
      c.phase = Phase::Name;
      name.push_back(ch);
      return true;
  }
  return false;
}

bool AnswerAutomaton::accepts(std::string_view bytes) const {
  if (bytes.empty()) return false;
  Cursor c = cursor_;
  scratch_.assign(name_);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' && c.phase == Phase::Name && i + 1 < bytes.size()) {
      // The token finishes a name and goes on (rare): the rest must respect that name's use, which
      // only a real append tracks. Try it on a copy, once the name is known to be finishable.
      if (!name_may_end(c, scratch_) || !may_open_line()) return false;
      AnswerAutomaton copy = *this;
      return copy.try_append(bytes);
    }
    if (!step(c, scratch_, bytes[i])) return false;
  }
  return true;
}

void AnswerAutomaton::use_name(const std::string& name) {
  names_.insert(name);
  if (!vocabulary_) return;
  int32_t node = 0;
  ++used_below_[0];
  for (char ch : name) {
    node = vocabulary_->child(node, ch);
    ++used_below_[node];
  }
  used_here_[node] = 1;
}

bool AnswerAutomaton::try_append(std::string_view bytes) {
  const Cursor saved_cursor = cursor_;
  const std::string saved_name = name_;
  const size_t saved_length = text_.size();
  std::vector<std::string> used;  // names finished by this append, to undo on failure
  for (char ch : bytes) {
    const bool finishes_name = ch == '\n' && cursor_.phase == Phase::Name;
    if (!step(cursor_, name_, ch)) {
      for (const std::string& n : used) {
        names_.erase(n);
        if (vocabulary_) {
          int32_t node = 0;
          --used_below_[0];
          for (char x : n) --used_below_[node = vocabulary_->child(node, x)];
          used_here_[node] = 0;
        }
      }
      cursor_ = saved_cursor;
      name_ = saved_name;
      text_.resize(saved_length);
      return false;
    }
    if (finishes_name) {
      use_name(name_);
      used.push_back(name_);
    }
    text_.push_back(ch);
  }
  return true;
}

void AnswerAutomaton::append(std::string_view bytes) {
  if (bytes.empty() || !try_append(bytes))
    fail("answer constraint: \"{}\" cannot follow \"{}\" in a well-formed answer", escaped(bytes), escaped(text_));
}

bool AnswerAutomaton::complete() const {
  if (cursor_.phase == Phase::LineStart) return !names_.empty();
  return name_may_end(cursor_, name_);
}

}  // namespace rxlm
