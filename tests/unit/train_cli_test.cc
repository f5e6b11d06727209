// `rxlm train` end to end on stories260K (llama2.c, shared models) with ChatML-rendered chat JSONL: the
// validation loss falls, and the run directory holds log.jsonl and a PEFT adapter rxlm reads back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../support/run_cli.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/peft_adapter.h"

namespace rxlm::test {
namespace {

namespace fs = std::filesystem;

void write_samples(const fs::path& path, int first, int count) {
  const char* drugs[] = {"aspirin", "heparin", "insulin", "metoprolol", "furosemide", "atorvastatin"};
  std::ofstream out(path);
  for (int i = first; i < first + count; ++i) {
    nlohmann::json sample = {{"messages",
                              {{{"role", "system"}, {"content", "You are a pharmacist."}},
                               {{"role", "user"}, {"content", "Patient " + std::to_string(i) + ": once upon a time."}},
                               {{"role", "assistant"},
                                {"content", std::string("Drugs:\n- ") + drugs[i % 6] + "\n- " + drugs[(i + 2) % 6]}}}}};
    out << sample.dump() << "\n";
  }
}

TEST(TrainCli, Stories260KValidationLossFallsAndTheAdapterLoads) {
  const std::string model = shared_path("models/stories260K/stories260K.bin");
  if (!fs::exists(model)) GTEST_SKIP() << "shared model missing: " << model;
  const fs::path dir = fs::temp_directory_path() / ("rxlm_train_cli_" + std::to_string(getpid()));
  fs::create_directories(dir);
  write_samples(dir / "train.jsonl", 0, 8);
  write_samples(dir / "val.jsonl", 100, 4);
  const CliResult r = run_cli("train --model " + model + " --tokenizer " + shared_path("models/stories260K/tok512.bin") +
                              " --chat-format chatml --train " + (dir / "train.jsonl").string() + " --val " +
                              (dir / "val.jsonl").string() + " --out " + (dir / "run").string() +
                              " --epochs 3 --lr 0.05 --optimizer adamw");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("train: 8 samples (0 skipped"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("trainable parameters: 7,680"));  // 5 layers × 16 × (64 + 32)
  EXPECT_THAT(r.out, ::testing::HasSubstr("step 6/6 epoch 2"));

  std::vector<double> val;
  std::ifstream log(dir / "run" / "log.jsonl");
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) val.push_back(j["val_loss"]);
  }
  ASSERT_EQ(val.size(), 4u);
  EXPECT_LT(val.back(), 0.8 * val.front());
  const Checkpoint checkpoint = load_checkpoint(model);
  const LoraWeights adapter = load_peft_adapter(dir / "run" / "adapter", checkpoint.config);
  EXPECT_EQ(adapter.adapters.size(), 2u * static_cast<size_t>(checkpoint.config.num_hidden_layers));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rxlm::test
