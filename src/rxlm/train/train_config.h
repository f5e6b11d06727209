// Settings of `rxlm train` (defaults = the paper's profile), optionally read from a TOML file:
//
//   [lora]  rank, alpha, targets (array of module names or "q_proj,v_proj"), freeze_a, rslora
//   [optim] name ("sgd" | "adamw"), lr, weight_decay, betas ([b1, b2]), eps, accumulation,
//           schedule ("constant" | "constant_with_warmup" | "linear" | "cosine"), warmup, max_grad_norm
//   [data]  batch_size, max_length
//   [run]   epochs, seed, save_steps, max_steps, checkpoint_activations
//
// Unknown sections or keys and values of the wrong type are errors naming the file, line and key, so a typo
// cannot silently leave a default in place. Command-line flags override the file (see cli/train.cc).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace rxlm {

struct TrainConfig {
  // [lora]
  int64_t rank = 16;
  double alpha = 16.0;
  std::vector<std::string> targets = {"q_proj", "v_proj"};
  bool freeze_a = true;  // FFA-LoRA; false = standard LoRA
  bool rslora = false;
  // [optim]
  std::string optimizer = "sgd";
  double lr = 1e-3;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t accumulation = 1;
  std::string schedule = "constant";
  int64_t warmup_steps = 0;
  double max_grad_norm = 0;
  // [data]
  int64_t batch_size = 4;
  int64_t max_length = 2048;
  // [run]
  int64_t epochs = 5;
  uint64_t seed = 42;
  int64_t save_steps = 0, max_steps = 0;
  bool checkpoint_activations = false;
};

// Overlays the keys present in the TOML file `path` onto `config`.
void read_train_config(const std::filesystem::path& path, TrainConfig& config);

// The same from TOML text; `source` names it in errors (a file name, or e.g. "--set").
void read_train_config_text(std::string_view toml_text, const std::string& source, TrainConfig& config);

// One "section.key=value" override (the issue's `lora.freeze_a=false`), the value in TOML syntax
// (strings quoted or bare words, numbers, true/false, [arrays]).
void apply_train_setting(std::string_view assignment, TrainConfig& config);

}  // namespace rxlm
