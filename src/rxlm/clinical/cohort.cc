// build_cohort: joins the hosp tables per admission and applies the documented cleaning rules.
#include "rxlm/clinical/cohort.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace rxlm::clinical {
namespace {

constexpr double kCmPerInch = 2.54;
constexpr double kKgPerPound = 0.45359237;

struct ProductInfo {
  std::string canonical, excluded;  // excluded = non-therapeutic category, "" when therapeutic
  std::int32_t drug = -1;           // Cohort::drug_names id; -1 when excluded
  AtcMap::Lookup atc;
};

struct OmrChoice {
  std::optional<double> height_cm, weight_kg, bmi;
  bool bmi_computed = false;
};

double to_metric(const OmrMeasurement& m) {
  return m.kind == OmrKind::Height ? m.value * kCmPerInch : m.kind == OmrKind::Weight ? m.value * kKgPerPound : m.value;
}

bool plausible(const OmrMeasurement& m, const PrepConfig& c) {
  double v = to_metric(m);
  switch (m.kind) {
    case OmrKind::Height: return v >= c.min_height_cm && v <= c.max_height_cm;
    case OmrKind::Weight: return v >= c.min_weight_kg && v <= c.max_weight_kg;
    case OmrKind::Bmi: return v >= c.min_bmi && v <= c.max_bmi;
  }
  return false;
}

// Closest measurement to the admission date; ties → the earlier date, then the lower seq_num (the
// rows arrive sorted by day, seq_num, value, so the first strictly-closer row wins).
OmrChoice choose_omr(const std::vector<OmrMeasurement>& omr, const Admission& a, const PrepConfig& c) {
  auto lo = std::lower_bound(omr.begin(), omr.end(), a.subject_id,
                             [](const OmrMeasurement& m, std::int64_t id) { return m.subject_id < id; });
  const OmrMeasurement* best[3] = {nullptr, nullptr, nullptr};
  for (auto it = lo; it != omr.end() && it->subject_id == a.subject_id; ++it) {
    if (!plausible(*it, c)) continue;
    bool windowed = it->kind != OmrKind::Height;
    if (windowed && (it->day < a.admit_day - c.omr_days_before || it->day > a.discharge_day)) continue;
    const OmrMeasurement*& slot = best[static_cast<int>(it->kind)];
    if (!slot || std::abs(it->day - a.admit_day) < std::abs(slot->day - a.admit_day)) slot = &*it;
  }
  OmrChoice choice;
  if (best[0]) choice.height_cm = to_metric(*best[0]);
  if (best[1]) choice.weight_kg = to_metric(*best[1]);
  if (best[2]) {
    choice.bmi = best[2]->value;
  } else if (choice.height_cm && choice.weight_kg) {
    double metres = *choice.height_cm / 100.0;
    choice.bmi = *choice.weight_kg / (metres * metres);
    choice.bmi_computed = true;
  }
  return choice;
}

// Rows (sorted by hadm_id) whose hadm_id is not in `admissions` (sorted, unique): one merge walk.
template <class Rows>
std::int64_t rows_without_admission(const Rows& rows, const std::vector<Admission>& admissions) {
  std::int64_t orphans = 0;
  auto a = admissions.begin();
  for (const auto& row : rows) {
    while (a != admissions.end() && a->hadm_id < row.hadm_id) ++a;
    orphans += a == admissions.end() || a->hadm_id != row.hadm_id;
  }
  return orphans;
}

std::string sex_word(std::string_view gender) { return gender == "F" ? "female" : gender == "M" ? "male" : ""; }

}  // namespace

void render_prompt(const Cohort& cohort, const HospTables& tables, const Sample& sample, AdmissionPrompt& prompt,
                   std::vector<std::string>& drugs) {
  prompt.patient = sample.patient;
  prompt.diagnoses.resize(sample.diagnoses.size());
  for (std::size_t i = 0; i < sample.diagnoses.size(); ++i) {
    const DiagnosisCode& code = tables.codes[sample.diagnoses[i]];
    const std::string* title = cohort.code_titles[sample.diagnoses[i]];
    DiagnosisLine& line = prompt.diagnoses[i];
    line.icd_version = code.icd_version;
    line.icd_code.assign(code.icd_code);
    if (title) line.title.assign(*title);
    else line.title.clear();
  }
  drugs.resize(sample.drugs.size());
  for (std::size_t i = 0; i < sample.drugs.size(); ++i) drugs[i].assign(cohort.drug_names[sample.drugs[i]]);
}

std::string admission_type_phrase(std::string_view type) {
  static const std::unordered_map<std::string_view, std::string> phrases = {
      {"EW EMER.", "emergency"},
      {"DIRECT EMER.", "direct emergency"},
      {"URGENT", "urgent"},
      {"ELECTIVE", "elective"},
      {"OBSERVATION ADMIT", "observation"},
      {"EU OBSERVATION", "emergency-unit observation"},
      {"DIRECT OBSERVATION", "direct observation"},
      {"AMBULATORY OBSERVATION", "ambulatory observation"},
      {"SURGICAL SAME DAY ADMISSION", "surgical same-day admission"},
  };
  if (auto it = phrases.find(type); it != phrases.end()) return it->second;
  std::string out(type);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

Cohort build_cohort(const HospTables& t, const PrepConfig& config, const DrugNormaliser& normaliser,
                    const AtcMap& atc) {
  Cohort cohort;
  auto& stats = cohort.stats;

  // Each distinct product is normalised and looked up once.
  std::vector<ProductInfo> products(t.products.size());
  for (std::size_t i = 0; i < products.size(); ++i) {
    const auto& p = t.products[i];
    products[i].canonical = normaliser.canonical_name(p.drug);
    products[i].excluded = normaliser.non_therapeutic_category(p.drug_type, p.drug);
    if (products[i].canonical.empty() && products[i].excluded.empty()) products[i].excluded = "no drug name";
    if (products[i].excluded.empty()) products[i].atc = atc.find(p.gsn, p.drug, products[i].canonical);
  }

  // The therapeutic drugs: distinct canonical names, sorted, so ids sort like the names.
  for (const auto& info : products)
    if (info.excluded.empty()) cohort.drug_names.push_back(info.canonical);
  std::sort(cohort.drug_names.begin(), cohort.drug_names.end());
  cohort.drug_names.erase(std::unique(cohort.drug_names.begin(), cohort.drug_names.end()), cohort.drug_names.end());
  cohort.drugs.resize(cohort.drug_names.size());
  for (auto& info : products)
    if (info.excluded.empty())
      info.drug = static_cast<std::int32_t>(
          std::lower_bound(cohort.drug_names.begin(), cohort.drug_names.end(), info.canonical) -
          cohort.drug_names.begin());

  // Prescription-row statistics and the drug-level ATC (majority of row-level codes).
  std::map<std::string, std::int64_t> excluded_rows;
  std::int64_t therapeutic_rows = 0, via[4] = {0, 0, 0, 0};
  std::vector<std::map<std::string, std::int64_t>> atc_votes(cohort.drugs.size());
  for (std::size_t i = 0; i < products.size(); ++i) {
    const auto rows = t.products[i].rows;
    if (!products[i].excluded.empty()) {
      excluded_rows[products[i].excluded] += rows;
      continue;
    }
    therapeutic_rows += rows;
    via[static_cast<int>(products[i].atc.via)] += rows;
    cohort.drugs[products[i].drug].rows += rows;
    if (!products[i].atc.atc.empty()) atc_votes[products[i].drug][products[i].atc.atc] += rows;
  }
  std::int64_t drug_level_atc_rows = 0;
  for (std::size_t id = 0; id < cohort.drugs.size(); ++id) {
    DrugInfo& info = cohort.drugs[id];
    std::int64_t best = 0;
    for (const auto& [code, count] : atc_votes[id])
      if (count > best) info.atc = code, best = count;
    if (!info.atc.empty()) drug_level_atc_rows += info.rows;
  }

  cohort.code_titles.resize(t.codes.size(), nullptr);
  for (std::size_t i = 0; i < t.codes.size(); ++i)
    if (auto title = t.icd_titles.find(icd_key(t.codes[i].icd_version, t.codes[i].icd_code));
        title != t.icd_titles.end())
      cohort.code_titles[i] = &title->second;

  std::unordered_map<std::int64_t, const Patient*> patients;
  for (const auto& p : t.patients) patients[p.subject_id] = &p;

  std::int64_t orphan_prescriptions = 0, orphan_diagnoses = 0, duplicate_diagnoses = 0, unknown_codes = 0,
               folded_rows = 0, age_unknown = 0, sex_unknown = 0, age_90_or_older = 0;
  std::int64_t omr_found[3] = {0, 0, 0}, bmi_computed = 0;
  orphan_prescriptions = rows_without_admission(t.prescriptions, t.admissions);
  orphan_diagnoses = rows_without_admission(t.diagnoses, t.admissions);
  std::int64_t implausible_omr = 0;
  for (const auto& m : t.omr) implausible_omr += !plausible(m, config);

  auto drop = [&](const std::string& reason) { ++cohort.drops[reason]; };
  // The drop reasons, in the order they are checked (the report lists them in this order).
  const std::string no_patient = "1 no patients row for the subject";
  const std::string bad_age = fmt::format("2 age outside [{}, {}]", config.min_age, config.max_age);
  const std::string no_diagnoses = "3 no diagnoses";
  const std::string no_prescriptions = "4 no prescriptions";
  const std::string no_therapeutic = "5 only non-therapeutic prescriptions";
  for (const auto* r : {&no_patient, &bad_age, &no_diagnoses, &no_prescriptions, &no_therapeutic}) cohort.drops[*r] = 0;

  std::vector<Sample> candidates;
  auto diagnosis = t.diagnoses.begin();
  auto prescription = t.prescriptions.begin();
  for (const auto& a : t.admissions) {
    while (diagnosis != t.diagnoses.end() && diagnosis->hadm_id < a.hadm_id) ++diagnosis;
    auto diagnosis_end = diagnosis;
    while (diagnosis_end != t.diagnoses.end() && diagnosis_end->hadm_id == a.hadm_id) ++diagnosis_end;
    while (prescription != t.prescriptions.end() && prescription->hadm_id < a.hadm_id) ++prescription;
    auto prescription_end = prescription;
    while (prescription_end != t.prescriptions.end() && prescription_end->hadm_id == a.hadm_id) ++prescription_end;

    auto patient = patients.find(a.subject_id);
    if (patient == patients.end()) {
      drop(no_patient);
      continue;
    }
    const Patient& p = *patient->second;
    std::optional<int> age;
    if (p.anchor_age) age = *p.anchor_age + a.admit_year - p.anchor_year;
    if (age && (*age < config.min_age || *age > config.max_age)) {
      drop(bad_age);
      continue;
    }
    if (diagnosis == diagnosis_end) {
      drop(no_diagnoses);
      continue;
    }
    if (prescription == prescription_end) {
      drop(no_prescriptions);
      continue;
    }
    Sample s;
    std::int64_t therapeutic = 0;
    for (auto it = prescription; it != prescription_end; ++it) {
      const std::int32_t drug = products[it->product].drug;
      if (drug < 0) continue;
      ++therapeutic;
      s.drugs.push_back(drug);
    }
    if (s.drugs.empty()) {
      drop(no_therapeutic);
      continue;
    }
    std::sort(s.drugs.begin(), s.drugs.end());
    s.drugs.erase(std::unique(s.drugs.begin(), s.drugs.end()), s.drugs.end());
    folded_rows += therapeutic - static_cast<std::int64_t>(s.drugs.size());

    for (auto it = diagnosis; it != diagnosis_end; ++it) {
      if (std::find(s.diagnoses.begin(), s.diagnoses.end(), it->code) != s.diagnoses.end()) {
        ++duplicate_diagnoses;  // the same code twice in one admission: keep the first (lowest seq_num)
        continue;
      }
      unknown_codes += !cohort.code_titles[it->code];
      s.diagnoses.push_back(it->code);
    }

    OmrChoice omr = choose_omr(t.omr, a, config);
    s.patient = {age, sex_word(p.gender), omr.height_cm, omr.weight_kg, omr.bmi,
                 admission_type_phrase(a.admission_type)};
    age_unknown += !age;
    age_90_or_older += age && *age >= 90;
    sex_unknown += s.patient.sex.empty();
    omr_found[0] += omr.height_cm.has_value();
    omr_found[1] += omr.weight_kg.has_value();
    omr_found[2] += omr.bmi.has_value();
    bmi_computed += omr.bmi_computed;
    s.subject_id = a.subject_id;
    s.hadm_id = a.hadm_id;
    s.admit_day = a.admit_day;
    candidates.push_back(std::move(s));
  }

  // Drug-list length outlier: nearest-rank percentile over the admissions still in.
  std::vector<std::size_t> counts;
  for (const auto& s : candidates) counts.push_back(s.drugs.size());
  std::sort(counts.begin(), counts.end());
  std::size_t limit = counts.empty() ? 0 : counts.back();
  if (!counts.empty() && config.drug_count_percentile < 100) {
    auto rank = static_cast<std::size_t>(std::ceil(config.drug_count_percentile / 100.0 * counts.size()));
    limit = counts[std::clamp<std::size_t>(rank, 1, counts.size()) - 1];
  }
  const std::string too_many = fmt::format("6 more distinct drugs than the {}th percentile ({})",
                                           config.drug_count_percentile, limit);
  cohort.drops[too_many] = 0;
  for (auto& s : candidates) {
    if (s.drugs.size() > limit) drop(too_many);
    else cohort.samples.push_back(std::move(s));
  }

  const double share = therapeutic_rows ? double(via[0] + via[1] + via[2]) / therapeutic_rows : 0.0;
  stats["prescriptions"] = {
      {"rows", t.prescriptions.size()},
      {"rows_without_admission", orphan_prescriptions},
      {"distinct_drug_strings", t.products.size()},
      {"non_therapeutic_rows", excluded_rows},
      {"therapeutic_rows", therapeutic_rows},
      {"atc_rows_by_gsn", via[0]},
      {"atc_rows_by_drug_name", via[1]},
      {"atc_rows_by_canonical_name", via[2]},
      {"atc_rows_none", via[3]},
      {"atc_row_share", share},
      {"atc_drug_level_row_share", therapeutic_rows ? double(drug_level_atc_rows) / therapeutic_rows : 0.0},
      {"rows_folded_into_an_already_listed_drug", folded_rows},
  };
  stats["diagnoses"] = {{"rows", t.diagnoses.size()},
                        {"rows_without_admission", orphan_diagnoses},
                        {"duplicate_codes_in_admission", duplicate_diagnoses},
                        {"codes_not_in_d_icd_diagnoses", unknown_codes}};
  stats["demographics"] = {{"age_unknown", age_unknown},  {"age_90_or_older", age_90_or_older},
                           {"sex_unknown", sex_unknown},  {"height_known", omr_found[0]},
                           {"weight_known", omr_found[1]}, {"bmi_known", omr_found[2]},
                           {"bmi_computed_from_height_weight", bmi_computed},
                           {"omr_rows_implausible_ignored", implausible_omr}};
  stats["drug_count_limit"] = limit;
  return cohort;
}

}  // namespace rxlm::clinical
