// From hosp tables to one sample per admission: demographics (age, sex, omr height/weight/BMI),
// diagnoses in seq_num order, the distinct normalised therapeutic drugs with ATC codes; every
// admission that is dropped is counted under its reason.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/clinical/atc_map.h"
#include "rxlm/clinical/drug_normaliser.h"
#include "rxlm/clinical/hosp_tables.h"
#include "rxlm/clinical/prep_config.h"
#include "rxlm/clinical/prompt.h"

namespace rxlm::clinical {

// One admission that made it through the cleaning rules. Diagnoses and drugs are ids, not strings:
// a cohort holds millions of them and they are rendered one sample at a time (render_prompt).
struct Sample {
  std::int64_t subject_id = 0, hadm_id = 0;  // for the split and the optional link file only
  std::size_t patient_row = 0;               // the subject's index in HospTables::patients
  int admit_day = 0;
  PatientFacts patient;
  // In Cohort::id_lists (no allocation per sample: a cohort has hundreds of thousands).
  std::span<const std::int32_t> diagnoses;  // HospTables::codes ids in seq_num order, each code once
  std::span<const std::int32_t> drugs;      // Cohort::drug_names ids, ascending (= sorted by name), distinct
};

struct DrugInfo {
  std::string atc;         // most frequent row-level code among the drug's therapeutic rows; "" if none
  std::int64_t rows = 0;   // therapeutic prescription rows that fold into this name
};

struct Cohort {
  std::vector<Sample> samples;          // sorted by hadm_id
  std::vector<std::vector<std::int32_t>> id_lists;  // what the samples' diagnoses and drugs view
  std::vector<std::string> drug_names;  // canonical names of the therapeutic drugs, sorted
  std::vector<DrugInfo> drugs;          // per drug_names id
  std::vector<const std::string*> code_titles;  // per HospTables::codes id; nullptr when not in d_icd_diagnoses
  // Per HospTables::codes id: the code and its title ("" when unknown) as views into `code_text`, one
  // compact block that stays in cache while the samples are rendered in shuffled order.
  // Their json_rest views point into `code_json`.
  std::vector<DiagnosisView> code_lines;
  std::string code_text, code_json;
  std::vector<std::string> drug_json_lines;  // json_drug_line per drug_names id
  std::map<std::string, std::int64_t> drops;  // reason → admissions, in the order the checks run
  nlohmann::ordered_json stats;               // counts for the report (no identifiers)
};

Cohort build_cohort(const HospTables& tables, const PrepConfig& config, const DrugNormaliser& normaliser,
                    const AtcMap& atc);

// The sample's diagnosis lines and drug names as views into `cohort`, written into `diagnoses` and
// `drugs` (reused between calls, so rendering many samples allocates nothing); see append_user. Also
// the drugs' json_drug_line texts into `drug_json_lines`, when given (see append_chat_line).
void sample_lines(const Cohort& cohort, const Sample& sample, std::vector<DiagnosisView>& diagnoses,
                  std::vector<std::string_view>& drugs, std::vector<std::string_view>* drug_json_lines = nullptr);

// Readable admission type ("EW EMER." → "emergency"); unknown values are lower-cased as they are.
std::string admission_type_phrase(std::string_view admission_type);

}  // namespace rxlm::clinical
