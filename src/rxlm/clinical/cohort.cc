// build_cohort: joins the hosp tables per admission and applies the documented cleaning rules.
#include "rxlm/clinical/cohort.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <deque>
#include <exception>
#include <limits>
#include <span>
#include <thread>
#include <unordered_map>

#include "rxlm/core/error.h"
#include "rxlm/core/two_threads.h"

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
// rows arrive sorted by day, seq_num, value, so the first strictly-closer row wins). `omr` holds the
// admission's subject's rows.
OmrChoice choose_omr(std::span<const OmrMeasurement> omr, const Admission& a, const PrepConfig& c) {
  const OmrMeasurement* best[3] = {nullptr, nullptr, nullptr};
  for (const OmrMeasurement& m : omr) {
    if (!plausible(m, c)) continue;
    bool windowed = m.kind != OmrKind::Height;
    if (windowed && (m.day < a.admit_day - c.omr_days_before || m.day > a.discharge_day)) continue;
    const OmrMeasurement*& slot = best[static_cast<int>(m.kind)];
    if (!slot || std::abs(m.day - a.admit_day) < std::abs(slot->day - a.admit_day)) slot = &m;
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

// subject_id → the patients row and the subject's omr rows. Admissions come in hadm_id order, so
// subjects are looked up in random order: an open-addressing table answers with about one cache miss
// (a node-based map costs more, and an allocation per patient to build).
class PatientIndex {
 public:
  struct Entry {
    std::int64_t subject_id = kEmpty;
    const Patient* patient = nullptr;
    std::span<const OmrMeasurement> omr;
  };

  // Built on two threads, over the two halves of the patients; also counts the implausible omr rows
  // (every row, including those of subjects without a patients row).
  PatientIndex(const HospTables& t, const PrepConfig& config) : slots_(std::bit_ceil(t.patients.size() * 3 / 2 + 16)) {  // at most 2/3 full
    mask_ = slots_.size() - 1;
    shift_ = 64 - std::countr_zero(slots_.size());
    const std::size_t half = t.patients.size() / 2;
    // omr rows before `boundary` belong to subjects below the second half's first patient.
    const auto boundary =
        half == t.patients.size()
            ? t.omr.end()
            : std::lower_bound(t.omr.begin(), t.omr.end(), t.patients[half].subject_id,
                               [](const OmrMeasurement& m, std::int64_t id) { return m.subject_id < id; });
    std::int64_t implausible[2] = {0, 0};
    on_two_threads([&](int part) {
      const std::span<const Patient> patients =
          part == 0 ? std::span(t.patients).first(half) : std::span(t.patients).subspan(half);
      auto row = part == 0 ? t.omr.begin() : boundary;
      const auto rows_end = part == 0 ? boundary : t.omr.end();
      for (auto m = row; m != rows_end; ++m) implausible[part] += !plausible(*m, config);
      for (const Patient& p : patients) {
        while (row != rows_end && row->subject_id < p.subject_id) ++row;
        auto first = row;
        while (row != rows_end && row->subject_id == p.subject_id) ++row;
        insert({p.subject_id, &p, std::span<const OmrMeasurement>(first, row)});
      }
    });
    implausible_omr_ = implausible[0] + implausible[1];
  }

  const Entry* find(std::int64_t subject_id) const {
    for (std::size_t i = slot_of(subject_id);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.subject_id == subject_id) return &e;
      if (e.subject_id == kEmpty) return nullptr;
    }
  }

  // Starts fetching the subject's slot; `find` for it a few admissions later then hits the cache.
  void prefetch_slot(std::int64_t subject_id) const { __builtin_prefetch(&slots_[slot_of(subject_id)]); }

  // Starts fetching the subject's patients row and first omr rows (after prefetch_slot).
  void prefetch_rows(std::int64_t subject_id) const {
    if (const Entry* e = find(subject_id)) {
      __builtin_prefetch(e->patient);
      for (std::size_t offset = 0; offset < std::min<std::size_t>(e->omr.size_bytes(), 256); offset += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(e->omr.data()) + offset);
    }
  }

  std::int64_t implausible_omr() const { return implausible_omr_; }

 private:
  static constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();

  std::size_t slot_of(std::int64_t subject_id) const {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(subject_id) * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  // Safe from both building threads: a slot is claimed by swapping its key in, and subject ids are
  // unique, so each entry is written by one thread only.
  void insert(const Entry& entry) {
    for (std::size_t i = slot_of(entry.subject_id);; i = (i + 1) & mask_) {
      std::int64_t expected = kEmpty;
      if (std::atomic_ref(slots_[i].subject_id).compare_exchange_strong(expected, entry.subject_id)) {
        slots_[i].patient = entry.patient;
        slots_[i].omr = entry.omr;
        return;
      }
    }
  }

  std::vector<Entry> slots_;
  std::size_t mask_ = 0;
  int shift_ = 64;  // slot = the top bits of a multiplicative hash
  std::int64_t implausible_omr_ = 0;
};

std::int64_t source_rows(const DiagnosisRow&) { return 1; }
std::int64_t source_rows(const PrescriptionRow& p) { return p.rows; }

// Advances `row` past the rows before `hadm_id`, adding their source rows to `orphans` (the caller
// walks admissions in hadm_id order, so no admission has them), and returns the end of the rows of
// `hadm_id`.
template <class Row>
const Row* rows_of(const Row*& row, const Row* end, std::int64_t hadm_id, std::int64_t& orphans) {
  while (row != end && row->hadm_id < hadm_id) orphans += source_rows(*row++);
  const Row* rows_end = row;
  while (rows_end != end && rows_end->hadm_id == hadm_id) ++rows_end;
  return rows_end;
}

std::string sex_word(std::string_view gender) { return gender == "F" ? "female" : gender == "M" ? "male" : ""; }

constexpr int kReasons = 5;  // no patient, age, no diagnoses, no prescriptions, only non-therapeutic

// What select_admissions reads.
struct Context {
  const PrepConfig& config;
  const std::vector<ProductInfo>& products;
  std::size_t drug_count;  // Cohort::drug_names
  const std::vector<const std::string*>& code_titles;
  const std::vector<Patient>& patient_rows;
  const PatientIndex& patients;
};

// The samples of a run of admissions and the counts behind the report.
struct Selection {
  std::vector<Sample> candidates;  // in admission order
  std::int64_t dropped[kReasons] = {};
  std::int64_t duplicate_diagnoses = 0, unknown_codes = 0, folded_rows = 0, age_unknown = 0, sex_unknown = 0,
               age_90_or_older = 0, bmi_computed = 0;
  std::int64_t omr_found[3] = {0, 0, 0};
  std::int64_t orphan_diagnoses = 0, orphan_prescriptions = 0;  // source rows whose admission is not in the table

  // Adds the counts of a selection of later admissions (not its candidates).
  void add_counts(const Selection& later) {
    for (int r = 0; r < kReasons; ++r) dropped[r] += later.dropped[r];
    duplicate_diagnoses += later.duplicate_diagnoses;
    unknown_codes += later.unknown_codes;
    folded_rows += later.folded_rows;
    age_unknown += later.age_unknown;
    sex_unknown += later.sex_unknown;
    age_90_or_older += later.age_90_or_older;
    bmi_computed += later.bmi_computed;
    for (int k = 0; k < 3; ++k) omr_found[k] += later.omr_found[k];
    orphan_diagnoses += later.orphan_diagnoses;
    orphan_prescriptions += later.orphan_prescriptions;
  }
};

// admission_type_phrase for the few distinct types of a table, each looked up once.
class AdmissionTypePhrases {
 public:
  const std::string& operator()(std::string_view type) {
    for (const auto& [known, phrase] : seen_)
      if (known == type) return phrase;
    return seen_.emplace_back(std::string(type), admission_type_phrase(type)).second;
  }

 private:
  std::deque<std::pair<std::string, std::string>> seen_;  // a deque: returned phrases stay in place
};

// Appends `list` to `ids` (reserved for it) and returns where it now lies.
std::span<const std::int32_t> keep(std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& list) {
  if (ids.capacity() - ids.size() < list.size()) fail("internal: more ids than rows in the cohort");
  ids.insert(ids.end(), list.begin(), list.end());
  return std::span<const std::int32_t>(ids).last(list.size());
}

// The cleaning rules for each admission of `admissions` (sorted by hadm_id), in the order of the drop
// reasons. `diagnoses` and `prescriptions` are the rows whose hadm_id falls in this run (those between
// its first admission and the next run's); the rows among them without an admission are counted.
// Candidates are appended to `out.candidates`, which the caller may have reserved; their id lists go
// into `ids`, which is reserved here for all the rows, so that it never moves.
void select_admissions(const Context& c, std::span<const Admission> admissions, std::span<const DiagnosisRow> diagnoses,
                       std::span<const PrescriptionRow> prescriptions, std::vector<std::int32_t>& ids,
                       Selection& out) {
  ids.reserve(diagnoses.size() + prescriptions.size());  // an admission has no more codes or drugs than rows
  const PrepConfig& config = c.config;
  const DiagnosisRow* diagnosis = diagnoses.data();
  const PrescriptionRow* prescription = prescriptions.data();
  const DiagnosisRow* const diagnoses_end = diagnosis + diagnoses.size();
  const PrescriptionRow* const prescriptions_end = prescription + prescriptions.size();
  AdmissionTypePhrases phrases;
  std::vector<std::int32_t> drugs, codes;  // of one admission; copied into the sample at their final size
  // Per drug id, the admission (index in `admissions`) that last listed it.
  std::vector<std::size_t> listed_for(c.drug_count, std::numeric_limits<std::size_t>::max());
  // The subjects of hadm_id-ordered admissions are in random order: their rows are fetched ahead.
  constexpr std::size_t kAhead = 16;
  for (std::size_t i = 0; i < admissions.size(); ++i) {
    if (i + kAhead < admissions.size()) c.patients.prefetch_slot(admissions[i + kAhead].subject_id);
    if (i + kAhead / 2 < admissions.size()) c.patients.prefetch_rows(admissions[i + kAhead / 2].subject_id);
    const Admission& a = admissions[i];
    const DiagnosisRow* const diagnosis_end = rows_of(diagnosis, diagnoses_end, a.hadm_id, out.orphan_diagnoses);
    const DiagnosisRow* const diagnosis_begin = diagnosis;
    diagnosis = diagnosis_end;
    const PrescriptionRow* const prescription_end =
        rows_of(prescription, prescriptions_end, a.hadm_id, out.orphan_prescriptions);
    const PrescriptionRow* const prescription_begin = prescription;
    prescription = prescription_end;

    const PatientIndex::Entry* patient = c.patients.find(a.subject_id);
    if (!patient) {
      ++out.dropped[0];
      continue;
    }
    const Patient& p = *patient->patient;
    std::optional<int> age;
    if (p.anchor_age) age = *p.anchor_age + a.admit_year - p.anchor_year;
    if (age && (*age < config.min_age || *age > config.max_age)) {
      ++out.dropped[1];
      continue;
    }
    if (diagnosis_begin == diagnosis_end) {
      ++out.dropped[2];
      continue;
    }
    if (prescription_begin == prescription_end) {
      ++out.dropped[3];
      continue;
    }
    std::int64_t therapeutic = 0;
    drugs.clear();
    for (auto it = prescription_begin; it != prescription_end; ++it) {
      const std::int32_t drug = c.products[it->product].drug;
      if (drug < 0) continue;
      therapeutic += it->rows;
      if (listed_for[drug] != i) {  // products of one drug fold into it
        listed_for[drug] = i;
        drugs.push_back(drug);
      }
    }
    if (drugs.empty()) {
      ++out.dropped[4];
      continue;
    }
    std::sort(drugs.begin(), drugs.end());
    out.folded_rows += therapeutic - static_cast<std::int64_t>(drugs.size());

    codes.clear();
    for (auto it = diagnosis_begin; it != diagnosis_end; ++it) {
      if (std::find(codes.begin(), codes.end(), it->code) != codes.end()) {
        ++out.duplicate_diagnoses;  // the same code twice in one admission: keep the first (lowest seq_num)
        continue;
      }
      out.unknown_codes += !c.code_titles[it->code];
      codes.push_back(it->code);
    }

    OmrChoice omr = choose_omr(patient->omr, a, config);
    Sample& s = out.candidates.emplace_back();
    s.drugs = keep(ids, drugs);
    s.diagnoses = keep(ids, codes);
    s.patient = {age, sex_word(p.gender), omr.height_cm, omr.weight_kg, omr.bmi, phrases(a.admission_type)};
    out.age_unknown += !age;
    out.age_90_or_older += age && *age >= 90;
    out.sex_unknown += s.patient.sex.empty();
    out.omr_found[0] += omr.height_cm.has_value();
    out.omr_found[1] += omr.weight_kg.has_value();
    out.omr_found[2] += omr.bmi.has_value();
    out.bmi_computed += omr.bmi_computed;
    s.patient_row = static_cast<std::size_t>(&p - c.patient_rows.data());
    s.subject_id = a.subject_id;
    s.hadm_id = a.hadm_id;
    s.admit_day = a.admit_day;
  }
  while (diagnosis != diagnoses_end) out.orphan_diagnoses += source_rows(*diagnosis++);
  while (prescription != prescriptions_end) out.orphan_prescriptions += source_rows(*prescription++);
}

// Nearest-rank percentile of the candidates' distinct-drug counts (the largest count at 100), from a
// histogram of the counts: the same value as sorting them all.
std::size_t drug_count_limit(const std::vector<Sample>& first, const std::vector<Sample>& second, double percentile) {
  std::vector<std::size_t> histogram;
  for (const auto* candidates : {&first, &second})
    for (const auto& s : *candidates) {
      if (s.drugs.size() >= histogram.size()) histogram.resize(s.drugs.size() + 1, 0);
      ++histogram[s.drugs.size()];
    }
  const std::size_t total = first.size() + second.size();
  if (total == 0) return 0;
  std::size_t rank = total;  // the largest count
  if (percentile < 100)
    rank = std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(percentile / 100.0 * total)), 1, total);
  std::size_t seen = 0;
  for (std::size_t count = 0;; ++count) {
    seen += histogram[count];
    if (seen >= rank) return count;
  }
}

}  // namespace

namespace {

// Fills cohort.code_lines from the codes and cohort.code_titles; the text goes into cohort.code_text,
// sized first so that the views stay valid.
void set_code_lines(Cohort& cohort, const std::vector<DiagnosisCode>& codes) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < codes.size(); ++i)
    bytes += codes[i].icd_code.size() + (cohort.code_titles[i] ? cohort.code_titles[i]->size() : 0);
  cohort.code_text.clear();
  cohort.code_text.reserve(bytes);
  cohort.code_lines.resize(codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::size_t code_at = cohort.code_text.size();
    cohort.code_text += codes[i].icd_code;
    const std::size_t title_at = cohort.code_text.size();
    if (cohort.code_titles[i]) cohort.code_text += *cohort.code_titles[i];
    cohort.code_lines[i].icd_version = codes[i].icd_version;
    cohort.code_lines[i].icd_code = std::string_view(cohort.code_text).substr(code_at, title_at - code_at);
    cohort.code_lines[i].title = std::string_view(cohort.code_text).substr(title_at, cohort.code_text.size() - title_at);
  }
  // Each code's line as JSON text, written once here rather than in every sample that lists the code.
  std::vector<std::string> json(codes.size());
  std::size_t json_bytes = 0;
  for (std::size_t i = 0; i < codes.size(); ++i) json_bytes += (json[i] = json_diagnosis_rest(cohort.code_lines[i])).size();
  cohort.code_json.clear();
  cohort.code_json.reserve(json_bytes);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::size_t at = cohort.code_json.size();
    cohort.code_json += json[i];
    cohort.code_lines[i].json_rest = std::string_view(cohort.code_json).substr(at, json[i].size());
  }
}

}  // namespace

void sample_lines(const Cohort& cohort, const Sample& sample, std::vector<DiagnosisView>& diagnoses,
                  std::vector<std::string_view>& drugs, std::vector<std::string_view>* drug_json_lines) {
  diagnoses.resize(sample.diagnoses.size());
  for (std::size_t i = 0; i < sample.diagnoses.size(); ++i) diagnoses[i] = cohort.code_lines[sample.diagnoses[i]];
  drugs.resize(sample.drugs.size());
  for (std::size_t i = 0; i < sample.drugs.size(); ++i) drugs[i] = cohort.drug_names[sample.drugs[i]];
  if (!drug_json_lines) return;
  drug_json_lines->resize(sample.drugs.size());
  for (std::size_t i = 0; i < sample.drugs.size(); ++i) (*drug_json_lines)[i] = cohort.drug_json_lines[sample.drugs[i]];
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
  for (const auto& name : cohort.drug_names) cohort.drug_json_lines.push_back(json_drug_line(name));
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
  set_code_lines(cohort, t.codes);

  const PatientIndex patients(t, config);

  // The drop reasons, in the order they are checked (the report lists them in this order).
  const std::string reasons[kReasons] = {"1 no patients row for the subject",
                                         fmt::format("2 age outside [{}, {}]", config.min_age, config.max_age),
                                         "3 no diagnoses", "4 no prescriptions",
                                         "5 only non-therapeutic prescriptions"};

  // The admissions in two halves, one on a second thread; the halves are joined in hadm_id order. The
  // first half's vector has room for all, so the second half is appended without moving the first.
  const Context context{config, products, cohort.drug_names.size(), cohort.code_titles, t.patients, patients};
  const std::span<const Admission> admissions(t.admissions);
  const std::size_t half = admissions.size() / 2;
  Selection selection[2];
  for (int part = 0; part < 2; ++part)
    selection[part].candidates.reserve(part == 0 ? admissions.size() : admissions.size() - half);
  // Each half takes the rows below its successor's first hadm_id, so every row is looked at once.
  auto halves = [&](const auto& rows) {
    using Row = typename std::decay_t<decltype(rows)>::value_type;
    const std::span<const Row> all(rows);
    const std::size_t boundary =
        half == admissions.size()
            ? all.size()
            : static_cast<std::size_t>(std::lower_bound(all.begin(), all.end(), admissions[half].hadm_id,
                                                        [](const Row& row, std::int64_t id) { return row.hadm_id < id; }) -
                                       all.begin());
    return std::array{all.first(boundary), all.subspan(boundary)};
  };
  const auto diagnoses = halves(t.diagnoses);
  const auto prescriptions = halves(t.prescriptions);
  cohort.id_lists.resize(2);
  on_two_threads([&](int part) {
    select_admissions(context, part == 0 ? admissions.first(half) : admissions.subspan(half), diagnoses[part],
                      prescriptions[part], cohort.id_lists[part], selection[part]);
  });

  // Drug-list length outlier: nearest-rank percentile over the admissions still in.
  const std::size_t limit =
      drug_count_limit(selection[0].candidates, selection[1].candidates, config.drug_count_percentile);
  const std::string too_many = fmt::format("6 more distinct drugs than the {}th percentile ({})",
                                           config.drug_count_percentile, limit);
  std::int64_t too_many_drugs[2] = {0, 0};
  on_two_threads([&](int part) {
    too_many_drugs[part] = std::erase_if(selection[part].candidates, [&](const Sample& s) { return s.drugs.size() > limit; });
  });
  std::vector<Sample>& samples = selection[0].candidates;
  for (auto& s : selection[1].candidates) samples.push_back(std::move(s));
  cohort.samples = std::move(samples);

  Selection& selected = selection[0];
  selected.add_counts(selection[1]);
  for (int r = 0; r < kReasons; ++r) cohort.drops[reasons[r]] = selected.dropped[r];
  cohort.drops[too_many] = too_many_drugs[0] + too_many_drugs[1];
  const std::int64_t duplicate_diagnoses = selected.duplicate_diagnoses, unknown_codes = selected.unknown_codes,
                     folded_rows = selected.folded_rows, age_unknown = selected.age_unknown,
                     sex_unknown = selected.sex_unknown, age_90_or_older = selected.age_90_or_older,
                     bmi_computed = selected.bmi_computed;
  const std::int64_t* omr_found = selected.omr_found;
  const std::int64_t implausible_omr = patients.implausible_omr();
  const std::int64_t orphan_diagnoses = selected.orphan_diagnoses, orphan_prescriptions = selected.orphan_prescriptions;

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
