// Checkpoints and resume: a run stopped after step 3 and resumed from checkpoint-3 logs the same losses,
// bit for bit, and ends with the same adapter as an uninterrupted run (SGD; AdamW with a cosine schedule
// and clipping; resuming mid-epoch);
// checkpoints are complete directories; a checkpoint from a different run setup is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/train/trainer.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;

std::vector<TrainSequence> samples() {
  std::vector<TrainSequence> out;
  for (int s = 0; s < 7; ++s) {
    TrainSequence seq;
    for (int i = 0; i < 6 + s % 3; ++i) seq.tokens.push_back(10 + (s * 31 + i * 17) % 230);
    seq.labels = seq.tokens;
    std::fill(seq.labels.begin(), seq.labels.begin() + 3, -100);
    out.push_back(std::move(seq));
  }
  return out;
}

// step → loss from a run's log.jsonl.
class TrainResume : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainResume, StoppedAndResumedEqualsUninterrupted) {
  const Checkpoint checkpoint = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32");
  const fs::path root = fs::temp_directory_path() / ("rxlm_train_resume_" + std::to_string(getpid()) + GetParam());
  TrainSettings settings;
  settings.epochs = 3;
  settings.batch_size = 3;  // 7 samples: 3 steps per epoch, the last batch of each a single sample
  settings.learning_rate = GetParam() == "adamw" ? 0.01 : 1.0;
  settings.optimizer = GetParam();
  settings.save_steps = 2;
  if (GetParam() == "adamw") {  // the schedule and clipping must continue from the checkpoint's step too
    settings.schedule = "cosine";
    settings.warmup_steps = 2;
    settings.max_grad_norm = 0.5;
  }
  LoraConfig config;
  config.freeze_a = false;
  const auto data = samples();
  const std::vector<TrainSequence> validation(data.begin(), data.begin() + 2);

  LoraWeights whole = init_lora_weights(checkpoint.config, config, 3);
  train_lora(checkpoint, whole, data, validation, settings, root / "whole");
  EXPECT_TRUE(fs::exists(root / "whole" / "checkpoint-2" / "trainer_state.json"));
  EXPECT_TRUE(fs::exists(root / "whole" / "checkpoint-9" / "adapter" / "adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(root / "whole" / "checkpoint-2.tmp"));

  TrainSettings first = settings;
  first.max_steps = 5;  // stops mid-epoch 1 (resume must redraw that epoch's order); checkpoint-5 ends the run
  LoraWeights stopped = init_lora_weights(checkpoint.config, config, 3);
  train_lora(checkpoint, stopped, data, validation, first, root / "stopped");
  ASSERT_TRUE(fs::exists(root / "stopped" / "checkpoint-5"));

  TrainSettings second = settings;
  second.resume_from = root / "stopped" / "checkpoint-5";
  LoraWeights resumed = init_lora_weights(checkpoint.config, config, 99);  // overwritten by the checkpoint
  const TrainResult rest = train_lora(checkpoint, resumed, data, validation, second, root / "resumed");
  EXPECT_EQ(rest.steps.size(), 4u);

  const auto want = read_step_losses(root / "whole" / "log.jsonl");
  const auto got = read_step_losses(root / "resumed" / "log.jsonl");
  ASSERT_EQ(want.size(), 9u);
  EXPECT_EQ(got, want);  // bitwise: same batches, same arithmetic, same optimiser state
  for (size_t i = 0; i < whole.adapters.size(); ++i) {
    EXPECT_EQ(resumed.adapters[i].a, whole.adapters[i].a);
    EXPECT_EQ(resumed.adapters[i].b, whole.adapters[i].b);
  }
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainResume, ::testing::Values("sgd", "adamw"));

TEST(TrainResumeRefusal, ACheckpointFromAnotherSetupIsRefused) {
  const Checkpoint checkpoint = load_checkpoint(std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/tiny_llama/f32");
  const fs::path root = fs::temp_directory_path() / ("rxlm_train_refuse_" + std::to_string(getpid()));
  TrainSettings settings;
  settings.epochs = 1;
  settings.batch_size = 4;
  LoraWeights lora = init_lora_weights(checkpoint.config, LoraConfig{}, 3);
  train_lora(checkpoint, lora, samples(), {}, settings, root / "a");
  settings.batch_size = 2;
  settings.resume_from = root / "a" / "checkpoint-2";
  EXPECT_THAT([&] { train_lora(checkpoint, lora, samples(), {}, settings, root / "b"); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("resume with the same data and settings")));
  fs::remove_all(root);
}

}  // namespace
}  // namespace rxlm
