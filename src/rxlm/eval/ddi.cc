// DdiTable: the ATC-3 interaction list read from the shared drug maps, and per-sample pair counts.
#include "rxlm/eval/ddi.h"

#include <fstream>
#include <sstream>

#include "rxlm/core/error.h"

namespace rxlm::eval {
namespace {

std::pair<std::string, std::string> ordered(const std::string& a, const std::string& b) {
  return a < b ? std::pair(a, b) : std::pair(b, a);
}

// Rows of a TSV with the expected leading header columns; each row split on tabs.
std::vector<std::vector<std::string>> read_tsv(const std::filesystem::path& path,
                                               const std::vector<std::string>& header, std::size_t min_fields) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (the DDI table of the shared drug maps; pass --drug-maps DIR or set RXLM_SHARED)",
                path.string());
  std::vector<std::vector<std::string>> rows;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, '\t');) fields.push_back(field);
    if (number == 1) {
      for (std::size_t i = 0; i < header.size(); ++i)
        if (i >= fields.size() || fields[i] != header[i])
          fail("{}:1: expected the header column {} to be \"{}\"", path.string(), i + 1, header[i]);
      continue;
    }
    if (line.empty()) continue;
    if (fields.size() < min_fields || fields[0].size() != 4 || (min_fields > 1 && fields[1].size() != 4))
      fail("{}:{}: expected {} tab-separated ATC-3 code(s) of 4 characters, got \"{}\"", path.string(), number,
           min_fields, line);
    rows.push_back(std::move(fields));
  }
  return rows;
}

}  // namespace

DdiTable::DdiTable(const std::vector<std::pair<std::string, std::string>>& edges, std::set<std::string> vocabulary)
    : vocabulary_(std::move(vocabulary)) {
  for (const auto& [a, b] : edges) {
    if (a == b) fail("DDI table: the pair ({}, {}) is a code with itself", a, b);
    edges_.insert(ordered(a, b));
    vocabulary_.insert(a);
    vocabulary_.insert(b);
  }
}

DdiTable DdiTable::load(const std::filesystem::path& drug_maps) {
  const auto derived = drug_maps / "derived";
  std::vector<std::pair<std::string, std::string>> edges;
  for (auto& row : read_tsv(derived / "atc3_ddi_edges_union.tsv", {"atc3_a", "atc3_b"}, 2))
    edges.emplace_back(row[0], row[1]);
  std::set<std::string> vocabulary;
  for (auto& row : read_tsv(derived / "atc3_ddi_vocab_union.tsv", {"atc3"}, 1)) vocabulary.insert(row[0]);
  return DdiTable(edges, std::move(vocabulary));
}

bool DdiTable::interacts(const std::string& a, const std::string& b) const {
  return a != b && edges_.count(ordered(a, b)) != 0;
}

DdiPairs count_ddi_pairs(const std::set<std::string>& atc3_codes, const DdiTable& table) {
  DdiPairs result;
  std::vector<const std::string*> covered;
  for (const auto& code : atc3_codes) {
    if (table.covers(code))
      covered.push_back(&code);
    else
      ++result.uncovered_codes;
  }
  for (std::size_t i = 0; i < covered.size(); ++i)
    for (std::size_t j = i + 1; j < covered.size(); ++j) {
      ++result.pairs;
      if (table.interacts(*covered[i], *covered[j])) ++result.interacting;
    }
  return result;
}

}  // namespace rxlm::eval
