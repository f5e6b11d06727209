// AtcMap: loads the ethos csv.gz maps with CsvReader and answers per-row lookups.
#include "rxlm/clinical/atc_map.h"

#include <map>
#include <sstream>

#include "rxlm/clinical/drug_normaliser.h"
#include "rxlm/io/csv.h"

namespace rxlm::clinical {
namespace {

std::string trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

AtcMap::AtcMap(const std::filesystem::path& drug_maps, const DrugNormaliser& normaliser) {
  const auto ethos = drug_maps / "ethos";
  {
    CsvReader reader = CsvReader::open(ethos / "gsn_atc_ndc_mapping.csv.gz");
    std::size_t gsn = reader.column("gsn"), atc = reader.column("atc");
    while (reader.next())
      if (!reader.field(atc).empty()) by_gsn_.emplace(trimmed(reader.field(gsn)), trimmed(reader.field(atc)));
  }
  // Canonical name → ATC by majority over the map's name variants (ties: the smaller code).
  std::map<std::string, std::map<std::string, int>> votes;
  {
    CsvReader reader = CsvReader::open(ethos / "mimic_drug_to_atc.csv.gz");
    std::size_t drug = reader.column("drug"), atc = reader.column("atc_code");
    while (reader.next()) {
      std::string code = trimmed(reader.field(atc));
      if (code.empty()) continue;
      by_drug_.emplace(trimmed(reader.field(drug)), code);  // the first row of a repeated name wins
      std::string canonical = normaliser.canonical_name(reader.field(drug));
      if (!canonical.empty()) ++votes[canonical][code];
    }
  }
  {
    CsvReader reader = CsvReader::open(ethos / "atc_coding.csv.gz");
    std::size_t code = reader.column("atc_code"), name = reader.column("atc_name");
    while (reader.next()) {
      names_.emplace(trimmed(reader.field(code)), trimmed(reader.field(name)));
      // A level-5 WHO name that is also our canonical name (e.g. "furosemide") votes for its code.
      if (reader.field(code).size() == 7) ++votes[trimmed(reader.field(name))][trimmed(reader.field(code))];
    }
  }
  for (const auto& [canonical, counts] : votes) {
    const std::string* best = nullptr;
    int best_count = 0;
    for (const auto& [code, count] : counts)
      if (count > best_count) best = &code, best_count = count;
    by_canonical_.emplace(canonical, *best);
  }
}

AtcMap::Lookup AtcMap::find(std::string_view gsn, std::string_view drug, std::string_view canonical) const {
  std::istringstream gsns{std::string(gsn)};
  for (std::string one; gsns >> one;)
    if (auto it = by_gsn_.find(one); it != by_gsn_.end()) return {it->second, Via::Gsn};
  if (auto it = by_drug_.find(trimmed(drug)); it != by_drug_.end()) return {it->second, Via::Name};
  if (auto it = by_canonical_.find(std::string(canonical)); it != by_canonical_.end())
    return {it->second, Via::CanonicalName};
  return {};
}

std::string AtcMap::name(std::string_view atc) const {
  auto it = names_.find(std::string(atc));
  return it == names_.end() ? std::string() : it->second;
}

}  // namespace rxlm::clinical
