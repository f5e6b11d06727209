// ATC codes for prescriptions: First Databank GSN → ATC and MIMIC drug name → ATC (ethos-paper maps,
// MIT), plus ATC names at every level. Only maps with a licence that allows any use are read; see
// ../shared/data/drug-maps/PROVENANCE.md and docs/prep.md.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rxlm::clinical {

class DrugNormaliser;

class AtcMap {
 public:
  // `drug_maps` is the shared drug-maps folder (holds ethos/). Builds the canonical-name index with
  // `normaliser` so a name variant absent from the map still finds its ingredient's code.
  AtcMap(const std::filesystem::path& drug_maps, const DrugNormaliser& normaliser);

  // How a row's code was found: by GSN, by the exact drug string, by the canonical name, or not at all.
  enum class Via { Gsn, Name, CanonicalName, None };
  struct Lookup {
    std::string atc;
    Via via = Via::None;
  };
  // `gsn` may hold several space-separated GSNs (MIMIC does that); the first one known wins.
  Lookup find(std::string_view gsn, std::string_view drug, std::string_view canonical) const;

  // Lower-case WHO name of an ATC code at any level ("" if unknown).
  std::string name(std::string_view atc) const;

 private:
  std::unordered_map<std::string, std::string> by_gsn_, by_drug_, by_canonical_, names_;
};

}  // namespace rxlm::clinical
