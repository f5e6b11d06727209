// Fitting and scoring of the non-LLM baselines (definitions: docs/baselines.md).
#include "rxlm/eval/baseline_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_set>

#include "rxlm/core/error.h"

namespace rxlm::eval {

BaselineMethod baseline_method_from_name(std::string_view name) {
  if (name == "most-frequent") return BaselineMethod::most_frequent;
  if (name == "cooccurrence") return BaselineMethod::cooccurrence;
  if (name == "knn") return BaselineMethod::knn;
  fail("unknown baseline method \"{}\"; choose most-frequent, cooccurrence or knn", name);
}

std::string_view baseline_method_name(BaselineMethod method) {
  switch (method) {
    case BaselineMethod::most_frequent: return "most-frequent";
    case BaselineMethod::cooccurrence: return "cooccurrence";
    case BaselineMethod::knn: return "knn";
  }
  return "?";
}

std::string icd_category(std::string_view code_key) {
  std::size_t colon = code_key.find(':');
  std::size_t prefix = colon == std::string_view::npos ? 0 : colon + 1;
  return std::string(code_key.substr(0, prefix + 3));
}

long long rounded_score(double score) { return static_cast<long long>(std::floor(score * kScoreScale + 0.5)); }

DrugRanker::DrugRanker(BaselineMethod method, std::vector<BaselineAdmission> train, int k)
    : method_(method), k_(k), train_(std::move(train)) {
  if (train_.empty()) fail("baseline: the training set has no admissions");
  if (k_ < 1) fail("baseline: k must be at least 1 (got {})", k_);
  std::map<std::string, int> drug_count;
  for (const auto& admission : train_) {
    std::unordered_set<std::string> seen;
    for (const auto& drug : admission.drugs)
      if (seen.insert(drug).second) ++drug_count[drug];
  }
  std::unordered_map<std::string, int> drug_id;
  for (const auto& [drug, count] : drug_count) {  // std::map: sorted by name
    drug_id[drug] = static_cast<int>(vocabulary_.size());
    vocabulary_.push_back(drug);
    drug_admissions_.push_back(count);
  }
  train_drug_ids_.resize(train_.size());
  for (std::size_t j = 0; j < train_.size(); ++j) {
    std::unordered_set<int> drugs;
    for (const auto& drug : train_[j].drugs) drugs.insert(drug_id.at(drug));
    train_drug_ids_[j].assign(drugs.begin(), drugs.end());
    std::sort(train_drug_ids_[j].begin(), train_drug_ids_[j].end());
    // Distinct codes and categories of the admission, each counted once per admission.
    std::unordered_set<std::string> codes(train_[j].codes.begin(), train_[j].codes.end()), categories;
    for (const auto& code : codes) {
      categories.insert(icd_category(code));
      admissions_with_code_[code].push_back(static_cast<int>(j));
    }
    distinct_codes_.push_back(codes.size());
    for (const auto& [keys, table] : {std::pair{&codes, &by_code_}, std::pair{&categories, &by_category_}})
      for (const auto& key : *keys) {
        Counts& counts = (*table)[key];
        ++counts.admissions;
        for (int d : train_drug_ids_[j]) ++counts.with_drug[d];
      }
  }
}

std::vector<double> DrugRanker::scores(const std::vector<std::string>& codes) const {
  switch (method_) {
    case BaselineMethod::most_frequent: return {drug_admissions_.begin(), drug_admissions_.end()};
    case BaselineMethod::cooccurrence: return cooccurrence_scores(codes);
    case BaselineMethod::knn: return knn_scores(codes);
  }
  return {};
}

// Σ over the admission's distinct codes of P(drug | code), each estimate shrunk towards its parent with a
// Dirichlet prior of kCooccurrenceSmoothing pseudo-admissions: global P(d) = n_d / N; category
// P(d|g) = (n_gd + m·P(d)) / (n_g + m); code P(d|c) = (n_cd + m·P(d|g)) / (n_c + m). An unseen code has
// n_c = 0 and so falls back to its category, an unseen category to the global frequency.
std::vector<double> DrugRanker::cooccurrence_scores(const std::vector<std::string>& codes) const {
  const std::size_t n_drugs = vocabulary_.size();
  const double m = kCooccurrenceSmoothing;
  std::vector<double> global(n_drugs);
  for (std::size_t d = 0; d < n_drugs; ++d)
    global[d] = static_cast<double>(drug_admissions_[d]) / static_cast<double>(train_.size());
  auto shrink = [&](const Counts* counts, const std::vector<double>& parent) {
    if (!counts) return parent;
    std::vector<double> p(n_drugs);
    for (std::size_t d = 0; d < n_drugs; ++d) {
      auto it = counts->with_drug.find(static_cast<int>(d));
      double together = it == counts->with_drug.end() ? 0.0 : it->second;
      p[d] = (together + m * parent[d]) / (counts->admissions + m);
    }
    return p;
  };
  auto lookup = [](const std::unordered_map<std::string, Counts>& table, const std::string& key) -> const Counts* {
    auto it = table.find(key);
    return it == table.end() ? nullptr : &it->second;
  };
  std::vector<double> total(n_drugs, 0.0);
  std::unordered_set<std::string> seen;
  for (const auto& code : codes) {
    if (!seen.insert(code).second) continue;
    std::vector<double> p = shrink(lookup(by_code_, code), shrink(lookup(by_category_, icd_category(code)), global));
    for (std::size_t d = 0; d < n_drugs; ++d) total[d] += p[d];
  }
  return total;
}

// Σ over the k training admissions most similar to this one (Jaccard of distinct code sets; ties in
// similarity go to the earlier training admission) of similarity × [neighbour was prescribed the drug].
std::vector<double> DrugRanker::knn_scores(const std::vector<std::string>& codes) const {
  const std::unordered_set<std::string> mine(codes.begin(), codes.end());
  // Shared codes per training admission, through the code → admissions index (only admissions sharing a
  // code can have a similarity above 0, and similarity 0 votes nothing). The counter is per thread and
  // reset through the list of admissions it touched, so a query costs what its codes' postings cost.
  thread_local std::vector<int> shared;
  thread_local std::vector<int> touched;
  if (shared.size() < train_.size()) shared.resize(train_.size(), 0);  // all zero between calls
  touched.clear();
  for (const auto& code : mine)
    if (auto it = admissions_with_code_.find(code); it != admissions_with_code_.end())
      for (int j : it->second)
        if (shared[static_cast<std::size_t>(j)]++ == 0) touched.push_back(j);
  std::vector<std::pair<double, int>> similar;  // (similarity, training index)
  similar.reserve(touched.size());
  for (int j : touched) {
    const auto both = static_cast<std::size_t>(shared[static_cast<std::size_t>(j)]);
    similar.emplace_back(static_cast<double>(both) /
                             static_cast<double>(mine.size() + distinct_codes_[static_cast<std::size_t>(j)] - both),
                         j);
    shared[static_cast<std::size_t>(j)] = 0;
  }
  auto closer = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  const std::size_t keep = std::min(similar.size(), static_cast<std::size_t>(k_));
  std::partial_sort(similar.begin(), similar.begin() + static_cast<std::ptrdiff_t>(keep), similar.end(), closer);
  similar.resize(keep);
  std::vector<double> total(vocabulary_.size(), 0.0);
  for (const auto& [similarity, j] : similar)
    for (int d : train_drug_ids_[static_cast<std::size_t>(j)]) total[static_cast<std::size_t>(d)] += similarity;
  return total;
}

std::vector<std::string> DrugRanker::rank(const std::vector<std::string>& codes, std::size_t limit) const {
  const std::vector<double> score = scores(codes);
  std::vector<long long> key(score.size());
  for (std::size_t d = 0; d < score.size(); ++d) key[d] = rounded_score(score[d]);
  std::vector<std::size_t> order(vocabulary_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // The vocabulary is sorted by name, so the index is the final tie-break.
  auto better = [&](std::size_t a, std::size_t b) {
    if (key[a] != key[b]) return key[a] > key[b];
    if (drug_admissions_[a] != drug_admissions_[b]) return drug_admissions_[a] > drug_admissions_[b];
    return a < b;
  };
  limit = std::min(limit, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(limit), order.end(), better);
  std::vector<std::string> ranked;
  ranked.reserve(limit);
  for (std::size_t i = 0; i < limit; ++i) ranked.push_back(vocabulary_[order[i]]);
  return ranked;
}

}  // namespace rxlm::eval
