// `rxlm synth` writes tables with the demo's headers that `rxlm prep` reads end to end, with fresh ids.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "rxlm/core/paths.h"
#include "rxlm/io/csv.h"

namespace fs = std::filesystem;

TEST(PrepSynth, SynthesisedTablesRunThroughPrep) {
  const fs::path dir = fs::temp_directory_path() / ("rxlm_prep_synth_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string bin = RXLM_BIN;
  ASSERT_EQ(std::system((bin + " synth --admissions 300 --seed 5 --out " + (dir / "mimic").string() + " > /dev/null").c_str()), 0);
  const fs::path demo = rxlm::shared_dir() / "data" / "mimic-iv-demo" / "hosp";
  std::set<std::string> demo_subjects;
  for (const char* table : {"patients", "admissions", "diagnoses_icd", "prescriptions", "omr", "d_icd_diagnoses"}) {
    auto synthetic = rxlm::CsvReader::open(dir / "mimic" / "hosp" / (std::string(table) + ".csv.gz"));
    auto original = rxlm::CsvReader::open(demo / (std::string(table) + ".csv.gz"));
    EXPECT_EQ(synthetic.header(), original.header()) << table;
  }
  {
    auto original = rxlm::CsvReader::open(demo / "patients.csv.gz");
    while (original.next()) demo_subjects.emplace(original.field(0));
    auto synthetic = rxlm::CsvReader::open(dir / "mimic" / "hosp" / "admissions.csv.gz");
    std::size_t rows = 0;
    while (synthetic.next()) {
      ++rows;
      EXPECT_FALSE(demo_subjects.count(std::string(synthetic.field(synthetic.column("subject_id")))));
    }
    EXPECT_EQ(rows, 300u);
  }
  ASSERT_EQ(std::system((bin + " prep --mimic " + (dir / "mimic").string() + " --out " + (dir / "out").string() +
                         " > /dev/null").c_str()),
            0);
  std::ifstream in(dir / "out" / "prep_report.json");
  auto report = nlohmann::json::parse(in);
  EXPECT_EQ(report["admissions_in"], 300);
  EXPECT_EQ(report["admissions_dropped"]["age outside [18, 110]"], 0);
  EXPECT_EQ(report["admissions_dropped"]["no patients row for the subject"], 0);
  EXPECT_GT(report["admissions_out"].get<int>(), 200);
  fs::remove_all(dir);
}
