// Per-sample scoring and the overall averages (see metrics.h and docs/evaluation.md).
#include "rxlm/eval/metrics.h"

#include <cmath>
#include <limits>

#include "rxlm/clinical/atc_map.h"
#include "rxlm/clinical/drug_normaliser.h"

namespace rxlm::eval {

SetScores score_sets(const std::set<std::string>& predicted, const std::set<std::string>& reference) {
  SetScores s;
  s.predicted = static_cast<int64_t>(predicted.size());
  s.reference = static_cast<int64_t>(reference.size());
  for (const auto& name : predicted) s.matched += reference.count(name);
  const auto ratio = [](int64_t a, int64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); };
  s.precision = ratio(s.matched, s.predicted);
  s.recall = ratio(s.matched, s.reference);
  s.f1 = s.precision + s.recall == 0 ? 0.0 : 2 * s.precision * s.recall / (s.precision + s.recall);
  s.jaccard = ratio(s.matched, s.predicted + s.reference - s.matched);
  return s;
}

AtcCoder::AtcCoder() = default;
AtcCoder::AtcCoder(const std::filesystem::path& drug_maps)
    : normaliser_(std::make_unique<clinical::DrugNormaliser>()),
      map_(std::make_unique<clinical::AtcMap>(drug_maps, *normaliser_)) {}
AtcCoder::~AtcCoder() = default;
AtcCoder::AtcCoder(AtcCoder&&) noexcept = default;
AtcCoder& AtcCoder::operator=(AtcCoder&&) noexcept = default;

void AtcCoder::add(const std::string& name, const std::string& atc) { fixed_.emplace(name, atc); }

std::string AtcCoder::code(const std::string& name) const {
  if (auto it = fixed_.find(name); it != fixed_.end()) return it->second;
  if (!map_) return {};
  // Suggested names are prep's canonical names; the map also knows MIMIC's raw drug strings.
  return map_->find("", name, normaliser_->canonical_name(name)).atc;
}

std::string atc_at_level(const std::string& atc, int level) {
  const std::size_t length = level == 3 ? 4 : level == 4 ? 5 : 0;
  return length != 0 && atc.size() >= length ? atc.substr(0, length) : std::string();
}

SampleMetrics score_sample(const PredictionRecord& record, const std::function<std::string(const std::string&)>& code_of,
                           const DdiTable& ddi) {
  SampleMetrics m;
  m.sample_id = record.sample_id;
  m.parsed = record.parsed;

  std::set<std::string> recorded(record.reference.begin(), record.reference.end()), recorded_atc3, recorded_atc4;
  std::set<std::string> unknown_recorded;
  for (std::size_t i = 0; i < record.reference.size(); ++i) {
    const std::string code = record.reference_atc.empty() ? code_of(record.reference[i]) : record.reference_atc[i];
    if (code.empty()) unknown_recorded.insert(record.reference[i]);
    if (auto c = atc_at_level(code, 3); !c.empty()) recorded_atc3.insert(c);
    if (auto c = atc_at_level(code, 4); !c.empty()) recorded_atc4.insert(c);
  }
  m.recorded = static_cast<int64_t>(recorded.size());
  m.unknown_recorded = static_cast<int64_t>(unknown_recorded.size());
  m.recorded_ddi = count_ddi_pairs(recorded_atc3, ddi);

  // An unparsed answer suggests nothing: every score stays 0 (it is left out of the parsed averages).
  std::set<std::string> suggested, suggested_atc3, suggested_atc4;
  if (record.parsed) {
    for (const auto& name : record.drugs) {
      if (!suggested.insert(name).second) {
        ++m.suggested_duplicates;
        continue;
      }
      const std::string code = code_of(name);
      if (code.empty()) m.unknown_suggested.push_back(name);
      if (auto c = atc_at_level(code, 3); !c.empty()) suggested_atc3.insert(c);
      if (auto c = atc_at_level(code, 4); !c.empty()) suggested_atc4.insert(c);
    }
  }
  m.suggested = static_cast<int64_t>(suggested.size());
  if (record.parsed) {
    m.drug = score_sets(suggested, recorded);
    m.atc4 = score_sets(suggested_atc4, recorded_atc4);
    m.atc3 = score_sets(suggested_atc3, recorded_atc3);
    m.ddi = count_ddi_pairs(suggested_atc3, ddi);
  }
  return m;
}

const std::vector<MetricInfo>& metric_catalogue() {
  static const std::vector<MetricInfo> catalogue{
      {"output_rate", "Output rate", true},
      {"accuracy_parsed", "Accuracy (precision), parsed", true},
      {"accuracy_all", "Accuracy (precision), all", true},
      {"recall_parsed", "Recall, parsed", true},
      {"recall_all", "Recall, all", true},
      {"f1_parsed", "F1, parsed", true},
      {"f1_all", "F1, all", true},
      {"jaccard_parsed", "Jaccard, parsed", true},
      {"jaccard_all", "Jaccard, all", true},
      {"atc4_precision_parsed", "ATC-4 precision, parsed", true},
      {"atc4_precision_all", "ATC-4 precision, all", true},
      {"atc4_recall_parsed", "ATC-4 recall, parsed", true},
      {"atc4_recall_all", "ATC-4 recall, all", true},
      {"atc4_f1_parsed", "ATC-4 F1, parsed", true},
      {"atc4_f1_all", "ATC-4 F1, all", true},
      {"atc4_jaccard_parsed", "ATC-4 Jaccard, parsed", true},
      {"atc4_jaccard_all", "ATC-4 Jaccard, all", true},
      {"atc3_precision_parsed", "ATC-3 precision, parsed", true},
      {"atc3_precision_all", "ATC-3 precision, all", true},
      {"atc3_recall_parsed", "ATC-3 recall, parsed", true},
      {"atc3_recall_all", "ATC-3 recall, all", true},
      {"atc3_f1_parsed", "ATC-3 F1, parsed", true},
      {"atc3_f1_all", "ATC-3 F1, all", true},
      {"atc3_jaccard_parsed", "ATC-3 Jaccard, parsed", true},
      {"atc3_jaccard_all", "ATC-3 Jaccard, all", true},
      {"drugs_per_sample_parsed", "Suggested drugs per sample, parsed", false},
      {"drugs_per_sample_all", "Suggested drugs per sample, all", false},
      {"recorded_drugs_per_sample", "Recorded drugs per sample", false},
      {"unknown_drug_share", "Suggested drugs without ATC", true},
      {"recorded_unknown_drug_share", "Recorded drugs without ATC", true},
      {"ddi_rate", "DDI rate", true},
      {"recorded_ddi_rate", "DDI rate of recorded drugs", true},
  };
  return catalogue;
}

std::vector<double> summarise(const std::vector<SampleMetrics>& samples, const std::vector<std::size_t>& indices) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  const std::size_t n = indices.size();
  std::size_t parsed = 0;
  // Sums over the selected samples (unparsed ones add 0 to every score).
  double sums[3][4] = {};  // [drug, atc4, atc3][precision, recall, f1, jaccard]
  double suggested = 0, recorded = 0, unknown = 0, unknown_recorded = 0;
  int64_t pairs = 0, interacting = 0, recorded_pairs = 0, recorded_interacting = 0;
  for (std::size_t i : indices) {
    const SampleMetrics& m = samples.at(i);
    parsed += m.parsed;
    const SetScores* levels[3] = {&m.drug, &m.atc4, &m.atc3};
    for (int l = 0; l < 3; ++l) {
      sums[l][0] += levels[l]->precision;
      sums[l][1] += levels[l]->recall;
      sums[l][2] += levels[l]->f1;
      sums[l][3] += levels[l]->jaccard;
    }
    suggested += static_cast<double>(m.suggested);
    recorded += static_cast<double>(m.recorded);
    unknown += static_cast<double>(m.unknown_suggested.size());
    unknown_recorded += static_cast<double>(m.unknown_recorded);
    pairs += m.ddi.pairs, interacting += m.ddi.interacting;
    recorded_pairs += m.recorded_ddi.pairs, recorded_interacting += m.recorded_ddi.interacting;
  }
  const auto over = [&](double sum, double count) { return count == 0 ? nan : sum / count; };
  const auto pooled = [](int64_t a, int64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); };
  const double p = static_cast<double>(parsed), all = static_cast<double>(n);
  std::vector<double> values;
  values.push_back(over(p, all));
  for (int l = 0; l < 3; ++l)
    for (int k = 0; k < 4; ++k) {
      values.push_back(over(sums[l][k], p));
      values.push_back(over(sums[l][k], all));
    }
  values.push_back(over(suggested, p));
  values.push_back(over(suggested, all));
  values.push_back(over(recorded, all));
  values.push_back(over(unknown, suggested));
  values.push_back(over(unknown_recorded, recorded));
  values.push_back(pooled(interacting, pairs));
  values.push_back(pooled(recorded_interacting, recorded_pairs));
  return values;
}

}  // namespace rxlm::eval
