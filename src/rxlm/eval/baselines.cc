// Baseline runs: list-length choice, prediction records and cross-validation (docs/baselines.md).
#include "rxlm/eval/baselines.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <unordered_set>

#include "rxlm/clinical/prompt.h"
#include "rxlm/core/error.h"

namespace rxlm::eval {

SampleSplit read_split(const std::filesystem::path& path) { return {path.string(), clinical::read_samples(path)}; }

std::vector<SampleSplit> read_folds(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir))
    fail("{}: not a folder (expected the output of `rxlm prep --folds K`, holding fold_0.jsonl …)", dir.string());
  std::vector<SampleSplit> folds;
  for (int i = 0;; ++i) {
    std::filesystem::path file = dir / fmt::format("fold_{}.jsonl", i);
    if (!std::filesystem::exists(file)) break;
    folds.push_back(read_split(file));
  }
  if (folds.size() < 2)
    fail("{}: found {} fold files (fold_0.jsonl, fold_1.jsonl, …); cross-validation needs at least 2 — run "
         "`rxlm prep --folds 5`",
         dir.string(), folds.size());
  return folds;
}

std::vector<BaselineAdmission> baseline_admissions(const SampleSplit& split) {
  std::vector<BaselineAdmission> admissions;
  admissions.reserve(split.samples.size());
  for (const auto& sample : split.samples) {
    BaselineAdmission admission;
    try {
      for (const auto& d : clinical::parse_user(sample.user).diagnoses)
        admission.codes.push_back(fmt::format("{}:{}", d.icd_version, d.icd_code));
    } catch (const Error& e) {
      fail("{}:{}: {}", split.file, sample.line, e.what());
    }
    admission.drugs = sample.drugs;
    admissions.push_back(std::move(admission));
  }
  return admissions;
}

double drug_set_f1(const std::vector<std::string>& predicted, const std::vector<std::string>& reference) {
  const std::set<std::string> p(predicted.begin(), predicted.end()), r(reference.begin(), reference.end());
  if (p.empty() && r.empty()) return 0.0;
  std::size_t both = 0;
  for (const auto& drug : p) both += r.count(drug);
  return 2.0 * static_cast<double>(both) / static_cast<double>(p.size() + r.size());
}

ListLengthChoice tune_list_length(const DrugRanker& ranker, const std::vector<BaselineAdmission>& validation,
                                  int max_n) {
  if (validation.empty()) fail("baseline: the validation set for tuning the list length is empty");
  if (max_n < 1) fail("baseline: the list-length grid must reach at least 1 (got {})", max_n);
  std::vector<double> f1_sum(static_cast<std::size_t>(max_n) + 1, 0.0);
  for (const auto& admission : validation) {
    // One ranking serves every N: the top-N list is its prefix.
    const std::vector<std::string> ranked = ranker.rank(admission.codes, static_cast<std::size_t>(max_n));
    const std::unordered_set<std::string> reference(admission.drugs.begin(), admission.drugs.end());
    std::size_t hits = 0;
    for (int n = 1; n <= max_n; ++n) {
      // Past the end of the vocabulary the list stops growing.
      const std::size_t length = std::min(static_cast<std::size_t>(n), ranked.size());
      if (static_cast<std::size_t>(n) <= ranked.size()) hits += reference.count(ranked[length - 1]);
      f1_sum[static_cast<std::size_t>(n)] +=
          2.0 * static_cast<double>(hits) / static_cast<double>(length + reference.size());
    }
  }
  int best = 1;
  long long best_key = 0;
  for (int n = 1; n <= max_n; ++n) {
    const long long key = rounded_score(f1_sum[static_cast<std::size_t>(n)] / static_cast<double>(validation.size()));
    if (n == 1 || key > best_key) best = n, best_key = key;
  }
  return {best, fmt::format("best mean F1 {:.4f} over {} samples (grid 1..{}, ties to the shorter list)",
                            f1_sum[static_cast<std::size_t>(best)] / static_cast<double>(validation.size()),
                            validation.size(), max_n)};
}

ListLengthChoice median_list_length(const std::vector<BaselineAdmission>& train) {
  if (train.empty()) fail("baseline: the training set has no admissions");
  std::vector<std::size_t> lengths;
  for (const auto& admission : train)
    lengths.push_back(std::set<std::string>(admission.drugs.begin(), admission.drugs.end()).size());
  std::sort(lengths.begin(), lengths.end());
  const int n = static_cast<int>(lengths[(lengths.size() - 1) / 2]);
  return {n, fmt::format("median drugs per training admission (no validation set, no --list-length)")};
}

namespace {

std::vector<BaselineAdmission> concatenate(const std::vector<const SampleSplit*>& splits) {
  std::vector<BaselineAdmission> all;
  for (const SampleSplit* split : splits)
    for (auto& admission : baseline_admissions(*split)) all.push_back(std::move(admission));
  return all;
}

void predict(const DrugRanker& ranker, const SampleSplit& test, int n, std::vector<PredictionRecord>& out) {
  const std::vector<BaselineAdmission> admissions = baseline_admissions(test);
  for (std::size_t i = 0; i < admissions.size(); ++i) {
    const auto& sample = test.samples[i];
    if (sample.sample_id.empty())
      fail("{}:{}: the sample has no meta.sample_id; predictions are keyed by it (samples from `rxlm prep` have one)",
           test.file, sample.line);
    PredictionRecord record;
    record.sample_id = sample.sample_id;
    record.method = fmt::format("baseline:{}", baseline_method_name(ranker.method()));
    record.text = clinical::render_answer(ranker.rank(admissions[i].codes, static_cast<std::size_t>(n)));
    parse_prediction_text(record);
    record.reference = sample.drugs;
    record.reference_atc = sample.atc;
    record.user = sample.user;
    out.push_back(std::move(record));
  }
}

ListLengthChoice fixed_list_length(int n) {
  if (n < 1) fail("baseline: --list-length must be at least 1 (got {})", n);
  return {n, "fixed by --list-length"};
}

}  // namespace

BaselineRun run_baseline(const SampleSplit& train, const SampleSplit& test, const BaselineOptions& options,
                         const SampleSplit* validation) {
  std::vector<BaselineAdmission> train_admissions = baseline_admissions(train);
  if (train_admissions.empty()) fail("{}: no training samples", train.file);
  const DrugRanker ranker(options.method, train_admissions, options.k);
  BaselineRun run;
  if (options.list_length) {
    run.list_lengths.push_back(fixed_list_length(*options.list_length));
  } else if (validation) {
    if (validation->samples.empty()) fail("{}: no validation samples to tune the list length on", validation->file);
    run.list_lengths.push_back(tune_list_length(ranker, baseline_admissions(*validation), options.max_list_length));
    run.list_lengths.back().reason = fmt::format("tuned on {}: {}", validation->file, run.list_lengths.back().reason);
  } else {
    run.list_lengths.push_back(median_list_length(train_admissions));
  }
  predict(ranker, test, run.list_lengths.back().n, run.predictions);
  return run;
}

BaselineRun run_baseline_cv(const std::vector<SampleSplit>& folds, const BaselineOptions& options) {
  const std::size_t k = folds.size();
  if (k < 2) fail("baseline: cross-validation needs at least 2 folds (got {})", k);
  if (!options.list_length && k < 3)
    fail("baseline: tuning the list length inside the training folds needs at least 3 folds; give --list-length");
  BaselineRun run;
  for (std::size_t i = 0; i < k; ++i) {
    std::vector<const SampleSplit*> training, fitting;  // fitting = training minus the tuning fold
    const std::size_t tuning = (i + 1) % k;
    for (std::size_t j = 0; j < k; ++j) {
      if (j == i) continue;
      training.push_back(&folds[j]);
      if (j != tuning) fitting.push_back(&folds[j]);
    }
    ListLengthChoice choice;
    if (options.list_length) {
      choice = fixed_list_length(*options.list_length);
    } else {
      const DrugRanker tuner(options.method, concatenate(fitting), options.k);
      choice = tune_list_length(tuner, baseline_admissions(folds[tuning]), options.max_list_length);
      choice.reason = fmt::format("tuned on {} (ranker fitted on the other {} training folds): {}", folds[tuning].file,
                                  fitting.size(), choice.reason);
    }
    choice.reason = fmt::format("test {}: {}", folds[i].file, choice.reason);
    const DrugRanker ranker(options.method, concatenate(training), options.k);
    predict(ranker, folds[i], choice.n, run.predictions);
    run.list_lengths.push_back(std::move(choice));
  }
  std::set<std::string> ids;
  for (const auto& record : run.predictions)
    if (!ids.insert(record.sample_id).second)
      fail("baseline: sample_id \"{}\" appears in more than one fold; the folds must be disjoint", record.sample_id);
  return run;
}

}  // namespace rxlm::eval
