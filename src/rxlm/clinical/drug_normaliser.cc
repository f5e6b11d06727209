// DrugNormaliser: the name-folding rules (tables below, reasons in docs/prep.md) and the
// non-therapeutic row rule.
#include "rxlm/clinical/drug_normaliser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace rxlm::clinical {
namespace {

// Phrases removed before words are split: protocol notes and multi-word release/form descriptions.
constexpr std::array kRemovedPhrases = {
    "for hyperkalemia", "sliding scale", "heart failure", "critical care", "sugar free", "extended-release",
    "extended release", "sustained release", "immediate release", "delayed release", "once daily",
    "oral disintegrating", "preserv. free", "self administering medication", "alcohol withdrawal dose taper",
};

// Route, dosage-form, release and packaging words: they describe how, not what.
const std::unordered_set<std::string> kFormWords = {
    "iv", "po", "im", "sc", "sl", "neb", "nebs", "inhaler", "inhalation", "spray", "soln", "solution", "susp",
    "suspension", "liquid", "elixir", "oral", "ophth", "ophthalmic", "cream", "ointment", "oint", "gel", "jelly",
    "patch", "powder", "tablet", "tab", "tabs", "disintegrating", "odt", "lozenge", "supps", "suppository", "nasal",
    "mdi", "diskus", "ec", "xl", "xr", "er", "sr", "cr", "la", "ir", "dr", "e.r.", "sprinkles", "viscous", "lotion",
    "drops", "wafer", "singles", "rinse", "dental", "vag", "enema", "buffered", "replacement", "pca", "hp", "crrt",
    "mg", "mcg", "g", "ml", "meq", "units", "unit", "hr", "%", "protocol", "oncology", "and", "in", "ns", "e.r", "ds", "ss", "throat", "infatab",
};

// Salt and counter-ion words. Removed from a component only when a word that is not one of these
// remains ("metoprolol tartrate" → "metoprolol", but "potassium chloride" stays whole).
const std::unordered_set<std::string> kSaltWords = {
    "sodium", "potassium", "calcium", "magnesium", "zinc", "ferrous", "ferric", "aluminum", "chloride", "sulfate",
    "phosphate", "citrate", "gluconate", "carbonate", "bicarbonate", "oxide", "hydroxide", "acetate", "lactate",
    "hcl", "hydrochloride", "tartrate", "succinate", "maleate", "mesylate", "besylate", "bromide", "fumarate",
    "hyclate", "oxalate", "propionate", "nitrate", "monohyd", "monohydrate", "proxetil", "etexilate", "acetonide",
    "xinafoate", "polacrilex", "dipropionate",
};

// Abbreviations in MIMIC names, expanded per word.
const std::unordered_map<std::string, std::string> kWordAliases = {
    {"sod", "sodium"}, {"na", "sodium"}, {"succ", "succinate"}, {"hydrox", "hydroxide"}, {"caff", "caffeine"},
    {"sulfameth", "sulfamethoxazole"}, {"multivitamins", "multivitamin"}, {"vac", "vaccine"}, {"glucose", "dextrose"},
};

// Whole names (after cleaning) that rules alone would get wrong: brands, and names whose words mislead.
const std::unordered_map<std::string, std::string> kNameAliases = {
    {"humalog", "insulin lispro"},
    {"insulin human regular", "insulin regular"},
    {"insulin regular human", "insulin regular"},
    {"nexium", "esomeprazole"},
    {"avapro", "irbesartan"},
    {"januvia", "sitagliptin"},
    {"tricor", "fenofibrate"},
    {"androgel", "testosterone"},
    {"ambisome", "amphotericin b liposomal"},
    {"digox", "digoxin"},
    {"xopenex", "levalbuterol"},
    {"milk of magnesia", "magnesium hydroxide"},
    {"fleet", "sodium phosphate"},
    {"fleet enema (mineral oil)", "mineral oil"},
    {"golytely", "polyethylene glycol electrolyte solution"},
    {"moviprep", "polyethylene glycol electrolyte solution"},
    {"neutra-phos", "potassium phosphate/sodium phosphate"},
    {"filgrastim-sndz", "filgrastim"},
    {"calcitonin salmon", "calcitonin"},
    {"sodium polystyrene sulfonate", "sodium polystyrene sulfonate"},
    {"multivitamins w/minerals", "multivitamin with minerals"},
    {"vitamin b complex w/c", "vitamin b complex with vitamin c"},
    {"pneumococcal vaccine polyvalent", "pneumococcal polysaccharide vaccine"},
    {"pneumococcal -valent polysaccharide vaccine", "pneumococcal polysaccharide vaccine"},
    {"influenza vaccine quadrivalent", "influenza vaccine"},
    {"influenza virus vaccine", "influenza vaccine"},
    {"artificial tear", "artificial tears"},
    {"estrogens conjugated", "conjugated estrogens"},
    {"aluminum-magnesium hydrox.-simethicone", "aluminum hydroxide/magnesium hydroxide/simethicone"},
    {"acetaminophen w/codeine", "acetaminophen/codeine"},
    {"pancrelipase", "pancrelipase"},
    {"pneumococcal 23-valent polysaccharide vaccine", "pneumococcal polysaccharide vaccine"},
    {"citrate dextrose 3% crrt", "anticoagulant citrate dextrose"},
    {"insulin (regular) for hyperkalemia", "insulin regular"},
    {"sodium fluoride", "sodium fluoride"},
    {"sodium glycerophosphate", "sodium glycerophosphate"},
    {"metamucil fiber", "psyllium"},
};

std::string collapse_spaces(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void remove_phrase(std::string& s, std::string_view phrase) {
  for (std::size_t at = s.find(phrase); at != std::string::npos; at = s.find(phrase, at)) s.replace(at, phrase.size(), " ");
}

std::string lookup_alias(const std::string& name) {
  auto it = kNameAliases.find(name);
  return it == kNameAliases.end() ? name : it->second;
}

// Lower case; drop markers (*NF* = non-formulary), protocol notes after " - ", and parentheses, which
// in MIMIC hold brands, strengths, protocols and packaging.
std::string clean(std::string_view drug) {
  std::string s;
  int depth = 0;
  for (std::size_t i = 0; i < drug.size(); ++i) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(drug[i])));
    if (c == '(') ++depth;
    else if (c == ')') depth = std::max(0, depth - 1);
    else if (depth == 0) s.push_back(c == '_' || c == '\t' ? ' ' : c);
  }
  if (auto at = s.find(" - "); at != std::string::npos) s.resize(at);
  for (std::size_t at = s.find('*'); at != std::string::npos; at = s.find('*')) {
    std::size_t close = s.find('*', at + 1);
    s.erase(at, close == std::string::npos ? 1 : close - at + 1);
  }
  return collapse_spaces(s);
}

bool starts_with_digit_or_symbol(const std::string& word) {
  return !word.empty() && !std::isalpha(static_cast<unsigned char>(word[0]));
}

std::string strip_word_punctuation(std::string word) {
  while (!word.empty() && (word.back() == '.' || word.back() == ',' || word.back() == ':')) word.pop_back();
  return word;
}

std::string fold_component(const std::vector<std::string>& words) {
  std::vector<std::string> kept;
  for (auto word : words) {
    word = strip_word_punctuation(word);
    if (word.empty() || starts_with_digit_or_symbol(word) || kFormWords.count(word)) continue;
    if (auto it = kWordAliases.find(word); it != kWordAliases.end()) word = it->second;
    kept.push_back(word);
  }
  bool has_active = std::any_of(kept.begin(), kept.end(), [](const std::string& w) { return !kSaltWords.count(w); });
  std::string out;
  for (const auto& word : kept) {
    if (has_active && kSaltWords.count(word)) continue;
    if (!out.empty()) out += ' ';
    out += word;
  }
  return lookup_alias(out);
}

}  // namespace

std::vector<NonTherapeuticRule> DrugRules::default_non_therapeutic() {
  return {
      {"flush", "flush"},
      {"flush", "dwell"},
      {"circuit priming", "crrt machine priming"},
      {"supply", "bag"},
      {"supply", "vial"},
      {"supply", "syringe"},
      {"supply", "cassette"},
      {"supply", "soln", true},
      {"supply", "click change"},
      {"diluent", "sw", true},
      {"circuit anticoagulant", "acd a"},
      {"diluent", "sterile water"},
      {"diluent", "iso osmotic"},
      {"dialysis fluid", "prismasate"},
      {"diagnostic agent", "iohexol"},
      {"diagnostic agent", "gastroview"},
      {"diagnostic agent", "readi cat"},
      {"diagnostic agent", "tuberculin"},
  };
}

DrugNormaliser::DrugNormaliser(DrugRules rules) : rules_(std::move(rules)) {}

std::string DrugNormaliser::canonical_name(std::string_view drug) const {
  std::string lower;
  for (char c : drug) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (auto it = kNameAliases.find(collapse_spaces(lower)); it != kNameAliases.end()) return it->second;
  std::string s = clean(drug);
  if (auto it = kNameAliases.find(s); it != kNameAliases.end()) return it->second;
  for (const char* phrase : kRemovedPhrases) remove_phrase(s, phrase);
  s = collapse_spaces(s);
  if (auto it = kNameAliases.find(s); it != kNameAliases.end()) return it->second;
  // Components of a combination are separated by '-', '/', '&' or "w/"; words by spaces.
  remove_phrase(s, " w/");
  std::vector<std::vector<std::string>> components(1);
  std::string word;
  auto end_word = [&] {
    if (!word.empty()) components.back().push_back(std::move(word));
    word.clear();
  };
  for (char c : s) {
    if (c == ' ') {
      end_word();
    } else if (c == '-' || c == '/' || c == '&' || c == '+') {
      end_word();
      if (!components.back().empty()) components.emplace_back();
    } else {
      word.push_back(c);
    }
  }
  end_word();
  std::set<std::string> parts;
  for (const auto& component : components)
    if (auto folded = fold_component(component); !folded.empty()) parts.insert(folded);
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : "/") + part;
  return lookup_alias(out);
}

std::string DrugNormaliser::non_therapeutic_category(std::string_view drug_type, std::string_view drug) const {
  for (const auto& type : rules_.excluded_drug_types)
    if (drug_type == type) return "drug_type " + type;
  // Lower-case, punctuation → space, padded so phrases match whole words only.
  std::string words = " ";
  for (char c : drug) words.push_back(std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : ' ');
  words = " " + collapse_spaces(words) + " ";
  for (const auto& rule : rules_.non_therapeutic) {
    std::string phrase = " " + rule.phrase + " ";
    if (rule.whole_name ? words == phrase : words.find(phrase) != std::string::npos) return rule.category;
  }
  return {};
}

}  // namespace rxlm::clinical
