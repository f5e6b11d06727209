// Known drug–drug interactions between ATC-3 classes (the GAMENet/SafeDrug TWOSIDES-derived matrices,
// unioned in ../shared/data/drug-maps/derived/atc3_ddi_edges_union.tsv) and the DDI rate of a drug set:
// SafeDrug's ddi_rate_score counts, per sample, the unordered pairs of distinct ATC-3 codes and how
// many of them are a known interaction. docs/evaluation.md has the definition and its reasons.
#pragma once
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rxlm::eval {

class DdiTable {
 public:
  DdiTable() = default;
  // `edges`: unordered ATC-3 pairs that interact. `vocabulary`: the ATC-3 codes the matrices cover
  // (an absent pair means "no known interaction" only between covered codes); the codes of every
  // edge are added to it.
  DdiTable(const std::vector<std::pair<std::string, std::string>>& edges, std::set<std::string> vocabulary);

  // Reads `<drug_maps>/derived/atc3_ddi_edges_union.tsv` (atc3_a, atc3_b, sources) and
  // `atc3_ddi_vocab_union.tsv` (atc3, in_matrices); errors name file:line.
  static DdiTable load(const std::filesystem::path& drug_maps);

  bool covers(const std::string& atc3) const { return vocabulary_.count(atc3) != 0; }
  bool interacts(const std::string& a, const std::string& b) const;
  std::size_t edge_count() const { return edges_.size(); }
  std::size_t vocabulary_size() const { return vocabulary_.size(); }

 private:
  std::set<std::pair<std::string, std::string>> edges_;  // (smaller, larger)
  std::set<std::string> vocabulary_;
};

struct DdiPairs {
  int64_t pairs = 0;        // unordered pairs of distinct covered ATC-3 codes
  int64_t interacting = 0;  // of which form a known interaction
  int64_t uncovered_codes = 0;  // distinct ATC-3 codes outside the table's vocabulary (not paired)
};

// Pairs within one sample's set of ATC-3 codes (a set: a class suggested twice is one code).
DdiPairs count_ddi_pairs(const std::set<std::string>& atc3_codes, const DdiTable& table);

}  // namespace rxlm::eval
