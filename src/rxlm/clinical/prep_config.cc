// PrepConfig from TOML (toml++), strict about unknown keys and value types.
#include "rxlm/clinical/prep_config.h"

// Debian 12 ships toml++ 3.3 as <toml++/toml.h>; newer releases name it toml.hpp. Header-only either way.
#if __has_include(<toml++/toml.hpp>)
#include <toml++/toml.hpp>
#else
#include <toml++/toml.h>
#endif

#include "rxlm/core/error.h"
#include "rxlm/core/paths.h"

namespace rxlm::clinical {
namespace {

template <class T>
void take(const toml::table& table, std::string_view key, T& out, const std::string& file) {
  const toml::node* node = table.get(key);
  if (!node) return;
  if constexpr (std::is_same_v<T, double>) {
    if (auto v = node->value<double>()) return void(out = *v);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto v = node->value_exact<bool>()) return void(out = *v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = node->value_exact<std::string>()) return void(out = *v);
  } else {
    if (auto v = node->value_exact<int64_t>()) return void(out = static_cast<T>(*v));
  }
  fail("{}: key '{}' has the wrong type", file, key);
}

void check_keys(const toml::table& table, std::initializer_list<std::string_view> known, const std::string& where) {
  for (const auto& [key, value] : table) {
    bool ok = false;
    for (auto k : known) ok = ok || key.str() == k;
    if (!ok) fail("{}: unknown key '{}' (known: see docs/prep.md)", where, key.str());
  }
}

}  // namespace

PrepConfig default_prep_config() {
  PrepConfig config;
  config.drug_maps = shared_dir() / "data" / "drug-maps";
  return config;
}

PrepConfig load_prep_config(const std::filesystem::path& path) {
  PrepConfig c = default_prep_config();
  const std::string file = path.string();
  toml::table root;
  try {
    root = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    fail("{}:{}: {}", file, e.source().begin.line, e.description());
  }
  check_keys(root, {"split", "cohort", "omr", "drugs"}, file);
  if (auto* t = root["split"].as_table()) {
    check_keys(*t, {"seed", "train", "validation", "test", "folds"}, file + " [split]");
    take(*t, "seed", c.seed, file);
    take(*t, "folds", c.folds, file);
    for (auto [key, field] : {std::pair{"train", &c.train}, {"validation", &c.validation}, {"test", &c.test}})
      take(*t, key, *field, file);
  }
  if (auto* t = root["cohort"].as_table()) {
    check_keys(*t, {"min_age", "max_age", "drug_count_percentile"}, file + " [cohort]");
    take(*t, "min_age", c.min_age, file);
    take(*t, "max_age", c.max_age, file);
    take(*t, "drug_count_percentile", c.drug_count_percentile, file);
  }
  if (auto* t = root["omr"].as_table()) {
    const std::pair<const char*, double*> ranges[] = {
        {"min_height_cm", &c.min_height_cm}, {"max_height_cm", &c.max_height_cm}, {"min_weight_kg", &c.min_weight_kg},
        {"max_weight_kg", &c.max_weight_kg}, {"min_bmi", &c.min_bmi},             {"max_bmi", &c.max_bmi}};
    for (const auto& [key, field] : *t) {
      bool known = key.str() == "days_before";
      for (const auto& range : ranges) known = known || key.str() == range.first;
      if (!known) fail("{} [omr]: unknown key '{}' (known: see docs/prep.md)", file, key.str());
    }
    take(*t, "days_before", c.omr_days_before, file);
    for (const auto& [key, field] : ranges) take(*t, key, *field, file);
  }
  if (auto* t = root["drugs"].as_table()) {
    check_keys(*t, {"maps", "excluded_drug_types", "non_therapeutic"}, file + " [drugs]");
    std::string maps;
    take(*t, "maps", maps, file);
    if (!maps.empty()) c.drug_maps = maps;
    if (auto* types = (*t)["excluded_drug_types"].as_array()) {
      c.drug_rules.excluded_drug_types.clear();
      for (const auto& v : *types) c.drug_rules.excluded_drug_types.push_back(v.value_or(std::string()));
    }
    if (auto* rules = (*t)["non_therapeutic"].as_array()) {
      c.drug_rules.non_therapeutic.clear();
      for (const auto& node : *rules) {
        const toml::table* rule = node.as_table();
        if (!rule) fail("{}: [drugs] non_therapeutic entries are tables {{category, phrase, whole_name}}", file);
        NonTherapeuticRule r;
        take(*rule, "category", r.category, file);
        take(*rule, "phrase", r.phrase, file);
        take(*rule, "whole_name", r.whole_name, file);
        if (r.category.empty() || r.phrase.empty()) fail("{}: a non_therapeutic rule needs category and phrase", file);
        c.drug_rules.non_therapeutic.push_back(std::move(r));
      }
    }
  }
  double sum = c.train + c.validation + c.test;
  if (c.train < 0 || c.validation < 0 || c.test < 0 || sum < 0.999 || sum > 1.001)
    fail("{}: split ratios must be ≥ 0 and sum to 1 (got {} + {} + {})", file, c.train, c.validation, c.test);
  if (c.folds == 1 || c.folds < 0) fail("{}: folds must be 0 (no folds) or ≥ 2", file);
  if (c.drug_count_percentile <= 0 || c.drug_count_percentile > 100)
    fail("{}: drug_count_percentile must be in (0, 100]", file);
  return c;
}

}  // namespace rxlm::clinical
