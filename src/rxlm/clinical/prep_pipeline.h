// `rxlm prep` as a library call: hosp tables → cohort → length filter → patient split → JSONL chat
// samples, drug vocabulary and the stats report (JSON + Markdown), every file written atomically.
#pragma once
#include <filesystem>

#include <nlohmann/json.hpp>

#include "rxlm/clinical/hosp_source.h"
#include "rxlm/clinical/prep_config.h"

namespace rxlm::clinical {

// Writes into `out_dir` (created if missing): train.jsonl, validation.jsonl, test.jsonl (or
// fold_<i>.jsonl), drug_vocabulary.tsv, prep_report.json, prep_report.md. When `link_file` is not empty
// it also writes sample_id → subject_id, hadm_id there (keep it apart from the de-identified output).
// Returns the report.
nlohmann::ordered_json run_prep(HospSource& source, const PrepConfig& config, const std::filesystem::path& out_dir,
                                const std::filesystem::path& link_file = {});

// The Markdown rendering of a report returned by run_prep.
std::string report_markdown(const nlohmann::ordered_json& report);

}  // namespace rxlm::clinical
