// `rxlm eval` as a library: evaluate() turns prediction records into overall metrics with bootstrap
// confidence intervals plus per-sample scores, and the writers render one or several named results
// (methods, checkpoints) as JSON, a Markdown report and a plain-text summary table. A checkpoint sweep
// or the demo loads EvalResources once and calls evaluate() per predictions file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rxlm/eval/bootstrap.h"
#include "rxlm/eval/ddi.h"
#include "rxlm/eval/metrics.h"
#include "rxlm/eval/prediction_record.h"

namespace rxlm::eval {

struct EvalOptions {
  std::filesystem::path drug_maps;  // "" = <shared>/data/drug-maps
  BootstrapOptions bootstrap;       // 1000 resamples, seed 0, 95%
};

// What evaluation reads from the shared drug maps; load once, evaluate many files.
struct EvalResources {
  AtcCoder coder;
  DdiTable ddi;
  static EvalResources load(const std::filesystem::path& drug_maps);  // "" = <shared>/data/drug-maps
};

struct OverallMetric {
  std::string key, label;
  bool share = false;    // a proportion (printed as %), else a count
  double value = 0;      // NaN when undefined (a parsed-sample average with no parsed sample)
  bool has_interval = false;
  Interval interval;
};

struct EvalResult {
  std::size_t samples = 0, parsed = 0;
  std::vector<OverallMetric> overall;  // metric_catalogue() order
  std::vector<SampleMetrics> per_sample;
  // Records whose stored parsed/drugs differ from what the strict parser makes of their text today.
  // Metrics use the stored fields (the record is the contract); this is a warning.
  int64_t parser_disagreements = 0;
  std::map<std::string, int64_t> unknown_suggested;  // suggested name without ATC → samples
  BootstrapOptions bootstrap;

  const OverallMetric& metric(const std::string& key) const;  // throws for an unknown key
};

// Errors: no records.
EvalResult evaluate(const std::vector<PredictionRecord>& records, const EvalResources& resources,
                    const EvalOptions& options);
EvalResult evaluate(const std::vector<PredictionRecord>& records, const EvalOptions& options);

// One row of a comparison: a method, a checkpoint, a file.
struct NamedResult {
  std::string name;    // e.g. "baseline:cooccurrence", "checkpoint-200"
  std::string source;  // where the predictions came from (a path), may be ""
  EvalResult result;
};

nlohmann::ordered_json to_json(const EvalResult& result, bool per_sample = true);
// {"format":"rxlm-eval/1","definitions":"docs/evaluation.md","results":[{name, source, ...}]}
nlohmann::ordered_json to_json(const std::vector<NamedResult>& results, bool per_sample = true);

// The headline table (one row per result): output rate, accuracy over parsed and over all samples,
// F1 and Jaccard, ATC-3 Jaccard, drugs per sample, DDI rate beside the recorded one; cells carry their
// confidence intervals.
std::string markdown_summary_table(const std::vector<NamedResult>& results);
// Summary table, then every metric (rows) for every result (columns), then notes (bootstrap, warnings).
std::string markdown_report(const std::vector<NamedResult>& results);
// The summary table as aligned plain text for a terminal, transposed: one column per result.
std::string text_summary_table(const std::vector<NamedResult>& results);

}  // namespace rxlm::eval
