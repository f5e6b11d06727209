// Drug-suggestion metrics: per-sample set scores at drug, ATC-4 and ATC-3 level, DDI pair counts, and
// the overall metrics (output rate, the paper's accuracy, recall/F1/Jaccard, drugs per sample, DDI
// rate) averaged over parsed samples and over all samples. Definitions and reasons: docs/evaluation.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "rxlm/eval/ddi.h"
#include "rxlm/eval/prediction_record.h"

namespace rxlm::clinical {
class AtcMap;
class DrugNormaliser;
}  // namespace rxlm::clinical

namespace rxlm::eval {

// |P ∩ R| against |P| and |R| for two sets; every 0/0 is 0 (SafeDrug's convention): an empty
// prediction has precision 0, recall 0, F1 0 and Jaccard 0.
struct SetScores {
  int64_t predicted = 0, reference = 0, matched = 0;
  double precision = 0, recall = 0, f1 = 0, jaccard = 0;
};
SetScores score_sets(const std::set<std::string>& predicted, const std::set<std::string>& reference);

// The ATC code of a canonical drug name: names given with add() first (eval adds the references'
// codes, so a name scores at ATC level exactly as prep coded it), then the shared maps through
// clinical::DrugNormaliser + clinical::AtcMap, built as `rxlm prep` builds them. "" = unknown.
class AtcCoder {
 public:
  AtcCoder();  // knows only the names given with add()
  explicit AtcCoder(const std::filesystem::path& drug_maps);
  ~AtcCoder();
  AtcCoder(AtcCoder&&) noexcept;
  AtcCoder& operator=(AtcCoder&&) noexcept;

  void add(const std::string& name, const std::string& atc);  // the first code given for a name stays
  std::string code(const std::string& name) const;

 private:
  std::unique_ptr<clinical::DrugNormaliser> normaliser_;
  std::unique_ptr<clinical::AtcMap> map_;
  std::unordered_map<std::string, std::string> fixed_;
};

// The code at ATC level 3 (4 characters, "B01A") or 4 (5 characters, "B01AB"); "" when `atc` is
// shorter than that level.
std::string atc_at_level(const std::string& atc, int level);

struct SampleMetrics {
  std::string sample_id;
  bool parsed = false;
  int64_t suggested = 0;            // distinct suggested drug names (0 when unparsed)
  int64_t suggested_duplicates = 0; // names repeated in the record's list (counted once in every set)
  int64_t recorded = 0;             // distinct recorded drug names
  SetScores drug, atc4, atc3;       // all zero when unparsed
  std::vector<std::string> unknown_suggested;  // suggested names without an ATC code
  int64_t unknown_recorded = 0;                // recorded names without an ATC code
  DdiPairs ddi, recorded_ddi;       // over the ATC-3 sets of the suggested / recorded drugs
};

// Scores one record. `code_of(name)` is the ATC code of a drug name ("" unknown); recorded drugs use
// record.reference_atc when present.
SampleMetrics score_sample(const PredictionRecord& record, const std::function<std::string(const std::string&)>& code_of,
                           const DdiTable& ddi);

// One overall metric as reported: key (JSON), label (tables), and whether it is a share (printed as %).
struct MetricInfo {
  const char* key;
  const char* label;
  bool share;
};
const std::vector<MetricInfo>& metric_catalogue();

// The overall metrics, in metric_catalogue() order, over samples[indices] (indices may repeat: a
// bootstrap resample). Averages over parsed samples are NaN when none parsed.
std::vector<double> summarise(const std::vector<SampleMetrics>& samples, const std::vector<std::size_t>& indices);

}  // namespace rxlm::eval
