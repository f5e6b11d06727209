// synthesize_hosp: bootstrap resampling of demo admissions with re-keyed ids and shifted dates.
#include "rxlm/clinical/synth.h"

#include <zlib.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "rxlm/core/error.h"
#include "rxlm/io/csv.h"

namespace rxlm::clinical {
namespace {

using Row = std::vector<std::string>;

struct Table {
  Row header;
  std::vector<Row> rows;
};

Table read_table(const std::filesystem::path& demo, const std::string& name) {
  std::filesystem::path path = demo / "hosp" / (name + ".csv.gz");
  if (!std::filesystem::exists(path)) path = demo / (name + ".csv.gz");
  CsvReader reader = CsvReader::open(path);
  Table t{reader.header(), {}};
  while (reader.next()) {
    Row row;
    for (std::size_t i = 0; i < reader.size(); ++i) row.emplace_back(reader.field(i));
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::size_t index_of(const Table& t, const std::string& column) {
  for (std::size_t i = 0; i < t.header.size(); ++i)
    if (t.header[i] == column) return i;
  fail("synth: template table has no column '{}'", column);
}

class GzipWriter {
 public:
  GzipWriter(const std::filesystem::path& path, int level) : path_(path) {
    file_ = gzopen(path.c_str(), fmt::format("wb{}", level).c_str());
    if (!file_) fail("{}: cannot create", path.string());
    gzbuffer(file_, 1 << 20);
  }
  ~GzipWriter() {
    if (file_) gzclose(file_);
  }
  void row(const Row& fields) {
    line_.clear();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) line_ += ',';
      const std::string& f = fields[i];
      if (f.find_first_of(",\"\n\r") == std::string::npos) {
        line_ += f;
      } else {
        line_ += '"';
        for (char c : f) line_ += c == '"' ? std::string("\"\"") : std::string(1, c);
        line_ += '"';
      }
    }
    line_ += '\n';
    if (gzwrite(file_, line_.data(), static_cast<unsigned>(line_.size())) != static_cast<int>(line_.size()))
      fail("{}: write failed", path_.string());
  }
  void close() {
    if (gzclose(file_) != Z_OK) fail("{}: could not finish writing", path_.string());
    file_ = nullptr;
  }

 private:
  std::filesystem::path path_;
  gzFile file_ = nullptr;
  std::string line_;
};

// Shifts the year of a "YYYY-…" timestamp; empty stays empty.
std::string shift_year(const std::string& value, int years) {
  if (value.size() < 4) return value;
  const int year = std::stoi(value.substr(0, 4)) + years;
  std::string rest = value.substr(4);
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (!leap && rest.rfind("-02-29", 0) == 0) rest.replace(0, 6, "-02-28");  // keep every date valid
  return fmt::format("{:04d}", year) + rest;
}

struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  double uniform() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
};

}  // namespace

SynthCounts synthesize_hosp(const std::filesystem::path& demo, const std::filesystem::path& out,
                            const SynthOptions& options) {
  if (options.admissions <= 0) fail("synth: --admissions must be positive");
  Table patients = read_table(demo, "patients"), admissions = read_table(demo, "admissions"),
        diagnoses = read_table(demo, "diagnoses_icd"), prescriptions = read_table(demo, "prescriptions"),
        omr = read_table(demo, "omr"), titles = read_table(demo, "d_icd_diagnoses");

  // Templates: each demo admission with its patient, diagnosis rows, prescription rows and omr rows.
  std::map<std::string, std::size_t> patient_row;
  for (std::size_t i = 0; i < patients.rows.size(); ++i) patient_row[patients.rows[i][index_of(patients, "subject_id")]] = i;
  std::unordered_map<std::string, std::vector<std::size_t>> dx_of, rx_of, omr_of, admissions_of;
  for (std::size_t i = 0; i < admissions.rows.size(); ++i)
    admissions_of[admissions.rows[i][index_of(admissions, "subject_id")]].push_back(i);
  for (std::size_t i = 0; i < diagnoses.rows.size(); ++i) dx_of[diagnoses.rows[i][index_of(diagnoses, "hadm_id")]].push_back(i);
  for (std::size_t i = 0; i < prescriptions.rows.size(); ++i)
    rx_of[prescriptions.rows[i][index_of(prescriptions, "hadm_id")]].push_back(i);
  for (std::size_t i = 0; i < omr.rows.size(); ++i) omr_of[omr.rows[i][index_of(omr, "subject_id")]].push_back(i);

  std::vector<std::string> subjects;
  for (const auto& [subject, rows] : admissions_of) subjects.push_back(subject);
  std::sort(subjects.begin(), subjects.end());
  auto keep_share = [&](double target, std::size_t rows) {
    double demo_average = static_cast<double>(rows) / static_cast<double>(admissions.rows.size());
    return demo_average > 0 ? std::min(1.0, target / demo_average) : 1.0;
  };
  const double keep_diagnosis = keep_share(options.diagnoses_per_admission, diagnoses.rows.size());
  const double keep_prescription = keep_share(options.prescriptions_per_admission, prescriptions.rows.size());
  const std::size_t d_seq = index_of(diagnoses, "seq_num");
  for (auto& [hadm, rows] : dx_of)
    std::sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) {
      return std::stoi(diagnoses.rows[a][d_seq]) < std::stoi(diagnoses.rows[b][d_seq]);
    });

  std::filesystem::create_directories(out / "hosp");
  const auto hosp = out / "hosp";
  GzipWriter p_out(hosp / "patients.csv.gz", options.gzip_level), a_out(hosp / "admissions.csv.gz", options.gzip_level),
      d_out(hosp / "diagnoses_icd.csv.gz", options.gzip_level), r_out(hosp / "prescriptions.csv.gz", options.gzip_level),
      o_out(hosp / "omr.csv.gz", options.gzip_level), t_out(hosp / "d_icd_diagnoses.csv.gz", options.gzip_level);
  p_out.row(patients.header);
  a_out.row(admissions.header);
  d_out.row(diagnoses.header);
  r_out.row(prescriptions.header);
  o_out.row(omr.header);
  t_out.row(titles.header);
  for (const auto& row : titles.rows) t_out.row(row);

  const std::size_t a_subject = index_of(admissions, "subject_id"), a_hadm = index_of(admissions, "hadm_id");
  const std::size_t p_subject = index_of(patients, "subject_id"), p_year = index_of(patients, "anchor_year"),
                    p_dod = index_of(patients, "dod");
  const std::vector<std::string> admission_times = {"admittime", "dischtime", "deathtime", "edregtime", "edouttime"};
  Rng rng{options.seed};
  SynthCounts counts;
  std::int64_t pharmacy_id = 50000000;
  std::int64_t hadm_id = 30000000;
  std::int64_t subject_id = 20000000;
  std::int64_t remaining = options.admissions;
  while (remaining > 0) {
    // Admissions for this patient: 1 + geometric, mean admissions_per_patient.
    std::int64_t n = 1;
    const double p_more = 1.0 - 1.0 / options.admissions_per_patient;
    while (n < remaining && rng.uniform() < p_more) ++n;
    // A demo patient chosen uniformly (not via a random admission, which would favour frequent visitors
    // and over-represent their omr rows), then one of its admissions as the first template.
    const std::string base_subject = subjects[rng.below(subjects.size())];
    const Row& base_admission = admissions.rows[admissions_of[base_subject][rng.below(admissions_of[base_subject].size())]];
    Row patient = patients.rows.at(patient_row.at(base_subject));
    const int shift = static_cast<int>(rng.below(60)) - 30;  // years; dates stay in MIMIC's shifted style
    const std::string subject = std::to_string(++subject_id);
    patient[p_subject] = subject;
    patient[p_year] = std::to_string(std::stoi(patient[p_year]) + shift);
    patient[p_dod] = shift_year(patient[p_dod], shift);
    p_out.row(patient);
    ++counts.patients;
    for (std::size_t i : omr_of[base_subject]) {
      Row row = omr.rows[i];
      row[index_of(omr, "subject_id")] = subject;
      row[index_of(omr, "chartdate")] = shift_year(row[index_of(omr, "chartdate")], shift);
      o_out.row(row);
      ++counts.omr;
    }
    for (std::int64_t k = 0; k < n; ++k, --remaining) {
      // Later admissions reuse admissions of the same demo subject, so ages and histories stay consistent.
      const auto& own = admissions_of[base_subject];
      const Row& template_admission = k == 0 ? base_admission : admissions.rows[own[rng.below(own.size())]];
      Row admission = template_admission;
      const std::string hadm = std::to_string(++hadm_id);
      admission[a_subject] = subject;
      admission[a_hadm] = hadm;
      for (const auto& column : admission_times) {
        std::size_t c = index_of(admissions, column);
        admission[c] = shift_year(admission[c], shift);
      }
      a_out.row(admission);
      ++counts.admissions;
      const std::string& template_hadm = template_admission[a_hadm];
      int seq_num = 0;
      for (std::size_t i : dx_of[template_hadm]) {
        if (seq_num > 0 && rng.uniform() >= keep_diagnosis) continue;  // the principal diagnosis always stays
        Row row = diagnoses.rows[i];
        row[d_seq] = std::to_string(++seq_num);
        row[index_of(diagnoses, "subject_id")] = subject;
        row[index_of(diagnoses, "hadm_id")] = hadm;
        d_out.row(row);
        ++counts.diagnoses;
      }
      for (std::size_t i : rx_of[template_hadm]) {
        if (rng.uniform() >= keep_prescription) continue;
        Row row = prescriptions.rows[i];
        row[index_of(prescriptions, "subject_id")] = subject;
        row[index_of(prescriptions, "hadm_id")] = hadm;
        row[index_of(prescriptions, "pharmacy_id")] = std::to_string(++pharmacy_id);
        row[index_of(prescriptions, "poe_id")] = row[index_of(prescriptions, "poe_id")].empty() ? "" : subject + "-" + std::to_string(pharmacy_id % 1000);
        for (const char* column : {"starttime", "stoptime"}) {
          std::size_t c = index_of(prescriptions, column);
          row[c] = shift_year(row[c], shift);
        }
        r_out.row(row);
        ++counts.prescriptions;
      }
    }
  }
  for (auto* w : {&p_out, &a_out, &d_out, &r_out, &o_out, &t_out}) w->close();
  return counts;
}

}  // namespace rxlm::clinical
