// `rxlm train` end to end on stories260K (llama2.c, shared models) with ChatML-rendered chat JSONL: the
// validation loss falls, and the run directory holds log.jsonl and a PEFT adapter rxlm reads back; a run
// killed with SIGKILL and resumed from its last checkpoint logs the same losses as an uninterrupted run.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../support/run_cli.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/peft_adapter.h"
#include "rxlm/train/trainer.h"

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

// The highest N with a complete RUN/checkpoint-N (a .tmp directory is never one), or -1.
int64_t last_checkpoint(const fs::path& run) {
  int64_t best = -1;
  for (const auto& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.find(".tmp") != std::string::npos) continue;
    EXPECT_TRUE(fs::exists(entry.path() / "trainer_state.json")) << name << " is incomplete";
    best = std::max<int64_t>(best, std::stoll(name.substr(11)));
  }
  return best;
}

TEST(TrainCli, KilledWithSigkillAndResumedGivesTheSameLossCurve) {
  const std::string model = shared_path("models/stories260K/stories260K.bin");
  if (!fs::exists(model)) GTEST_SKIP() << "shared model missing: " << model;
  const fs::path dir = fs::temp_directory_path() / ("rxlm_train_kill_" + std::to_string(getpid()));
  fs::create_directories(dir);
  write_samples(dir / "train.jsonl", 0, 8);
  // One thread: the bitwise case, and on this tiny model threads only add spin-waiting (7x slower on
  // a loaded 2-core machine). Two threads were checked by hand: identical 160-step curves (docs/training.md).
  setenv("OMP_NUM_THREADS", "1", 1);
  const std::string args = "train --model " + model + " --tokenizer " + shared_path("models/stories260K/tok512.bin") +
                           " --chat-format chatml --train " + (dir / "train.jsonl").string() +
                           " --epochs 6 --batch-size 2 --lr 0.05 --optimizer adamw --save-steps 3 --out ";
  ASSERT_EQ(run_cli(args + (dir / "whole").string()).exit_code, 0);

  // Start the same run, kill it once a checkpoint or two exist (at whatever step it has reached).
  const std::string killed = (dir / "killed").string();
  std::vector<std::string> words = {RXLM_BIN};
  std::istringstream split(args + killed);
  for (std::string w; split >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, RXLM_BIN, &quiet, nullptr, argv.data(), environ), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir / "killed" / "checkpoint-6") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  posix_spawn_file_actions_destroy(&quiet);
  const int64_t resume_at = last_checkpoint(dir / "killed");
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_GE(resume_at, 6);
  ASSERT_LT(resume_at, 24);
  EXPECT_FALSE(fs::exists(dir / "killed" / "log.jsonl"));  // written at the end only: the run was cut short

  const CliResult resumed =
      run_cli(args + killed + " --resume " + (dir / "killed" / ("checkpoint-" + std::to_string(resume_at))).string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto want = read_step_losses(dir / "whole" / "log.jsonl");
  EXPECT_EQ(want.size(), 24u);
  EXPECT_EQ(read_step_losses(dir / "killed" / "log.jsonl"), want);  // bitwise, same thread count
  EXPECT_EQ(read_file(dir / "killed" / "adapter" / "adapter_model.safetensors"),
            read_file(dir / "whole" / "adapter" / "adapter_model.safetensors"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rxlm::test
