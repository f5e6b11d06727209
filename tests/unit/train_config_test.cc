// `rxlm train --config train.toml`: every section and key read, defaults kept for absent keys, unknown keys,
// wrong types and out-of-range values refused with file:line and the key; `--set section.key=value`
// (the issue's `lora.freeze_a=false`); flags given on the command line override the file (checked through
// `rxlm train --dry-run` on Llama-3.1-8B's config, whose trainable counts are known).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../support/run_cli.h"
#include "rxlm/core/error.h"
#include "rxlm/train/train_config.h"

namespace rxlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct TomlFile {
  fs::path path;
  explicit TomlFile(const std::string& text) {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("rxlm_train_config_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".toml");
    std::ofstream(path) << text;
  }
  ~TomlFile() { fs::remove(path); }
};

// The error message of reading `text` as a config (empty when it is accepted).
std::string error_of(const std::string& text, std::string* file_name = nullptr) {
  TomlFile file(text);
  if (file_name) *file_name = file.path.string();
  TrainConfig c;
  try {
    read_train_config(file.path, c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TrainConfig, EverySectionAndKeyIsRead) {
  TomlFile file(R"(# the paper's profile, changed everywhere
[lora]
rank = 32
alpha = 64
targets = ["q_proj", "k_proj", "down_proj"]
freeze_a = false
rslora = true

[optim]
name = "adamw"
lr = 2e-4
weight_decay = 0.1
betas = [0.8, 0.95]
eps = 1e-6
accumulation = 4
schedule = "cosine"
warmup = 10
max_grad_norm = 1     # an integer is a fine float

[data]
batch_size = 2
max_length = 1024

[run]
epochs = 3
seed = 7
save_steps = 50
max_steps = 500
checkpoint_activations = true
)");
  TrainConfig c;
  read_train_config(file.path, c);
  EXPECT_EQ(c.rank, 32);
  EXPECT_EQ(c.alpha, 64);
  EXPECT_EQ(c.targets, (std::vector<std::string>{"q_proj", "k_proj", "down_proj"}));
  EXPECT_FALSE(c.freeze_a);
  EXPECT_TRUE(c.rslora);
  EXPECT_EQ(c.optimizer, "adamw");
  EXPECT_DOUBLE_EQ(c.lr, 2e-4);
  EXPECT_DOUBLE_EQ(c.weight_decay, 0.1);
  EXPECT_DOUBLE_EQ(c.beta1, 0.8);
  EXPECT_DOUBLE_EQ(c.beta2, 0.95);
  EXPECT_DOUBLE_EQ(c.eps, 1e-6);
  EXPECT_EQ(c.accumulation, 4);
  EXPECT_EQ(c.schedule, "cosine");
  EXPECT_EQ(c.warmup_steps, 10);
  EXPECT_DOUBLE_EQ(c.max_grad_norm, 1.0);
  EXPECT_EQ(c.batch_size, 2);
  EXPECT_EQ(c.max_length, 1024);
  EXPECT_EQ(c.epochs, 3);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.save_steps, 50);
  EXPECT_EQ(c.max_steps, 500);
  EXPECT_TRUE(c.checkpoint_activations);
}

TEST(TrainConfig, AbsentKeysKeepThePapersDefaults) {
  TomlFile file("[lora]\nfreeze_a = false\n[optim]\nlr = 0.01\n");
  TrainConfig c;
  read_train_config(file.path, c);
  EXPECT_FALSE(c.freeze_a);
  EXPECT_DOUBLE_EQ(c.lr, 0.01);
  const TrainConfig d;
  EXPECT_EQ(c.rank, 16);
  EXPECT_EQ(c.alpha, 16);
  EXPECT_EQ(c.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(c.optimizer, "sgd");
  EXPECT_EQ(c.batch_size, 4);
  EXPECT_EQ(c.max_length, 2048);
  EXPECT_EQ(c.epochs, 5);
  EXPECT_EQ(c.seed, d.seed);
  TrainConfig e;
  read_train_config(TomlFile("[lora]\ntargets = \"q_proj,o_proj\"\n").path, e);  // the flag's comma form
  EXPECT_EQ(e.targets, (std::vector<std::string>{"q_proj", "o_proj"}));
}

TEST(TrainConfig, MistakesNameTheFileLineAndKey) {
  std::string name;
  std::string err = error_of("[lora]\nrank = 8\nrnak = 16\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":3: [lora] rnak: unknown key"));
  EXPECT_THAT(err, HasSubstr("rank, alpha, targets, freeze_a, rslora"));

  err = error_of("[optim]\nname = \"sgd\"\nlr = \"fast\"\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":3: [optim] lr: expected a number, got a string"));
  err = error_of("[lora]\n\nfreeze_a = \"false\"\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":3: [lora] freeze_a: expected true or false, got a string"));
  err = error_of("[lora]\nrank = 16.0\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [lora] rank: expected an integer, got a floating-point number"));
  err = error_of("[optim]\nlr = true\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [optim] lr: expected a number, got a boolean"));
  err = error_of("[optim]\nbetas = [0.9]\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [optim] betas: expected an array of two numbers"));

  err = error_of("[training]\nlr = 1\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":1: unknown section 'training'"));
  err = error_of("lr = 0.1\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":1: unknown key 'lr'"));
  err = error_of("[optim]\nname = \"adam\"\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [optim] name: 'adam' is not one of sgd, adamw"));
  err = error_of("[optim]\nschedule = \"step\"\n", &name);
  EXPECT_THAT(err, HasSubstr("'step' is not one of constant, constant_with_warmup, linear, cosine"));
  err = error_of("[lora]\ntargets = [\"q_proj\", \"qkv\"]\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [lora] targets: unknown module 'qkv'"));
  err = error_of("[optim]\nlr = -1e-3\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [optim] lr: -0.001 is out of range (must be > 0)"));
  err = error_of("[data]\nbatch_size = 0\n", &name);
  EXPECT_THAT(err, HasSubstr(name + ":2: [data] batch_size: 0 is out of range (must be ≥ 1)"));
  err = error_of("[run]\nepochs = 3\nepochs = 4\n", &name);  // TOML itself: a redefined key
  EXPECT_THAT(err, HasSubstr(name + ":3:"));
  EXPECT_THAT(error_of("[run]\nepochs = 3\n"), ::testing::IsEmpty());

  TrainConfig c;
  try {
    read_train_config("/nonexistent/train.toml", c);
    FAIL() << "a missing file must be refused";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/train.toml: cannot open"));
  }
}

TEST(TrainConfig, SetAssignmentsUseTheIssuesSyntax) {
  TrainConfig c;
  apply_train_setting("lora.freeze_a=false", c);
  EXPECT_FALSE(c.freeze_a);
  apply_train_setting("optim.name=adamw", c);  // a bare word is a string
  EXPECT_EQ(c.optimizer, "adamw");
  apply_train_setting("optim.lr=5e-4", c);
  EXPECT_DOUBLE_EQ(c.lr, 5e-4);
  apply_train_setting("lora.targets=q_proj,k_proj", c);
  EXPECT_EQ(c.targets, (std::vector<std::string>{"q_proj", "k_proj"}));
  apply_train_setting("optim.betas=[0.9, 0.98]", c);
  EXPECT_DOUBLE_EQ(c.beta2, 0.98);
  try {
    apply_train_setting("lora.freeze_a=maybe", c);
    FAIL() << "a string for a boolean must be refused";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--set lora.freeze_a=maybe: [lora] freeze_a: expected true or false"));
  }
  EXPECT_THROW(apply_train_setting("freeze_a=false", c), Error);  // no section
  EXPECT_THROW(apply_train_setting("lora.dropout=0.1", c), Error);
}

// Through the CLI: the file sets standard LoRA rank 8, batch 2 × 512, AdamW; --lora-rank 32 on the command
// line wins over the file's rank, the rest of the file stays. Llama-3.1-8B q,v: standard r32 = 13,631,488
// trainable; with --set lora.freeze_a=true, FFA r32 = 5,242,880 (the issue's figure).
TEST(TrainConfig, CommandLineFlagsOverrideTheFile) {
  const std::string model_config = std::string(RXLM_SOURCE_DIR) + "/tests/fixtures/configs/llama-3.1-8b";
  TomlFile file("[lora]\nrank = 8\nfreeze_a = false\n[optim]\nname = \"adamw\"\n[data]\nbatch_size = 2\nmax_length = 512\n");
  const std::string base = "train --dry-run --model-config " + model_config + " --config " + file.path.string();

  test::CliResult r = test::run_cli(base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("standard LoRA rank 8 "));
  EXPECT_THAT(r.out, HasSubstr("trainable parameters: 3,407,872"));  // 32 layers × 8 × ((4096+4096) + (4096+1024))
  EXPECT_THAT(r.out, HasSubstr("memory estimate (2 × 512 tokens, adamw"));

  r = test::run_cli(base + " --lora-rank 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("standard LoRA rank 32 "));
  EXPECT_THAT(r.out, HasSubstr("trainable parameters: 13,631,488"));
  EXPECT_THAT(r.out, HasSubstr("memory estimate (2 × 512 tokens, adamw"));

  r = test::run_cli(base + " --lora-rank 32 --set lora.freeze_a=true --batch-size 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("FFA-LoRA (A frozen) rank 32 "));
  EXPECT_THAT(r.out, HasSubstr("trainable parameters: 5,242,880"));
  EXPECT_THAT(r.out, HasSubstr("memory estimate (4 × 512 tokens, adamw"));

  TomlFile bad("[lora]\nrank = \"sixteen\"\n");
  r = test::run_cli("train --dry-run --model-config " + model_config + " --config " + bad.path.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(bad.path.string() + ":2: [lora] rank: expected an integer, got a string"));
}

}  // namespace
}  // namespace rxlm
