// The training loop: epochs over shuffled batches of labelled sequences, SGD or AdamW on the LoRA
// tensors, one JSON line per step (and per validation) in RUN/log.jsonl, the adapter saved in PEFT layout.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "rxlm/train/llama_train.h"
#include "rxlm/train/optimizer.h"

namespace rxlm {

struct TrainSettings {  // defaults: the paper's profile
  int64_t epochs = 5;
  int64_t batch_size = 4;
  double learning_rate = 1e-3;
  std::string optimizer = "sgd";  // or "adamw"
  AdamWSettings adamw;
  uint64_t seed = 42;  // data order
  bool checkpoint_activations = false;
  std::string base_model;  // recorded in adapter_config.json
};

struct TrainStep {
  int64_t step = 0, epoch = 0;  // step counts from 1; epoch from 0
  double loss = 0;
  int64_t tokens = 0;
  double seconds = 0;
};

struct TrainResult {
  std::vector<TrainStep> steps;
  std::vector<double> val_losses;  // before training, then after each epoch; empty without validation data
};

// Mean loss over every scored token of `data`, in batches of `batch_size` (forward only).
double evaluate_loss(LlamaLoraTrainer& trainer, const std::vector<TrainSequence>& data, int64_t batch_size);

// Trains `lora` in place; writes RUN/log.jsonl (atomically, at the end) and RUN/adapter/ (PEFT layout).
// Each epoch visits every training sequence once in an order drawn from seed and epoch; the last batch
// of an epoch may be smaller. `on_step` (optional) sees each step as it finishes, for progress output.
TrainResult train_lora(const Checkpoint& checkpoint, LoraWeights& lora, const std::vector<TrainSequence>& train,
                       const std::vector<TrainSequence>& validation, const TrainSettings& settings,
                       const std::filesystem::path& run_dir,
                       const std::function<void(const TrainStep&)>& on_step = nullptr);

}  // namespace rxlm
