// `rxlm prep` on broken hosp tables: each gives a clear error naming file/line/field (or, when asked,
// counted skips), never a crash, and a failed run leaves earlier outputs untouched.
#include <gtest/gtest.h>

#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> good_tables() {
  return {
      {"patients", "subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod\n1,F,50,2100,2011 - 2013,\n"
                   "2,M,70,2100,2011 - 2013,\n"},
      {"admissions", "subject_id,hadm_id,admittime,dischtime,admission_type\n1,100,2101-03-01 10:00:00,"
                     "2101-03-05 10:00:00,URGENT\n2,200,2102-01-01 08:00:00,2102-01-02 08:00:00,ELECTIVE\n"},
      {"d_icd_diagnoses", "icd_code,icd_version,long_title\n4019,9,Unspecified essential hypertension\n"},
      {"diagnoses_icd", "subject_id,hadm_id,seq_num,icd_code,icd_version\n1,100,1,4019,9\n2,200,1,4019,9\n"},
      {"prescriptions", "subject_id,hadm_id,drug_type,drug,gsn\n1,100,MAIN,Lisinopril,000390\n"
                        "2,200,MAIN,\"Aspirin, EC\",\n"},
      {"omr", "subject_id,chartdate,seq_num,result_name,result_value\n1,2101-02-01,1,Weight (Lbs),150\n"},
  };
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class PrepBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("rxlm_prep_bad_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "hosp");
    for (const auto& [table, text] : good_tables()) write(table, text);
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& table, const std::string& text) {
    std::ofstream(root_ / "hosp" / (table + ".csv"), std::ios::binary) << text;
  }
  // Runs prep; returns the exit status and leaves stdout+stderr in output_.
  int prep(const std::string& extra = "") {
    std::string command = std::string(RXLM_BIN) + " prep --mimic " + root_.string() + " --out " +
                          (root_ / "out").string() + " " + extra + " > " + (root_ / "log").string() + " 2>&1";
    int rc = std::system(command.c_str());
    output_ = read_text(root_ / "log");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  }
  void expect_error(const std::string& fragment) {
    EXPECT_EQ(prep(), 1) << output_;
    EXPECT_NE(output_.find("error: "), std::string::npos) << output_;
    EXPECT_NE(output_.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << output_;
  }

  fs::path root_;
  std::string output_;
};

}  // namespace

TEST_F(PrepBadInput, GoodTablesWork) {
  ASSERT_EQ(prep(), 0) << output_;
  auto report = nlohmann::json::parse(read_text(root_ / "out" / "prep_report.json"));
  EXPECT_EQ(report["admissions_in"], 2);
  EXPECT_EQ(report["admissions_out"], 2);
}

TEST_F(PrepBadInput, MissingColumn) {
  write("prescriptions", "subject_id,hadm_id,drug_type,gsn\n1,100,MAIN,000390\n");
  expect_error("prescriptions.csv: missing column 'drug' (the header has: subject_id,hadm_id,drug_type,gsn)");
}

TEST_F(PrepBadInput, BadQuoting) {
  write("admissions", "subject_id,hadm_id,admittime,dischtime,admission_type\n1,100,2101-03-01 10:00:00,"
                      "2101-03-05 10:00:00,\"URGENT\"X\n");
  expect_error("admissions.csv:2: text after a closing quote");
}

TEST_F(PrepBadInput, WrongTypes) {
  write("diagnoses_icd", "subject_id,hadm_id,seq_num,icd_code,icd_version\n1,100,first,4019,9\n");
  expect_error("diagnoses_icd.csv:2: column 'seq_num' ('first'): not a whole number");
  SetUp();
  write("admissions", "subject_id,hadm_id,admittime,dischtime,admission_type\n1,100,03/01/2101,,URGENT\n");
  expect_error("admissions.csv:2: column 'admittime' ('03/01/2101'): is not a valid date");
  SetUp();
  write("omr", "subject_id,chartdate,seq_num,result_name,result_value\n1,2101-02-29,1,Weight (Lbs),150\n");
  expect_error("omr.csv:2: column 'chartdate' ('2101-02-29'): is not a valid date");
}

TEST_F(PrepBadInput, TruncatedGzip) {
  std::string text = good_tables()["prescriptions"];
  for (int i = 0; i < 5000; ++i) text += "1,100,MAIN,Drug number " + std::to_string(i * 7919 % 10007) + ",\n";
  fs::remove(root_ / "hosp" / "prescriptions.csv");
  fs::path gz = root_ / "hosp" / "prescriptions.csv.gz";
  gzFile out = gzopen(gz.c_str(), "wb");
  gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
  gzclose(out);
  fs::resize_file(gz, fs::file_size(gz) - 40);
  expect_error("prescriptions.csv.gz: corrupt or truncated gzip data");
}

TEST_F(PrepBadInput, MissingAndEmptyTables) {
  fs::remove(root_ / "hosp" / "omr.csv");
  expect_error("table 'omr' not found");
  SetUp();
  write("patients", "");
  expect_error("patients.csv: empty file; expected a header line");
}

TEST_F(PrepBadInput, MalformedRowsCanBeSkippedAndCounted) {
  write("admissions", "subject_id,hadm_id,admittime,dischtime,admission_type\n"
                      "1,100,2101-03-01 10:00:00,2101-03-05 10:00:00,URGENT\n"
                      "2,200,2102-01-01 08:00:00,ELECTIVE\n"
                      "2,201,not a date,,URGENT\n");
  EXPECT_EQ(prep(), 1) << output_;
  ASSERT_EQ(prep("--skip-malformed"), 0) << output_;
  auto report = nlohmann::json::parse(read_text(root_ / "out" / "prep_report.json"));
  EXPECT_EQ(report["tables"]["admissions"]["malformed_skipped"], 2);
  EXPECT_EQ(report["admissions_in"], 1);
}

TEST_F(PrepBadInput, FailedRunKeepsEarlierOutput) {
  ASSERT_EQ(prep(), 0) << output_;
  std::string before = read_text(root_ / "out" / "train.jsonl");
  ASSERT_FALSE(before.empty());
  write("omr", "subject_id,chartdate\n1,2101-02-01\n");
  expect_error("omr.csv: missing column 'seq_num'");
  EXPECT_EQ(read_text(root_ / "out" / "train.jsonl"), before);
  for (const auto& entry : fs::directory_iterator(root_ / "out"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}
