// The training loop on the tiny f32 Llama: loss falls, the log has a line per step and per validation,
// the saved PEFT adapter holds the trained weights, and the seed alone decides the data order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/train/trainer.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;

// Prompt of 5 tokens, then an answer that repeats it: a pattern attention can learn to copy.
std::vector<TrainSequence> copy_samples(int count, int32_t first_token) {
  std::vector<TrainSequence> out;
  for (int s = 0; s < count; ++s) {
    TrainSequence seq;
    for (int i = 0; i < 5; ++i) seq.tokens.push_back(first_token + (s * 37 + i * 11) % 200);
    for (int i = 0; i < 5; ++i) seq.tokens.push_back(seq.tokens[i]);
    seq.labels = seq.tokens;
    std::fill(seq.labels.begin(), seq.labels.begin() + 5, -100);
    out.push_back(std::move(seq));
  }
  return out;
}

struct TrainingRun {
  TrainResult result;
  LoraWeights lora;
  fs::path dir;
};

TrainingRun train(const Checkpoint& checkpoint, uint64_t seed, const std::string& name) {
  TrainSettings settings;
  settings.epochs = 3;
  settings.batch_size = 4;
  settings.learning_rate = 2.0;
  settings.seed = seed;
  settings.base_model = "tests/fixtures/tiny_llama/f32";
  LoraConfig config;
  TrainingRun run{{}, init_lora_weights(checkpoint.config, config, 11),
          fs::temp_directory_path() / ("rxlm_train_loop_" + std::to_string(getpid()) + "_" + name)};
  const auto data = copy_samples(6, 20);
  // Validation here is the training data itself: it measures fit (the loop's plumbing), not generalisation.
  run.result = train_lora(checkpoint, run.lora, data, data, settings, run.dir);
  return run;
}

TEST(TrainLoop, LossFallsAndTheRunDirectoryHoldsLogAndAdapter) {
  const Checkpoint checkpoint = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32");
  const TrainingRun run = train(checkpoint, 7, "a");
  ASSERT_EQ(run.result.steps.size(), 6u);  // 3 epochs × ceil(6 / 4)
  EXPECT_EQ(run.result.steps[1].tokens, 20);  // the short last batch of an epoch: 2 samples × 10 tokens
  ASSERT_EQ(run.result.val_losses.size(), 4u);  // before training and after each epoch
  EXPECT_LT(run.result.val_losses.back(), 0.9 * run.result.val_losses.front());

  std::ifstream log(run.dir / "log.jsonl");
  int steps = 0, validations = 0;
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) ++validations;
    if (j.contains("loss")) {
      EXPECT_DOUBLE_EQ(j["loss"].get<double>(), run.result.steps[static_cast<size_t>(steps)].loss);
      ++steps;
    }
  }
  EXPECT_EQ(steps, 6);
  EXPECT_EQ(validations, 4);

  const LoraWeights saved = load_peft_adapter(run.dir / "adapter", checkpoint.config);
  ASSERT_EQ(saved.adapters.size(), run.lora.adapters.size());
  for (size_t i = 0; i < saved.adapters.size(); ++i) EXPECT_EQ(saved.adapters[i].b, run.lora.adapters[i].b);
  fs::remove_all(run.dir);
}

TEST(TrainLoop, TheSeedDecidesTheDataOrder) {
  const Checkpoint checkpoint = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32");
  const TrainingRun a = train(checkpoint, 7, "b"), same = train(checkpoint, 7, "c"), other = train(checkpoint, 8, "d");
  for (size_t i = 0; i < a.result.steps.size(); ++i) EXPECT_EQ(a.result.steps[i].loss, same.result.steps[i].loss);
  EXPECT_NE(a.result.steps[0].loss, other.result.steps[0].loss);
  for (const TrainingRun* r : {&a, &same, &other}) fs::remove_all(r->dir);
}

// Accumulating 2 micro-batches of 2 is one batch of 4: the gradient of their joint mean loss (transformers'
// num_items_in_batch normalisation), so losses and weights agree up to summation order.
TEST(TrainLoop, GradientAccumulationEqualsTheLargerBatch) {
  const Checkpoint checkpoint = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32");
  auto data = copy_samples(8, 30);
  data[1].labels.assign(data[1].labels.size(), -100);  // uneven scored counts: a mean of means would differ
  data[1].labels.back() = data[1].tokens.back();
  TrainSettings big;
  big.epochs = 2;
  big.batch_size = 4;
  big.learning_rate = 0.01;
  big.optimizer = "adamw";
  TrainSettings accumulated = big;
  accumulated.batch_size = 2;
  accumulated.gradient_accumulation_steps = 2;
  LoraConfig config;
  config.freeze_a = false;
  LoraWeights a = init_lora_weights(checkpoint.config, config, 4), b = a;
  const fs::path dir = fs::temp_directory_path() / ("rxlm_train_accumulate_" + std::to_string(getpid()));
  const TrainResult ra = train_lora(checkpoint, a, data, {}, big, dir / "big");
  const TrainResult rb = train_lora(checkpoint, b, data, {}, accumulated, dir / "accumulated");
  ASSERT_EQ(ra.steps.size(), 4u);
  ASSERT_EQ(rb.steps.size(), 4u);
  for (size_t i = 0; i < ra.steps.size(); ++i) {
    EXPECT_NEAR(rb.steps[i].loss, ra.steps[i].loss, 1e-6 * ra.steps[i].loss) << "step " << i;
    EXPECT_EQ(rb.steps[i].tokens, ra.steps[i].tokens);
  }
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.adapters.size(); ++i)
    for (size_t k = 0; k < a.adapters[i].b.size(); ++k) {
      diff = std::max(diff, std::abs(double(a.adapters[i].b[k]) - b.adapters[i].b[k]));
      scale = std::max(scale, std::abs(double(a.adapters[i].b[k])));
    }
  EXPECT_LE(diff, 1e-4 * scale);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rxlm
