// A character trie over drug names (prep's drug_vocabulary.tsv), for decoding limited to known drugs.
// Character-level, so it is independent of how a tokenizer splits the names: a token is allowed when its
// bytes walk the trie, which admits exactly the token sequences a trie over every tokenisation would.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm {

class DrugTrie {
 public:
  static constexpr int32_t kNone = -1;
  // Every name must be a valid drug name of the answer format (clinical::parse_answer: lower-case
  // letters, digits, space and / - . , ' ( ) + &; no leading or trailing space); duplicates are kept once.
  // `origin` ("file:line" prefix) names where a bad name came from.
  explicit DrugTrie(const std::vector<std::string>& names, const std::string& origin = "drug vocabulary");

  int32_t root() const { return 0; }
  int32_t child(int32_t node, char c) const;  // kNone when no name continues with c
  bool terminal(int32_t node) const { return nodes_[node].terminal; }
  // Names ending at or below `node` (a name ends at its own node).
  int32_t names_below(int32_t node) const { return nodes_[node].names_below; }
  int64_t node_count() const { return static_cast<int64_t>(nodes_.size()); }
  int64_t size() const { return names_below(0); }
  bool contains(std::string_view name) const;

 private:
  struct Node {
    std::array<int32_t, 48> next;  // indexed by name_char_index
    bool terminal = false;
    int32_t names_below = 0;
  };
  std::vector<Node> nodes_;
};

// True for the characters a drug name may contain (clinical::parse_answer's set).
bool is_drug_name_char(char c);

// The first column of prep's drug_vocabulary.tsv (header "drug\t..."); errors name the file and line.
std::vector<std::string> read_drug_vocabulary(const std::filesystem::path& path);

}  // namespace rxlm
