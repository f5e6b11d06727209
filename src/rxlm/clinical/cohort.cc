// build_cohort: joins the hosp tables per admission and applies the documented cleaning rules.
#include "rxlm/clinical/cohort.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <span>
#include <thread>
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
std::int64_t source_rows(const DiagnosisRow&) { return 1; }
std::int64_t source_rows(const PrescriptionRow& p) { return p.rows; }

template <class Rows>
std::int64_t rows_without_admission(const Rows& rows, const std::vector<Admission>& admissions) {
  std::int64_t orphans = 0;
  auto a = admissions.begin();
  for (const auto& row : rows) {
    while (a != admissions.end() && a->hadm_id < row.hadm_id) ++a;
    if (a == admissions.end() || a->hadm_id != row.hadm_id) orphans += source_rows(row);
  }
  return orphans;
}

std::string sex_word(std::string_view gender) { return gender == "F" ? "female" : gender == "M" ? "male" : ""; }

constexpr int kReasons = 5;  // no patient, age, no diagnoses, no prescriptions, only non-therapeutic

// What select_admissions reads.
struct Context {
  const HospTables& t;
  const PrepConfig& config;
  const std::vector<ProductInfo>& products;
  const std::vector<const std::string*>& code_titles;
  const std::unordered_map<std::int64_t, const Patient*>& patients;
};

// The samples of a run of admissions and the counts behind the report.
struct Selection {
  std::vector<Sample> candidates;  // in admission order
  std::int64_t dropped[kReasons] = {};
  std::int64_t duplicate_diagnoses = 0, unknown_codes = 0, folded_rows = 0, age_unknown = 0, sex_unknown = 0,
               age_90_or_older = 0, bmi_computed = 0;
  std::int64_t omr_found[3] = {0, 0, 0};

  // Appends a selection of later admissions.
  void add(Selection&& later) {
    candidates.reserve(candidates.size() + later.candidates.size());
    for (auto& s : later.candidates) candidates.push_back(std::move(s));
    for (int r = 0; r < kReasons; ++r) dropped[r] += later.dropped[r];
    duplicate_diagnoses += later.duplicate_diagnoses;
    unknown_codes += later.unknown_codes;
    folded_rows += later.folded_rows;
    age_unknown += later.age_unknown;
    sex_unknown += later.sex_unknown;
    age_90_or_older += later.age_90_or_older;
    bmi_computed += later.bmi_computed;
    for (int k = 0; k < 3; ++k) omr_found[k] += later.omr_found[k];
  }
};

// The cleaning rules for each admission of `admissions` (sorted by hadm_id), in the order of the drop reasons.
Selection select_admissions(const Context& c, std::span<const Admission> admissions) {
  const HospTables& t = c.t;
  const PrepConfig& config = c.config;
  Selection out;
  if (admissions.empty()) return out;
  auto by_admission = [](const auto& row, std::int64_t hadm_id) { return row.hadm_id < hadm_id; };
  auto diagnosis = std::lower_bound(t.diagnoses.begin(), t.diagnoses.end(), admissions.front().hadm_id, by_admission);
  auto prescription =
      std::lower_bound(t.prescriptions.begin(), t.prescriptions.end(), admissions.front().hadm_id, by_admission);
  for (const auto& a : admissions) {
    while (diagnosis != t.diagnoses.end() && diagnosis->hadm_id < a.hadm_id) ++diagnosis;
    auto diagnosis_end = diagnosis;
    while (diagnosis_end != t.diagnoses.end() && diagnosis_end->hadm_id == a.hadm_id) ++diagnosis_end;
    while (prescription != t.prescriptions.end() && prescription->hadm_id < a.hadm_id) ++prescription;
    auto prescription_end = prescription;
    while (prescription_end != t.prescriptions.end() && prescription_end->hadm_id == a.hadm_id) ++prescription_end;

    auto patient = c.patients.find(a.subject_id);
    if (patient == c.patients.end()) {
      ++out.dropped[0];
      continue;
    }
    const Patient& p = *patient->second;
    std::optional<int> age;
    if (p.anchor_age) age = *p.anchor_age + a.admit_year - p.anchor_year;
    if (age && (*age < config.min_age || *age > config.max_age)) {
      ++out.dropped[1];
      continue;
    }
    if (diagnosis == diagnosis_end) {
      ++out.dropped[2];
      continue;
    }
    if (prescription == prescription_end) {
      ++out.dropped[3];
      continue;
    }
    Sample s;
    std::int64_t therapeutic = 0;
    for (auto it = prescription; it != prescription_end; ++it) {
      const std::int32_t drug = c.products[it->product].drug;
      if (drug < 0) continue;
      therapeutic += it->rows;
      s.drugs.push_back(drug);
    }
    if (s.drugs.empty()) {
      ++out.dropped[4];
      continue;
    }
    std::sort(s.drugs.begin(), s.drugs.end());
    s.drugs.erase(std::unique(s.drugs.begin(), s.drugs.end()), s.drugs.end());
    out.folded_rows += therapeutic - static_cast<std::int64_t>(s.drugs.size());

    for (auto it = diagnosis; it != diagnosis_end; ++it) {
      if (std::find(s.diagnoses.begin(), s.diagnoses.end(), it->code) != s.diagnoses.end()) {
        ++out.duplicate_diagnoses;  // the same code twice in one admission: keep the first (lowest seq_num)
        continue;
      }
      out.unknown_codes += !c.code_titles[it->code];
      s.diagnoses.push_back(it->code);
    }

    OmrChoice omr = choose_omr(t.omr, a, config);
    s.patient = {age, sex_word(p.gender), omr.height_cm, omr.weight_kg, omr.bmi,
                 admission_type_phrase(a.admission_type)};
    out.age_unknown += !age;
    out.age_90_or_older += age && *age >= 90;
    out.sex_unknown += s.patient.sex.empty();
    out.omr_found[0] += omr.height_cm.has_value();
    out.omr_found[1] += omr.weight_kg.has_value();
    out.omr_found[2] += omr.bmi.has_value();
    out.bmi_computed += omr.bmi_computed;
    s.subject_id = a.subject_id;
    s.hadm_id = a.hadm_id;
    s.admit_day = a.admit_day;
    out.candidates.push_back(std::move(s));
  }
  return out;
}

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

  // The drop reasons, in the order they are checked (the report lists them in this order).
  const std::string reasons[kReasons] = {"1 no patients row for the subject",
                                         fmt::format("2 age outside [{}, {}]", config.min_age, config.max_age),
                                         "3 no diagnoses", "4 no prescriptions",
                                         "5 only non-therapeutic prescriptions"};

  // The admissions in two halves, one on a second thread; the halves are joined in hadm_id order.
  const Context context{t, config, products, cohort.code_titles, patients};
  const std::span<const Admission> admissions(t.admissions);
  const std::size_t half = admissions.size() / 2;
  Selection first, second;
  std::int64_t orphan_prescriptions = 0;
  std::exception_ptr helper_error;
  std::thread helper([&] {
    try {
      second = select_admissions(context, admissions.subspan(half));
      orphan_prescriptions = rows_without_admission(t.prescriptions, t.admissions);
    } catch (...) {
      helper_error = std::current_exception();
    }
  });
  struct JoinOnExit {
    std::thread& thread;
    ~JoinOnExit() {
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{helper};
  first = select_admissions(context, admissions.first(half));
  const std::int64_t orphan_diagnoses = rows_without_admission(t.diagnoses, t.admissions);
  std::int64_t implausible_omr = 0;
  for (const auto& m : t.omr) implausible_omr += !plausible(m, config);
  helper.join();
  if (helper_error) std::rethrow_exception(helper_error);
  first.add(std::move(second));
  const Selection& selected = first;
  for (int r = 0; r < kReasons; ++r) cohort.drops[reasons[r]] = selected.dropped[r];
  auto drop = [&](const std::string& reason) { ++cohort.drops[reason]; };
  std::vector<Sample> candidates = std::move(first.candidates);
  const std::int64_t duplicate_diagnoses = selected.duplicate_diagnoses, unknown_codes = selected.unknown_codes,
                     folded_rows = selected.folded_rows, age_unknown = selected.age_unknown,
                     sex_unknown = selected.sex_unknown, age_90_or_older = selected.age_90_or_older,
                     bmi_computed = selected.bmi_computed;
  const std::int64_t* omr_found = selected.omr_found;

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
      {"rows", t.prescription_rows},
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
