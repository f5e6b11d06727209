// Running the non-LLM baselines on prep's samples: the list length (fixed, tuned on a validation split,
// or the training median), prediction records in the shared format, and k-fold cross-validation over
// prep's fold_<i>.jsonl files. The library API behind `rxlm baseline`, also called by the demo.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rxlm/clinical/sample_file.h"
#include "rxlm/eval/baseline_model.h"
#include "rxlm/eval/prediction_record.h"

namespace rxlm::eval {

// Samples with the file they came from, so errors can name file:line.
struct SampleSplit {
  std::string file;
  std::vector<clinical::ClinicalSample> samples;
};
SampleSplit read_split(const std::filesystem::path& path);  // clinical::read_samples, errors name the file
// prep's fold_0.jsonl … fold_<k-1>.jsonl in `dir` (consecutive from 0; at least 2).
std::vector<SampleSplit> read_folds(const std::filesystem::path& dir);

// The diagnosis codes (from the user message, clinical::parse_user) and drugs of every sample; errors
// name file:line.
std::vector<BaselineAdmission> baseline_admissions(const SampleSplit& split);

struct BaselineOptions {
  BaselineMethod method = BaselineMethod::cooccurrence;
  int k = 10;                       // knn neighbours
  std::optional<int> list_length;   // fixed N (skips tuning)
  int max_list_length = 40;         // tuning grid: N = 1 … max_list_length
};

struct ListLengthChoice {
  int n = 0;
  std::string reason;  // one line: how n was chosen
};

// F1 between a predicted and a recorded drug list as sets (2|P∩R| / (|P|+|R|); 0 when both are empty).
// A local helper for tuning N; the reported metrics live in eval's metrics module.
double drug_set_f1(const std::vector<std::string>& predicted, const std::vector<std::string>& reference);

// The N in 1…max_n whose top-N lists have the highest mean drug_set_f1 on `validation` (means rounded
// with rounded_score; ties go to the smaller N). `validation` must not be empty.
ListLengthChoice tune_list_length(const DrugRanker& ranker, const std::vector<BaselineAdmission>& validation,
                                  int max_n);
// The lower median of the training admissions' distinct drug counts.
ListLengthChoice median_list_length(const std::vector<BaselineAdmission>& train);

struct BaselineRun {
  std::vector<PredictionRecord> predictions;  // one per test sample, in test order
  std::vector<ListLengthChoice> list_lengths; // one per run (one per fold under cross-validation)
};

// Fits on `train`, chooses N (options.list_length, else tuned on `validation` when given, else the
// training median) and predicts every test sample. Test samples need a sample_id.
BaselineRun run_baseline(const SampleSplit& train, const SampleSplit& test, const BaselineOptions& options,
                         const SampleSplit* validation = nullptr);

// Cross-validation: fold i is the test set and the other folds train. Unless N is fixed, it is tuned on
// fold (i+1) mod k with a ranker fitted on the remaining k-2 folds (so k ≥ 3), then the ranker is refitted
// on all k-1 training folds. Returns every sample's prediction exactly once, fold by fold.
BaselineRun run_baseline_cv(const std::vector<SampleSplit>& folds, const BaselineOptions& options);

}  // namespace rxlm::eval
