// Black-box test of `rxlm prep` on the MIMIC-IV demo: pinned admissions (expected values written by
// reading the CSVs with zcat/grep, see comments), report totals, patient-disjoint splits, and no
// identifier or date of the demo anywhere in the output samples.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "rxlm/core/paths.h"
#include "rxlm/io/csv.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kDemo = rxlm::shared_dir() / "data" / "mimic-iv-demo";

struct Output {
  fs::path dir;
  json report;
  std::map<std::string, std::string> lines_by_sample;  // sample_id → JSONL line
  std::map<long long, std::string> sample_by_hadm;     // from the link file
  std::map<std::string, long long> subject_by_sample;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const Output& demo_output() {
  static Output out = [] {
    Output o;
    o.dir = fs::temp_directory_path() / ("rxlm_prep_demo_" + std::to_string(::getpid()));
    fs::remove_all(o.dir);
    std::string command = std::string(RXLM_BIN) + " prep --mimic " + kDemo.string() + " --out " + o.dir.string() +
                          " --link " + (o.dir / "links.tsv").string() + " > " + (o.dir.string() + ".log") + " 2>&1";
    int rc = std::system(command.c_str());
    if (rc != 0) {
      ADD_FAILURE() << "prep failed: " << read_text(o.dir.string() + ".log");
      return o;
    }
    o.report = json::parse(read_text(o.dir / "prep_report.json"));
    for (const char* split : {"train", "validation", "test"}) {
      std::ifstream in(o.dir / (std::string(split) + ".jsonl"));
      for (std::string line; std::getline(in, line);)
        o.lines_by_sample[json::parse(line)["meta"]["sample_id"]] = line;
    }
    std::ifstream links(o.dir / "links.tsv");
    std::string header, sample;
    std::getline(links, header);
    long long subject = 0, hadm = 0;
    while (links >> sample >> subject >> hadm) {
      o.sample_by_hadm[hadm] = sample;
      o.subject_by_sample[sample] = subject;
    }
    return o;
  }();
  return out;
}

// Removes the output folder when the test program ends.
class RemoveOutput : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(fs::temp_directory_path() / ("rxlm_prep_demo_" + std::to_string(::getpid())), ignored);
    fs::remove(fs::temp_directory_path() / ("rxlm_prep_demo_" + std::to_string(::getpid()) + ".log"), ignored);
  }
};
const auto* const remove_output = ::testing::AddGlobalTestEnvironment(new RemoveOutput);

json sample_for(long long hadm_id) {
  const Output& o = demo_output();
  auto it = o.sample_by_hadm.find(hadm_id);
  if (it == o.sample_by_hadm.end()) return nullptr;
  return json::parse(o.lines_by_sample.at(it->second));
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The "N. ICD-v CODE: title" lines of the user message, reduced to "ICD-v CODE".
std::vector<std::string> diagnosis_codes(const json& sample) {
  std::vector<std::string> codes;
  static const std::regex line(R"(^\d+\. (ICD-\d+ [A-Z0-9]+):)");
  for (const auto& l : lines(sample["messages"][1]["content"])) {
    std::smatch m;
    if (std::regex_search(l, m, line)) codes.push_back(m[1]);
  }
  return codes;
}

std::vector<std::string> drugs(const json& sample) {
  std::vector<std::string> out;
  for (const auto& l : lines(sample["messages"][2]["content"]))
    if (l.rfind("- ", 0) == 0) out.push_back(l.substr(2));
  return out;
}

std::string patient_line(const json& sample) { return lines(sample["messages"][1]["content"]).at(0); }

}  // namespace

TEST(PrepDemo, ReportCountsEveryAdmission) {
  const json& r = demo_output().report;
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["admissions_in"], 275);
  EXPECT_EQ(r["patients_in"], 100);
  long long dropped = 0;
  for (const auto& [reason, count] : r["admissions_dropped"].items()) dropped += count.get<long long>();
  EXPECT_EQ(dropped + r["admissions_out"].get<long long>(), 275);
  // PROVENANCE.md: 250 admissions have at least one diagnosis and one prescription; 275 - 250 have no prescriptions.
  EXPECT_EQ(r["admissions_dropped"]["no prescriptions"], 25);
  EXPECT_EQ(r["admissions_dropped"]["no diagnoses"], 0);
  EXPECT_EQ(r["prescriptions"]["rows"], 18087);
  // zcat prescriptions | awk -F, '$9=="BASE"' | wc -l → 3677
  EXPECT_EQ(r["prescriptions"]["non_therapeutic_rows"]["drug_type BASE"], 3677);
  EXPECT_GE(r["prescriptions"]["atc_row_share"].get<double>(), 0.95);
  EXPECT_EQ(demo_output().lines_by_sample.size(), r["admissions_out"].get<std::size_t>());
}

// hadm 25797028 (subject 10002428): patients F, anchor_age 80, anchor_year 2155; admitted 2155-07-14,
// discharged 2155-07-15, EU OBSERVATION. omr: height closest to admission is 2155-08-12 59 in (149.86 cm);
// weight/BMI in [2154-07-15, 2155-07-15] closest is 2155-04-18: 101 lb (45.81 kg), BMI 21.1.
// prescriptions: BASE 0.45% NaCl and the NaCl flush excluded; Heparin, Levothyroxine Sodium,
// Lisinopril (two GSNs), Sulfameth/Trimethoprim DS.
TEST(PrepDemo, Admission25797028) {
  json s = sample_for(25797028);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(patient_line(s), "Patient: age 80, sex female, height 150 cm, weight 45.8 kg, BMI 21.1, admission type "
                             "emergency-unit observation.");
  EXPECT_EQ(diagnosis_codes(s), (std::vector<std::string>{"ICD-9 7802", "ICD-9 5990", "ICD-9 78720", "ICD-9 4241",
                                                          "ICD-9 7102", "ICD-9 2449", "ICD-9 4019", "ICD-9 2859"}));
  EXPECT_NE(s["messages"][1]["content"].get<std::string>().find("1. ICD-9 7802: Syncope and collapse\n"),
            std::string::npos);
  EXPECT_EQ(drugs(s), (std::vector<std::string>{"heparin", "levothyroxine", "lisinopril",
                                                "sulfamethoxazole/trimethoprim"}));
}

// hadm 28301173 (subject 10002930): F, anchor_age 48 in 2193, admitted 2197-04-08 → 52, URGENT.
// omr 2197-04-08: 62 in (157.48 cm), 152.00 lb (68.95 kg), BMI 27.8 (the 2198 rows are after discharge).
TEST(PrepDemo, Admission28301173) {
  json s = sample_for(28301173);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(patient_line(s),
            "Patient: age 52, sex female, height 157 cm, weight 68.9 kg, BMI 27.8, admission type urgent.");
  EXPECT_EQ(diagnosis_codes(s),
            (std::vector<std::string>{"ICD-9 29633", "ICD-9 V6284", "ICD-9 29284", "ICD-9 07070", "ICD-9 V08",
                                      "ICD-9 V1552", "ICD-9 6253", "ICD-9 30500", "ICD-9 30560", "ICD-9 30553"}));
  EXPECT_EQ(drugs(s), (std::vector<std::string>{"acetaminophen", "aluminum hydroxide/magnesium hydroxide/simethicone",
                                                "amitriptyline", "ibuprofen", "olanzapine", "quetiapine",
                                                "sertraline"}));
}

// hadm 26739864 (subject 10012853): F, anchor_age 91 in 2175, admitted 2177-02-11 → 93 → "90 or older";
// DIRECT OBSERVATION. omr: the 2175-04-05 height 5 in and BMI 4649.4 are implausible and ignored; height
// closest is 2177-01-05 64 in (162.56 cm); weight/BMI closest is 2177-02-12 (the day after admission, before
// discharge): 149 lb (67.59 kg), BMI 25.6. ICD-10 diagnoses; BASE KCl/D5 1/2NS and the flush excluded.
TEST(PrepDemo, Admission26739864) {
  json s = sample_for(26739864);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(patient_line(s), "Patient: age 90 or older, sex female, height 163 cm, weight 67.6 kg, BMI 25.6, "
                             "admission type direct observation.");
  EXPECT_EQ(diagnosis_codes(s),
            (std::vector<std::string>{"ICD-10 C73", "ICD-10 E0520", "ICD-10 I10", "ICD-10 I272", "ICD-10 E785",
                                      "ICD-10 E119", "ICD-10 J449", "ICD-10 I480", "ICD-10 Z7901", "ICD-10 Z86711",
                                      "ICD-10 I739", "ICD-10 F17210", "ICD-10 Z8673", "ICD-10 Z86718"}));
  EXPECT_NE(s["messages"][1]["content"].get<std::string>().find("1. ICD-10 C73: Malignant neoplasm of thyroid gland\n"),
            std::string::npos);
  EXPECT_EQ(drugs(s), (std::vector<std::string>{"acetaminophen", "amlodipine", "atorvastatin", "lisinopril",
                                                "morphine", "ondansetron"}));
}

// hadm 27496788 (subject 10035631): M, anchor_age 63 in 2112, admitted 2113-08-26 → 64, DIRECT EMER.
// omr on the admission day has two heights (seq 1: 71.5 in, seq 2: 71 in): the lower seq_num wins →
// 181.61 cm; weight seq 1 181.4 lb (82.28 kg); BMI 25.2.
TEST(PrepDemo, Admission27496788) {
  json s = sample_for(27496788);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(patient_line(s),
            "Patient: age 64, sex male, height 182 cm, weight 82.3 kg, BMI 25.2, admission type direct emergency.");
  EXPECT_EQ(diagnosis_codes(s),
            (std::vector<std::string>{"ICD-9 78609", "ICD-9 486", "ICD-9 1173", "ICD-9 20500", "ICD-9 V4281",
                                      "ICD-9 1629", "ICD-9 78605", "ICD-9 V4571", "ICD-9 V1582", "ICD-9 V8739",
                                      "ICD-9 7904", "ICD-9 V161", "ICD-9 V160", "ICD-9 V707"}));
  EXPECT_EQ(drugs(s), (std::vector<std::string>{"acetaminophen", "acyclovir", "folic acid", "heparin", "lorazepam",
                                                "tacrolimus"}));
}

TEST(PrepDemo, NoPatientInTwoSplits) {
  const Output& o = demo_output();
  ASSERT_FALSE(o.lines_by_sample.empty());
  std::map<long long, std::set<std::string>> splits_of_patient;
  for (const auto& [sample, line] : o.lines_by_sample)
    splits_of_patient[o.subject_by_sample.at(sample)].insert(json::parse(line)["meta"]["split"]);
  std::set<std::string> seen;
  for (const auto& [subject, splits] : splits_of_patient) {
    EXPECT_EQ(splits.size(), 1u) << "patient " << subject << " is in several splits";
    seen.insert(splits.begin(), splits.end());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"train", "validation", "test"}));
}

// Every subject_id, hadm_id, provider id and date (YYYY-MM-DD) of the demo tables, searched as plain
// substrings in every output line (messages and meta).
TEST(PrepDemo, NoIdentifierOrDateInSamples) {
  const Output& o = demo_output();
  ASSERT_FALSE(o.lines_by_sample.empty());
  std::set<std::string> identifiers;
  auto collect = [&](const char* table, std::vector<std::string> id_columns, std::vector<std::string> date_columns) {
    auto reader = rxlm::CsvReader::open(kDemo / "hosp" / (std::string(table) + ".csv.gz"));
    std::vector<std::size_t> ids, dates;
    for (const auto& c : id_columns) ids.push_back(reader.column(c));
    for (const auto& c : date_columns) dates.push_back(reader.column(c));
    while (reader.next()) {
      for (auto i : ids)
        if (!reader.field(i).empty()) identifiers.emplace(reader.field(i));
      for (auto i : dates)
        if (reader.field(i).size() >= 10) identifiers.emplace(reader.field(i).substr(0, 10));
    }
  };
  collect("patients", {"subject_id"}, {"dod"});
  collect("admissions", {"subject_id", "hadm_id", "admit_provider_id"}, {"admittime", "dischtime", "deathtime"});
  collect("omr", {"subject_id"}, {"chartdate"});
  collect("prescriptions", {"subject_id", "hadm_id", "pharmacy_id", "poe_id", "order_provider_id"},
          {"starttime", "stoptime"});
  ASSERT_GT(identifiers.size(), 500u);
  for (const auto& [sample, line] : o.lines_by_sample)
    for (const auto& id : identifiers) ASSERT_EQ(line.find(id), std::string::npos) << id << " appears in " << sample;
}

// --folds 5: five files, every patient in exactly one, all samples accounted for.
TEST(PrepDemo, FoldsPartitionPatients) {
  const Output& o = demo_output();
  ASSERT_FALSE(o.lines_by_sample.empty());
  const fs::path dir = o.dir.string() + "_folds";
  std::string command = std::string(RXLM_BIN) + " prep --mimic " + kDemo.string() + " --folds 5 --out " +
                        dir.string() + " --link " + (dir.string() + ".tsv") + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::map<std::string, long long> subject_of;
  {
    std::ifstream links(dir.string() + ".tsv");
    std::string header, sample;
    std::getline(links, header);
    long long subject = 0, hadm = 0;
    while (links >> sample >> subject >> hadm) subject_of[sample] = subject;
  }
  std::map<long long, std::set<int>> folds_of_patient;
  std::size_t samples = 0;
  for (int fold = 0; fold < 5; ++fold) {
    std::ifstream in(dir / ("fold_" + std::to_string(fold) + ".jsonl"));
    std::size_t in_fold = 0;
    for (std::string line; std::getline(in, line); ++in_fold) {
      json sample = json::parse(line);
      EXPECT_EQ(sample["meta"]["split"], "fold_" + std::to_string(fold));
      folds_of_patient[subject_of.at(sample["meta"]["sample_id"])].insert(fold);
    }
    EXPECT_GT(in_fold, 0u);
    samples += in_fold;
  }
  EXPECT_EQ(samples, o.lines_by_sample.size());
  for (const auto& [subject, folds] : folds_of_patient) EXPECT_EQ(folds.size(), 1u) << subject;
  fs::remove_all(dir);
  fs::remove(dir.string() + ".tsv");
}

// Every admission against tests/fixtures/clinical/demo_admissions.tsv, written by the independent Python
// reference tools/reference/prep_demo_reference.py (documented rules re-implemented with the standard
// library): drop reasons, the patient line and the diagnosis codes in order. The reference does not run
// the drug-list percentile step, so exactly the admissions that step drops are "kept" there but absent here.
TEST(PrepDemo, EveryAdmissionMatchesTheIndependentReference) {
  const Output& o = demo_output();
  ASSERT_FALSE(o.lines_by_sample.empty());
  std::ifstream in(fs::path(RXLM_SOURCE_DIR) / "tests" / "fixtures" / "clinical" / "demo_admissions.tsv");
  ASSERT_TRUE(in) << "missing fixture; run tools/reference/prep_demo_reference.py";
  std::string line;
  std::getline(in, line);
  std::map<std::string, long long> reference_drops;
  long long missing_kept = 0, compared = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, '\t');) cells.push_back(cell);
    cells.resize(4);
    const long long hadm = std::stoll(cells[0]);
    if (cells[1] != "kept") {
      ++reference_drops[cells[1]];
      EXPECT_EQ(sample_for(hadm), nullptr) << hadm << " should be dropped: " << cells[1];
      continue;
    }
    json s = sample_for(hadm);
    if (s.is_null()) {
      ++missing_kept;
      continue;
    }
    ++compared;
    EXPECT_EQ(patient_line(s), cells[2]) << hadm;
    std::vector<std::string> expected_codes;
    std::stringstream codes(cells[3]);
    for (std::string code; std::getline(codes, code, '|');) {
      auto unknown = code.find(" (title unknown)");
      expected_codes.push_back(code.substr(0, unknown));
    }
    EXPECT_EQ(diagnosis_codes(s), expected_codes) << hadm;
  }
  const json& drops = o.report["admissions_dropped"];
  for (const auto& [reason, count] : reference_drops) EXPECT_EQ(drops[reason], count) << reason;
  long long percentile_drops = 0;
  for (const auto& [reason, count] : drops.items())
    if (reason.rfind("more distinct drugs", 0) == 0) percentile_drops = count;
  EXPECT_EQ(missing_kept, percentile_drops);
  EXPECT_EQ(compared, static_cast<long long>(o.lines_by_sample.size()));
}
