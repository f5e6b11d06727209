// Synthetic MIMIC-IV-shaped hosp tables for scale tests: the demo's admissions are resampled as
// templates (keeping each admission's diagnosis→drug structure and every column's value style) under
// fresh ids and shifted dates. No real identifier is written.
#pragma once
#include <cstdint>
#include <filesystem>

namespace rxlm::clinical {

struct SynthOptions {
  std::int64_t admissions = 1000;
  std::uint64_t seed = 1;
  // Admissions per patient, as in MIMIC-IV v2.2 (431,231 / 299,712 ≈ 1.44).
  double admissions_per_patient = 431231.0 / 299712.0;
  // Rows per admission in MIMIC-IV v2.2 (4,756,326 diagnoses_icd and 15,416,708 prescriptions rows over
  // 431,231 admissions). The demo has more per admission, so template rows are kept with probability
  // target / demo average (diagnoses renumbered 1..k in their original seq_num order).
  double diagnoses_per_admission = 4756326.0 / 431231.0;
  double prescriptions_per_admission = 15416708.0 / 431231.0;
  // PhysioNet's files are gzip's default level 6 (the demo's prescriptions.csv.gz is byte for byte the
  // size `gzip -6` gives; docs/prep.md), and inflating speed depends on the level, so that is the default.
  int gzip_level = 6;
};

struct SynthCounts {
  std::int64_t patients = 0, admissions = 0, diagnoses = 0, prescriptions = 0, omr = 0;
};

// Reads the template tables from `demo` (a MIMIC-IV release folder) and writes
// out/hosp/{patients,admissions,diagnoses_icd,d_icd_diagnoses,prescriptions,omr}.csv.gz.
SynthCounts synthesize_hosp(const std::filesystem::path& demo, const std::filesystem::path& out,
                            const SynthOptions& options);

}  // namespace rxlm::clinical
