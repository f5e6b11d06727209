// docs/RESULTS.md's co-occurrence rows are reproduced from scratch: prep on the MIMIC-IV demo, the
// co-occurrence baseline (test split tuned on validation; 5-fold cross-validation), rxlm eval with the
// demo's settings (1000 bootstrap resamples, seed 0). Each freshly computed table row — point estimates
// and 95% intervals — must appear verbatim in docs/RESULTS.md, so the published numbers cannot drift from
// what the code computes.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "../support/run_cli.h"

namespace rxlm {
namespace {
namespace fs = std::filesystem;
using test::read_file;
using test::run_cli;
using test::shared_path;

// The line of eval.md's summary table whose method cell is `name`.
std::string row_of(const std::string& markdown, const std::string& name) {
  std::istringstream in(markdown);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("| " + name + " |", 0) == 0) return line;
  return "";
}

TEST(ResultsCooccurrence, DocsRowsAreWhatTheCodeComputes) {
  const fs::path mimic = shared_path("data/mimic-iv-demo");
  if (!fs::exists(mimic)) GTEST_SKIP() << mimic << " is missing";
  const fs::path dir = fs::temp_directory_path() / ("rxlm_results_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string prep = (dir / "prep").string(), folds = (dir / "folds").string();
  ASSERT_EQ(run_cli("prep --mimic " + mimic.string() + " --out " + prep).exit_code, 0);
  ASSERT_EQ(run_cli("prep --mimic " + mimic.string() + " --out " + folds + " --folds 5").exit_code, 0);
  auto split = run_cli("baseline --method cooccurrence --train " + prep + "/train.jsonl --validation " + prep +
                       "/validation.jsonl --test " + prep + "/test.jsonl --out " + (dir / "cooc.jsonl").string());
  ASSERT_EQ(split.exit_code, 0) << split.err;
  auto cv = run_cli("baseline --method cooccurrence --folds-dir " + folds + " --out " + (dir / "cv.jsonl").string());
  ASSERT_EQ(cv.exit_code, 0) << cv.err;
  auto e1 = run_cli("eval --preds " + (dir / "cooc.jsonl").string() + " --name 'baseline: cooccurrence' --out " +
                    (dir / "eval").string());
  ASSERT_EQ(e1.exit_code, 0) << e1.err;
  auto e2 = run_cli("eval --preds " + (dir / "cv.jsonl").string() + " --name 'baseline: cooccurrence' --out " +
                    (dir / "eval-cv").string());
  ASSERT_EQ(e2.exit_code, 0) << e2.err;

  const std::string results = read_file(fs::path(RXLM_SOURCE_DIR) / "docs/RESULTS.md");
  ASSERT_FALSE(results.empty()) << "docs/RESULTS.md is missing";
  for (const auto& [what, eval_dir] : {std::pair{"test split", dir / "eval"}, std::pair{"5-fold CV", dir / "eval-cv"}}) {
    const std::string row = row_of(read_file(eval_dir / "eval.md"), "baseline: cooccurrence");
    ASSERT_FALSE(row.empty()) << what;
    EXPECT_NE(results.find(row), std::string::npos)
        << what << ": this row, computed now, is not in docs/RESULTS.md:\n" << row;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rxlm
