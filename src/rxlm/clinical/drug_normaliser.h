// Drug names: one canonical name per drug from the free-text `drug` column of prescriptions (case,
// strengths, routes, forms, release types, salts, brand names and protocol notes folded), and the
// documented, configurable rule for which rows are not therapeutic (vehicles, flushes, supplies, ...).
// Every rule and its reason is in docs/prep.md.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rxlm::clinical {

// A prescriptions row that is not a drug given for the patient's condition.
struct NonTherapeuticRule {
  std::string category;  // e.g. "flush", "supply", "diluent", "diagnostic agent"
  std::string phrase;    // matched as whole words in the lower-cased name (punctuation = space)
  bool whole_name = false;  // true: the phrase must be the entire name ("soln", "sw")
};

struct DrugRules {
  // drug_type values excluded outright: MIMIC's BASE rows are the base solution of an IV mixture.
  std::vector<std::string> excluded_drug_types{"BASE"};
  std::vector<NonTherapeuticRule> non_therapeutic = default_non_therapeutic();
  static std::vector<NonTherapeuticRule> default_non_therapeutic();
};

class DrugNormaliser {
 public:
  explicit DrugNormaliser(DrugRules rules = {});

  // Canonical name: lower case, ingredients only; combinations as ingredients sorted and joined by "/".
  // Empty when nothing drug-like is left (e.g. a name that is only a strength).
  std::string canonical_name(std::string_view drug) const;

  // Empty when the row is therapeutic, else the category that excludes it ("drug_type BASE", "flush", ...).
  std::string non_therapeutic_category(std::string_view drug_type, std::string_view drug) const;

  const DrugRules& rules() const { return rules_; }

 private:
  DrugRules rules_;
};

}  // namespace rxlm::clinical
