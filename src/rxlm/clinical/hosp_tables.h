// The six MIMIC-IV hosp tables the pipeline needs, read into compact structs (drug products and ICD
// codes interned) with per-table counts of rows read and rows skipped.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rxlm/clinical/hosp_source.h"

namespace rxlm::clinical {

struct Patient {
  std::int64_t subject_id = 0;
  std::string gender;  // "F", "M" or whatever the table holds
  std::optional<int> anchor_age;
  int anchor_year = 0;
};

struct Admission {
  std::int64_t subject_id = 0, hadm_id = 0;
  int admit_year = 0;
  int admit_day = 0;      // days since 1970-01-01 (shifted dates; only differences matter)
  int discharge_day = 0;  // = admit_day when dischtime is missing
  std::string admission_type;
};

struct DiagnosisCode {
  int icd_version = 0;
  std::string icd_code;  // trimmed (mimic-code stores CHAR(7), padded with spaces)
};

struct DiagnosisRow {
  std::int64_t hadm_id = 0;
  int seq_num = 0;
  std::int32_t code = 0;  // index into HospTables::codes
};

// One distinct (drug_type, drug, gsn) as written in prescriptions; normalised once, not per row.
struct DrugProduct {
  std::string drug_type, drug, gsn;
  std::int64_t rows = 0;
};

// Prescription rows of one admission and product, counted: an admission lists the same product on
// many rows (one per order), and only the distinct ones matter downstream.
struct PrescriptionRow {
  std::int64_t hadm_id = 0;
  std::int32_t product = 0;  // index into HospTables::products
  std::int32_t rows = 0;     // source rows with this hadm_id and product
};

enum class OmrKind { Height, Weight, Bmi };

struct OmrMeasurement {
  std::int64_t subject_id = 0;
  int day = 0;
  int seq_num = 0;
  OmrKind kind = OmrKind::Height;
  double value = 0;  // in the table's units: inches, pounds, kg/m2
};

struct TableCount {
  std::uint64_t rows = 0;        // data rows read
  std::uint64_t skipped = 0;     // malformed rows skipped (only when asked to skip)
  std::uint64_t duplicates = 0;  // rows dropped as exact or key duplicates
  std::uint64_t unusable = 0;    // rows read but not usable (e.g. omr names we do not use, non-numeric values)
  std::vector<std::string> skip_examples;
};

struct HospTables {
  std::vector<Patient> patients;      // sorted by subject_id, unique
  std::vector<Admission> admissions;  // sorted by hadm_id, unique
  std::unordered_map<std::string, std::string> icd_titles;  // "<version>|<code>" → long_title
  std::vector<DiagnosisCode> codes;
  std::vector<DiagnosisRow> diagnoses;  // sorted by (hadm_id, seq_num, code text)
  std::vector<DrugProduct> products;    // sorted by (drug_type, drug, gsn)
  std::vector<PrescriptionRow> prescriptions;  // sorted by (hadm_id, product), each pair once
  std::uint64_t prescription_rows = 0;         // the sum of their row counts
  std::vector<OmrMeasurement> omr;             // sorted by (subject_id, kind, day, seq_num, value)
  std::map<std::string, TableCount> counts;    // per table name
};

std::string icd_key(int version, std::string_view code);

// Reads every table; malformed rows throw "file:line: ..." unless skip_malformed, then they are counted.
// The result does not depend on the order of rows in the source (CSV file order or database order).
HospTables read_hosp_tables(HospSource& source, bool skip_malformed);

// "YYYY-MM-DD[ HH:MM:SS[.fff]]" → (year, days since 1970-01-01); nullopt when not of that shape.
std::optional<std::pair<int, int>> parse_date(std::string_view text);

}  // namespace rxlm::clinical
