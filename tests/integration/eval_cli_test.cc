// `rxlm eval` on a small hand-made predictions file (tests/fixtures/eval/preds_small.jsonl, with
// reference ATC codes chosen so every number below is computed by hand; the DDI pairs are real pairs of
// the shared atc3_ddi_edges_union.tsv), two methods in one table, and bad input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "../support/run_cli.h"

namespace fs = std::filesystem;
using rxlm::test::read_file;
using rxlm::test::run_cli;

namespace {

const fs::path kFixtures = fs::path(RXLM_SOURCE_DIR) / "tests" / "fixtures" / "eval";

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("rxlm_eval_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// preds_small.jsonl, sample by sample (ATC-3 codes in brackets; reference codes from reference_atc,
// cyanocobalamin from the shared maps, zzzunknown has none):
//  s1 suggests heparin[B01A] atenolol[C07A] furosemide[C03C]; recorded heparin metoprolol[C07A]
//     drug: 1 match → P 1/3 R 1/2 F1 2/5 J 1/4;  ATC-4/ATC-3: {B01AB,C07AB,C03CA} vs {B01AB,C07AB} → P 2/3 R 1 F1 4/5 J 2/3
//     DDI: 3 pairs, none known; recorded: 1 pair, none
//  s2 suggests sodium fluoride[A01A] cyanocobalamin[B03B] zzzunknown; recorded sodium fluoride furosemide atenolol
//     drug: P 1/3 R 1/3 F1 1/3 J 1/5;  ATC: {A01AA,B03BA} vs {A01AA,C03CA,C07AB} → P 1/2 R 1/3 F1 2/5 J 1/4
//     DDI: A01A–B03B is a known pair → 1/1; recorded {A01A,C03C,C07A}: 3 pairs, none
//  s3 unparsed; recorded heparin simvastatin[C10A]: B01A–C10A known → 1/1
//  s4 suggests simvastatin; recorded aspirin[B01A] simvastatin sodium fluoride
//     drug = ATC: P 1 R 1/3 F1 1/2 J 1/3; DDI 0 pairs; recorded {B01A,C10A,A01A}: 3 pairs, 2 known
const std::map<std::string, double> kExpectedSmall = {
    {"output_rate", 3.0 / 4},
    {"accuracy_parsed", 5.0 / 9},        // (1/3 + 1/3 + 1) / 3
    {"accuracy_all", 5.0 / 12},          // ... / 4
    {"recall_parsed", 7.0 / 18},         // (1/2 + 1/3 + 1/3) / 3
    {"recall_all", 7.0 / 24},
    {"f1_parsed", 37.0 / 90},            // (2/5 + 1/3 + 1/2) / 3
    {"f1_all", 37.0 / 120},
    {"jaccard_parsed", 47.0 / 180},      // (1/4 + 1/5 + 1/3) / 3
    {"jaccard_all", 47.0 / 240},
    {"atc4_precision_parsed", 13.0 / 18},  // (2/3 + 1/2 + 1) / 3
    {"atc4_precision_all", 13.0 / 24},
    {"atc4_recall_parsed", 5.0 / 9},     // (1 + 1/3 + 1/3) / 3
    {"atc4_recall_all", 5.0 / 12},
    {"atc4_f1_parsed", 17.0 / 30},       // (4/5 + 2/5 + 1/2) / 3
    {"atc4_f1_all", 17.0 / 40},
    {"atc4_jaccard_parsed", 5.0 / 12},   // (2/3 + 1/4 + 1/3) / 3
    {"atc4_jaccard_all", 5.0 / 16},
    {"atc3_precision_parsed", 13.0 / 18},
    {"atc3_jaccard_all", 5.0 / 16},
    {"drugs_per_sample_parsed", 7.0 / 3},
    {"drugs_per_sample_all", 7.0 / 4},
    {"recorded_drugs_per_sample", 10.0 / 4},
    {"unknown_drug_share", 1.0 / 7},
    {"recorded_unknown_drug_share", 0.0},
    {"ddi_rate", 1.0 / 4},               // 1 known of 3 + 1 + 0 pairs
    {"recorded_ddi_rate", 3.0 / 8},      // 0 + 0 + 1 + 2 known of 1 + 3 + 1 + 3 pairs
};

// preds_fixed.jsonl: every sample gets heparin + simvastatin (ATC-3 {B01A, C10A}, a known pair).
//   drug P: 1/2, 0, 1, 1/2; R: 1/2, 0, 1, 1/3; F1: 1/2, 0, 1, 2/5; J: 1/3, 0, 1, 1/4
//   ATC-3 J: {B01A,C10A} vs s1 {B01A,C07A} 1/3, s2 0, s3 1, s4 {B01A,C10A,A01A} 2/3
const std::map<std::string, double> kExpectedFixed = {
    {"output_rate", 1.0},       {"accuracy_parsed", 0.5}, {"accuracy_all", 0.5},       {"recall_all", 11.0 / 24},
    {"f1_all", 0.475},          {"jaccard_all", 19.0 / 48}, {"atc3_jaccard_all", 0.5}, {"drugs_per_sample_all", 2.0},
    {"ddi_rate", 1.0},          {"recorded_ddi_rate", 3.0 / 8},
};

void expect_metrics(const nlohmann::json& overall, const std::map<std::string, double>& expected) {
  for (const auto& [key, value] : expected) {
    ASSERT_TRUE(overall.contains(key)) << key;
    EXPECT_NEAR(overall[key]["value"].get<double>(), value, 1e-12) << key;
  }
}

}  // namespace

TEST(EvalCli, SmallFixtureExactNumbers) {
  const fs::path out = temp_dir("small");
  auto r = run_cli("eval --preds " + (kFixtures / "preds_small.jsonl").string() + " --bootstrap 0 --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fixture"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("75.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 distinct suggested names have no ATC code"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(read_file(out / "eval.json"));
  ASSERT_EQ(j["results"].size(), 1u);
  const auto& result = j["results"][0];
  EXPECT_EQ(result["name"], "fixture");
  EXPECT_EQ(result["samples"], 4);
  EXPECT_EQ(result["parsed"], 3);
  EXPECT_EQ(result["parser_disagreements"], 0);
  expect_metrics(result["overall"], kExpectedSmall);
  EXPECT_FALSE(result["overall"]["output_rate"].contains("ci"));
  EXPECT_EQ(result["unknown_suggested_drugs"]["zzzunknown"], 1);
  ASSERT_EQ(result["per_sample"].size(), 4u);
  EXPECT_EQ(result["per_sample"][1]["ddi"]["interacting"], 1);
  EXPECT_EQ(result["per_sample"][2]["parsed"], false);
  const std::string md = read_file(out / "eval.md");
  EXPECT_NE(md.find("| fixture | 4 | 75.0 | 55.6 | 41.7 | 30.8 | 19.6 | 31.2 | 2.33 | 25.0 | 37.5 |"), std::string::npos)
      << md;
  fs::remove_all(out);
}

TEST(EvalCli, SeveralFilesOneRowEachWithDeterministicIntervals) {
  const fs::path a = temp_dir("cmp_a"), b = temp_dir("cmp_b");
  const std::string preds = " --preds " + (kFixtures / "preds_small.jsonl").string() + " --preds " +
                            (kFixtures / "preds_fixed.jsonl").string() + " --bootstrap 200 --seed 3 --out ";
  auto ra = run_cli("eval" + preds + a.string()), rb = run_cli("eval" + preds + b.string());
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(ra.out.substr(0, ra.out.find("wrote")), rb.out.substr(0, rb.out.find("wrote")));
  EXPECT_NE(ra.out.find("baseline:fixed"), std::string::npos) << ra.out;
  EXPECT_EQ(read_file(a / "eval.md"), read_file(b / "eval.md"));
  const auto j = nlohmann::json::parse(read_file(a / "eval.json"));
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["name"], "fixture");
  EXPECT_EQ(j["results"][1]["name"], "baseline:fixed");
  expect_metrics(j["results"][0]["overall"], kExpectedSmall);
  expect_metrics(j["results"][1]["overall"], kExpectedFixed);
  for (const auto& result : j["results"])
    for (const auto& [key, m] : result["overall"].items()) {
      if (m["value"].is_null()) continue;
      ASSERT_TRUE(m.contains("ci")) << key;
      EXPECT_LE(m["ci"][0].get<double>(), m["value"].get<double>() + 1e-12) << key;
      EXPECT_GE(m["ci"][1].get<double>(), m["value"].get<double>() - 1e-12) << key;
    }
  const std::string md = read_file(a / "eval.md");
  EXPECT_NE(md.find("| baseline:fixed | 4 | 100.0 [100.0, 100.0] | 50.0 ["), std::string::npos) << md;
  EXPECT_NE(md.find("200 resamples"), std::string::npos);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(EvalCli, MissingFieldNamesFileLineAndField) {
  const fs::path dir = temp_dir("missing");
  std::string lines = read_file(kFixtures / "preds_small.jsonl");
  auto j = nlohmann::json::parse(lines.substr(lines.find('\n') + 1, lines.find('\n', lines.find('\n') + 1) - lines.find('\n') - 1));
  j.erase("reference");
  std::ofstream(dir / "bad.jsonl") << lines.substr(0, lines.find('\n') + 1) << j.dump() << "\n";
  auto r = run_cli("eval --bootstrap 0 --preds " + (dir / "bad.jsonl").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"reference\""), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(EvalCli, TornFileIsAClearError) {
  const fs::path dir = temp_dir("torn");
  std::string lines = read_file(kFixtures / "preds_small.jsonl");
  std::ofstream(dir / "torn.jsonl") << lines.substr(0, lines.size() - 20);  // the last line cut short
  auto r = run_cli("eval --bootstrap 0 --preds " + (dir / "torn.jsonl").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("torn.jsonl:4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no newline"), std::string::npos) << r.err;
  std::ofstream(dir / "empty.jsonl") << "";
  r = run_cli("eval --preds " + (dir / "empty.jsonl").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no prediction records"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(EvalCli, MissingDrugMapsIsAClearError) {
  auto r = run_cli("eval --preds " + (kFixtures / "preds_small.jsonl").string() + " --drug-maps /nonexistent/maps");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/maps"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--drug-maps"), std::string::npos) << r.err;
}

// preds_synthetic.jsonl (48 samples) and its expected metrics come from
// tools/reference/eval_metrics_reference.py, written from docs/evaluation.md in exact fractions.
TEST(EvalCli, SyntheticMatchesPythonReference) {
  const fs::path out = temp_dir("synthetic");
  auto r = run_cli("eval --preds " + (kFixtures / "preds_synthetic.jsonl").string() + " --bootstrap 0 --out " +
                   out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto expected = nlohmann::json::parse(read_file(kFixtures / "expected_synthetic.json"));
  const auto result = nlohmann::json::parse(read_file(out / "eval.json"))["results"][0];
  EXPECT_EQ(result["samples"], expected["samples"]);
  EXPECT_EQ(result["parsed"], expected["parsed"]);
  ASSERT_EQ(result["overall"].size(), expected["overall"].size());
  for (const auto& [key, value] : expected["overall"].items())
    EXPECT_NEAR(result["overall"][key]["value"].get<double>(), value.get<double>(), 1e-12) << key;
  // The 6 empty lists ("Drugs:") and 6 duplicated lists the generator stored as parsed are refused by
  // the strict parser: counted and warned about, while the stored verdict is what is scored.
  EXPECT_EQ(result["parser_disagreements"], 12);
  EXPECT_NE(r.err.find("12 records' stored parse differs"), std::string::npos) << r.err;
  fs::remove_all(out);
}
