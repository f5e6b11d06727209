// Drug-name trie and the vocabulary reader (see drug_trie.h).
#include "rxlm/generate/drug_trie.h"

#include <fstream>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

constexpr std::string_view kExtraNameChars = " /-.,'()+&";

// 0..25 letters, 26..35 digits, 36.. the punctuation above; -1 for anything else.
int name_char_index(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '0' && c <= '9') return 26 + (c - '0');
  const size_t p = kExtraNameChars.find(c);
  return p == std::string_view::npos || c == '\0' ? -1 : 36 + static_cast<int>(p);
}

}  // namespace

bool is_drug_name_char(char c) { return name_char_index(c) >= 0; }

DrugTrie::DrugTrie(const std::vector<std::string>& names, const std::string& origin) {
  Node empty;
  empty.next.fill(kNone);
  nodes_.push_back(empty);
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (name.empty() || name.front() == ' ' || name.back() == ' ')
      fail("{}: name {} ('{}') is empty or starts/ends with a space", origin, i + 1, name);
    int32_t node = 0;
    for (char c : name) {
      const int k = name_char_index(c);
      if (k < 0)
        fail("{}: name '{}' has the character '{}', which the answer format does not allow in a drug name "
             "(lower-case letters, digits, space and / - . , ' ( ) + &)", origin, name, c);
      if (nodes_[node].next[k] == kNone) {
        nodes_[node].next[k] = static_cast<int32_t>(nodes_.size());
        nodes_.push_back(empty);
      }
      node = nodes_[node].next[k];
    }
    if (nodes_[node].terminal) continue;
    nodes_[node].terminal = true;
    node = 0;
    ++nodes_[0].names_below;
    for (char c : name) {
      node = nodes_[node].next[name_char_index(c)];
      ++nodes_[node].names_below;
    }
  }
}

int32_t DrugTrie::child(int32_t node, char c) const {
  const int k = name_char_index(c);
  return k < 0 ? kNone : nodes_[node].next[k];
}

bool DrugTrie::contains(std::string_view name) const {
  int32_t node = 0;
  for (char c : name)
    if ((node = child(node, c)) == kNone) return false;
  return terminal(node);
}

std::vector<std::string> read_drug_vocabulary(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (expected prep's drug_vocabulary.tsv: a 'drug' column, one name per line)",
                path.string());
  std::vector<std::string> names;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string name = line.substr(0, line.find('\t'));
    if (number == 1 && name == "drug") continue;  // header
    if (name.empty()) {
      if (line.empty()) continue;
      fail("{}:{}: empty drug name", path.string(), number);
    }
    names.push_back(name);
  }
  if (names.empty()) fail("{}: no drug names (expected prep's drug_vocabulary.tsv)", path.string());
  // Validate here so errors carry the file name.
  for (size_t i = 0; i < names.size(); ++i)
    for (char c : names[i])
      if (!is_drug_name_char(c))
        fail("{}: drug '{}' has the character '{}', not allowed in a drug name by the answer format",
             path.string(), names[i], c);
  return names;
}

}  // namespace rxlm
