// `rxlm train --dry-run` run as a program on Llama-3.1-8B's config.json: the three counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

using ::testing::HasSubstr;

struct CommandResult {
  int status;
  std::string output;
};

CommandResult run_train(const std::string& args) {
  const std::string command = std::string(RXLM_BIN) + " train " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const std::string config = std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/configs/llama-3.1-8b/config.json";

TEST(TrainDryRun, FfaLoraRank32) {
  const CommandResult r = run_train("--dry-run --model-config '" + config + "' --lora-rank 32");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("trainable parameters: 5,242,880\n"));
  EXPECT_THAT(r.output, HasSubstr("frozen parameters: 8,038,649,856 (base 8,030,261,248 + frozen lora_A 8,388,608)"));
  EXPECT_THAT(r.output, HasSubstr("base weights     14.96 GiB"));  // bf16 per config.json
}

TEST(TrainDryRun, FfaLoraRank16) {
  const CommandResult r = run_train("--dry-run --model-config '" + config + "' --lora-rank 16 --targets q_proj,v_proj");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("trainable parameters: 2,621,440\n"));
}

TEST(TrainDryRun, StandardLoraRank16) {
  const CommandResult r = run_train("--dry-run --model-config '" + config + "' --standard-lora");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("trainable parameters: 6,815,744\n"));
  EXPECT_THAT(r.output, HasSubstr("standard LoRA"));
}

TEST(TrainDryRun, WithoutDryRunTrainingNeedsModelDataAndRunDirectory) {
  const CommandResult r = run_train("--model-config '" + config + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("training needs --model PATH --train train.jsonl --out RUN"));
}

TEST(TrainDryRun, UnknownTargetIsAnError) {
  const CommandResult r = run_train("--dry-run --model-config '" + config + "' --targets q_proj,attn");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("unknown module 'attn'"));
}

}  // namespace
