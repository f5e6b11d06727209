// Black-box tests of `rxlm baseline` on the MIMIC-IV demo: the predictions of every method equal the
// independent Python reference (tools/reference/baseline_reference.py → tests/fixtures/baselines/), with
// the same list length tuned on validation; 5-fold cross-validation predicts every sample exactly once,
// equals the reference's cross-validation (list length per fold and every list), and agrees with a plain
// train/test run on the same folds; reruns are identical; bad input is refused
// with a message naming the file, line or option.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../support/run_cli.h"
#include "rxlm/core/paths.h"
#include "rxlm/eval/prediction_record.h"

namespace fs = std::filesystem;
using nlohmann::json;
using rxlm::test::run_cli;

namespace {

const fs::path kDemo = rxlm::shared_dir() / "data" / "mimic-iv-demo";
const fs::path kWork = fs::temp_directory_path() / ("rxlm_baseline_test_" + std::to_string(::getpid()));

class RemoveWork : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(kWork, ignored);
  }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new RemoveWork);

// prep's demo output with default settings (and, separately, with --folds 5), made once per program.
const fs::path& prep_dir(bool folds) {
  static std::map<bool, fs::path> dirs;
  if (auto it = dirs.find(folds); it != dirs.end()) return it->second;
  fs::path dir = kWork / (folds ? "prep_folds" : "prep");
  auto r = run_cli("prep --mimic " + kDemo.string() + " --out " + dir.string() + (folds ? " --folds 5" : ""));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return dirs[folds] = dir;
}

std::string sha256(const fs::path& file) {
  std::string out;
  FILE* pipe = ::popen(("sha256sum '" + file.string() + "'").c_str(), "r");
  char buffer[128];
  if (pipe && std::fgets(buffer, sizeof buffer, pipe)) out = std::string(buffer).substr(0, 64);
  if (pipe) ::pclose(pipe);
  return out;
}

int printed_list_length(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex("list length (\\d+):")) ? std::stoi(m[1]) : -1;
}

void skip_without_demo() {
  if (!fs::exists(kDemo / "hosp")) GTEST_SKIP() << "MIMIC-IV demo not found at " << kDemo << " (set RXLM_SHARED)";
}

}  // namespace

class DemoReference : public ::testing::TestWithParam<std::string> {};

TEST_P(DemoReference, PredictionsEqualThePythonReference) {
  skip_without_demo();
  const std::string method = GetParam();
  const json fixture = json::parse(rxlm::test::read_file(fs::path(RXLM_SOURCE_DIR) / "tests/fixtures/baselines/demo_predictions.json"));
  const fs::path& prep = prep_dir(false);
  for (const char* split : {"train", "validation", "test"})
    ASSERT_EQ(sha256(prep / (std::string(split) + ".jsonl")), fixture["inputs_sha256"][split].get<std::string>())
        << split << ".jsonl differs from the one the fixture was made from: prep's output changed; regenerate with "
        << "tools/reference/baseline_reference.py (see its header)";
  const fs::path out = kWork / (method + ".jsonl");
  auto r = run_cli("baseline --method " + method + " --train " + (prep / "train.jsonl").string() + " --validation " +
                   (prep / "validation.jsonl").string() + " --test " + (prep / "test.jsonl").string() + " --out " +
                   out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json& expected = fixture["methods"][method];
  EXPECT_EQ(printed_list_length(r.out), expected["list_length"].get<int>()) << r.out;
  EXPECT_NE(r.out.find("tuned on " + (prep / "validation.jsonl").string() + ": best mean F1"), std::string::npos) << r.out;

  const auto records = rxlm::eval::read_predictions(out);
  ASSERT_EQ(records.size(), expected["predictions"].size());
  for (const auto& record : records) {
    SCOPED_TRACE(record.sample_id);
    ASSERT_TRUE(expected["predictions"].contains(record.sample_id));
    EXPECT_EQ(record.drugs, expected["predictions"][record.sample_id].get<std::vector<std::string>>());
    EXPECT_EQ(record.method, "baseline:" + method);
    EXPECT_TRUE(record.parsed);
    EXPECT_FALSE(record.reference.empty());
    EXPECT_EQ(record.reference_atc.size(), record.reference.size());
    EXPECT_EQ(record.user.rfind("Patient: ", 0), 0u);
  }
  // Deterministic: a second run writes the same bytes.
  const fs::path again = kWork / (method + "_again.jsonl");
  r = run_cli("baseline --method " + method + " --train " + (prep / "train.jsonl").string() + " --validation " +
              (prep / "validation.jsonl").string() + " --test " + (prep / "test.jsonl").string() + " --out " +
              again.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rxlm::test::read_file(again), rxlm::test::read_file(out));
}

INSTANTIATE_TEST_SUITE_P(Methods, DemoReference, ::testing::Values("most-frequent", "cooccurrence", "knn"),
                         [](const auto& info) {
                           std::string name = info.param;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST(Baseline, CrossValidationEqualsTheReferenceAndAPlainRun) {
  skip_without_demo();
  const fs::path& prep = prep_dir(true);
  std::set<std::string> fold_ids;
  std::vector<std::string> fold_lines[5];
  for (int i = 0; i < 5; ++i) {
    std::ifstream in(prep / ("fold_" + std::to_string(i) + ".jsonl"));
    for (std::string line; std::getline(in, line);) {
      fold_ids.insert(json::parse(line)["meta"]["sample_id"].get<std::string>());
      fold_lines[i].push_back(line);
    }
  }
  ASSERT_GT(fold_ids.size(), 200u);
  const fs::path out = kWork / "cv.jsonl";
  auto r = run_cli("baseline --method cooccurrence --folds-dir " + prep.string() + " --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto records = rxlm::eval::read_predictions(out);
  std::multiset<std::string> predicted;
  for (const auto& record : records) predicted.insert(record.sample_id);
  EXPECT_EQ(predicted.size(), fold_ids.size());
  EXPECT_EQ(std::set<std::string>(predicted.begin(), predicted.end()), fold_ids);  // each exactly once

  // Every fold's list length and every sample's list equal the Python reference's cross-validation.
  const json fixture =
      json::parse(rxlm::test::read_file(fs::path(RXLM_SOURCE_DIR) / "tests/fixtures/baselines/demo_cv_cooccurrence.json"));
  for (int i = 0; i < 5; ++i) {
    const std::string fold = "fold_" + std::to_string(i);
    ASSERT_EQ(sha256(prep / (fold + ".jsonl")), fixture["inputs_sha256"][fold].get<std::string>())
        << fold << ".jsonl differs from the one the fixture was made from: prep's output changed; regenerate with "
        << "tools/reference/baseline_reference.py (see its header)";
  }
  std::vector<int> printed;
  const std::regex length_line("list length (\\d+):");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), length_line); it != std::sregex_iterator(); ++it)
    printed.push_back(std::stoi((*it)[1]));
  EXPECT_EQ(printed, fixture["list_lengths"].get<std::vector<int>>()) << r.out;
  const auto vocabulary = fixture["vocabulary"].get<std::vector<std::string>>();
  for (const auto& record : records) {
    SCOPED_TRACE(record.sample_id);
    std::vector<std::string> expected;
    for (int index : fixture["predictions"].at(record.sample_id)) expected.push_back(vocabulary.at(index));
    EXPECT_EQ(record.drugs, expected);
  }

  // Fold 0's predictions equal a plain run trained on folds 1-4 with the list length CV chose for fold 0.
  const int n = printed_list_length(r.out);
  ASSERT_GT(n, 0) << r.out;
  EXPECT_NE(r.out.find("fold_0.jsonl: tuned on " + (prep / "fold_1.jsonl").string() +
                       " (ranker fitted on the other 3 training folds): best mean F1"),
            std::string::npos)
      << r.out;
  {
    std::ofstream train(kWork / "cv_train0.jsonl");
    for (int i = 1; i < 5; ++i)
      for (const auto& line : fold_lines[i]) train << line << "\n";
  }
  const fs::path plain = kWork / "cv_plain0.jsonl";
  r = run_cli("baseline --method cooccurrence --train " + (kWork / "cv_train0.jsonl").string() + " --test " +
              (prep / "fold_0.jsonl").string() + " --list-length " + std::to_string(n) + " --out " + plain.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto plain_records = rxlm::eval::read_predictions(plain);
  ASSERT_EQ(plain_records.size(), fold_lines[0].size());
  for (std::size_t i = 0; i < plain_records.size(); ++i) {
    EXPECT_EQ(records[i].sample_id, plain_records[i].sample_id);
    EXPECT_EQ(records[i].drugs, plain_records[i].drugs);
  }
}

TEST(Baseline, BadInputIsRefusedWithAReason) {
  fs::create_directories(kWork);
  const std::string good_line =
      R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":"Patient: age 50, sex male, height unknown, weight unknown, BMI unknown, admission type urgent.\nDiagnoses (in coded order):\n1. ICD-9 4019: Hypertension\nList the drugs to prescribe for this admission."},{"role":"assistant","content":"Drugs:\n- aspirin"}],"meta":{"sample_id":"s1"}})";
  const fs::path good = kWork / "good.jsonl";
  std::ofstream(good) << good_line << "\n";
  const fs::path no_answer = kWork / "no_answer.jsonl";
  std::ofstream(no_answer) << good_line << "\n"
                           << R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"meta":{"sample_id":"s2"}})"
                           << "\n";
  const fs::path bad_user = kWork / "bad_user.jsonl";
  std::ofstream(bad_user) << R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":"Which drugs?"},{"role":"assistant","content":"Drugs:\n- aspirin"}],"meta":{"sample_id":"s3"}})"
                          << "\n";
  const std::string out = " --out " + (kWork / "bad.jsonl").string();
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--method cooccurrence --train /nonexistent/train.jsonl --test " + good.string() + out,
       "/nonexistent/train.jsonl: cannot open"},
      {"--method cooccurrence --train " + no_answer.string() + " --test " + good.string() + out,
       no_answer.string() + ":2: expected 3 messages"},
      {"--method cooccurrence --train " + good.string() + " --test " + bad_user.string() + out,
       bad_user.string() + ":1: user message line 1"},
      {"--method svm --train " + good.string() + " --test " + good.string() + out,
       "unknown baseline method \"svm\"; choose most-frequent, cooccurrence or knn"},
      {"--method knn --train " + good.string() + out, "give --train and --test, or --folds-dir"},
      {"--method knn --folds-dir " + kWork.string() + out, "found 0 fold files"},
      {"--method knn --train " + good.string() + " --test " + good.string() + " --k 0" + out, "k must be at least 1"},
      {"--method knn --train " + good.string() + " --test " + good.string() + " --list-length 0" + out,
       "--list-length must be at least 1"},
  };
  for (const auto& c : cases) {
    auto r = run_cli("baseline " + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\nstderr: " << r.err;
  }
  EXPECT_FALSE(fs::exists(kWork / "bad.jsonl"));  // nothing written on failure
  auto r = run_cli("baseline --method knn --train " + good.string() + " --test " + good.string() + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("list length 1: median"), std::string::npos) << r.out;
}
