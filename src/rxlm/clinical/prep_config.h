// Settings of `rxlm prep` with their documented defaults, optionally overridden by a TOML file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "rxlm/clinical/drug_normaliser.h"

namespace rxlm::clinical {

struct PrepConfig {
  // Split by patient.
  std::uint64_t seed = 1234;
  double train = 0.8, validation = 0.1, test = 0.1;
  int folds = 0;  // ≥ 2: write fold_<i>.jsonl files (patients partitioned) instead of train/validation/test
  // Outliers.
  int min_age = 18, max_age = 110;           // MIMIC-IV hosp holds adults; outside this range = data error
  double drug_count_percentile = 99.0;       // drop admissions above this percentile of distinct drugs; 100 keeps all
  // omr: weight/BMI within this many days before admission up to discharge; height any time (adult height is stable).
  int omr_days_before = 365;
  double min_height_cm = 120, max_height_cm = 230, min_weight_kg = 25, max_weight_kg = 350, min_bmi = 10,
         max_bmi = 100;
  DrugRules drug_rules;
  std::filesystem::path drug_maps;  // default: <shared>/data/drug-maps
  bool skip_malformed = false;
  // Optional length filter: samples whose token count exceeds max_tokens are dropped.
  std::filesystem::path tokenizer;
  int max_tokens = 0;
};

// Defaults overlaid with the keys present in `path` (see docs/prep.md for the file format).
// Unknown keys are an error, so a typo cannot silently leave a default in place.
PrepConfig load_prep_config(const std::filesystem::path& path);
PrepConfig default_prep_config();

}  // namespace rxlm::clinical
