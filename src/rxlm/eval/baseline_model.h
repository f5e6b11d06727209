// The three non-LLM baselines as drug rankers fitted on training admissions: most-frequent drugs,
// diagnosis→drug co-occurrence with back-off to the ICD category and the global frequency, and the k
// nearest training admissions by diagnosis-set Jaccard similarity. Definitions, smoothing and tie rules
// with their reasons: docs/baselines.md.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rxlm::eval {

enum class BaselineMethod { most_frequent, cooccurrence, knn };

// "most-frequent", "cooccurrence", "knn"; anything else throws, listing the valid names.
BaselineMethod baseline_method_from_name(std::string_view name);
std::string_view baseline_method_name(BaselineMethod method);

// One admission as the baselines see it: its distinct diagnosis codes, each "<icd version>:<code>"
// ("9:4019", "10:I2510") in coded order, and its recorded drugs.
struct BaselineAdmission {
  std::vector<std::string> codes;
  std::vector<std::string> drugs;
};

// The ICD category of a code key: version and the first 3 characters of the code ("9:4019" → "9:401").
std::string icd_category(std::string_view code_key);

// Pseudo-count of the Dirichlet smoothing in the co-occurrence model (docs/baselines.md).
inline constexpr double kCooccurrenceSmoothing = 1.0;
// Scores are rounded to the nearest multiple of 1/kScoreScale (halves up) before ranking, so that scores
// equal in exact arithmetic tie whatever the floating-point summation order (docs/baselines.md, "Ties").
inline constexpr double kScoreScale = 1e9;
long long rounded_score(double score);

class DrugRanker {
 public:
  // `k` is used by knn only (the number of neighbours, ≥ 1). Throws when `train` is empty.
  DrugRanker(BaselineMethod method, std::vector<BaselineAdmission> train, int k = 10);

  BaselineMethod method() const { return method_; }
  // Every drug prescribed in the training admissions, sorted by name.
  const std::vector<std::string>& vocabulary() const { return vocabulary_; }
  // Training admissions that were prescribed vocabulary()[i].
  const std::vector<int>& drug_admissions() const { return drug_admissions_; }

  // The method's score of every vocabulary drug for an admission with these code keys (aligned with
  // vocabulary(); higher is better).
  std::vector<double> scores(const std::vector<std::string>& codes) const;
  // The vocabulary ranked for the admission, best first, cut to `limit` drugs: score (rounded_score)
  // descending, then training admissions descending, then name ascending.
  std::vector<std::string> rank(const std::vector<std::string>& codes, std::size_t limit) const;

 private:
  struct Counts {
    int admissions = 0;                      // training admissions with this code (or category)
    std::unordered_map<int, int> with_drug;  // drug index → those of them prescribed the drug
  };
  std::vector<double> cooccurrence_scores(const std::vector<std::string>& codes) const;
  std::vector<double> knn_scores(const std::vector<std::string>& codes) const;

  BaselineMethod method_;
  int k_;
  std::vector<BaselineAdmission> train_;
  std::vector<std::vector<int>> train_drug_ids_;  // train_[j].drugs as vocabulary indices
  std::vector<std::string> vocabulary_;
  std::vector<int> drug_admissions_;
  std::unordered_map<std::string, Counts> by_code_, by_category_;
  std::unordered_map<std::string, std::vector<int>> admissions_with_code_;  // for knn
  std::vector<std::size_t> distinct_codes_;                                  // per training admission
};

}  // namespace rxlm::eval
