// The training loop: epochs over shuffled batches of labelled sequences, SGD or AdamW on the LoRA
// tensors, one JSON line per step (and per validation) in RUN/log.jsonl, the adapter saved in PEFT layout.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "rxlm/report/svg_chart.h"
#include "rxlm/train/llama_train.h"
#include "rxlm/train/optimizer.h"

namespace rxlm {

struct TrainSettings {  // defaults: the paper's profile
  int64_t epochs = 5;
  int64_t batch_size = 4;                   // sequences per forward/backward (micro-batch)
  int64_t gradient_accumulation_steps = 1;  // micro-batches per optimiser step
  double learning_rate = 1e-3;
  std::string optimizer = "sgd";  // or "adamw"
  AdamWSettings adamw;
  uint64_t seed = 42;  // data order
  bool checkpoint_activations = false;
  std::string base_model;  // recorded in adapter_config.json
  std::string schedule = "constant";  // constant, constant_with_warmup, linear, cosine (over all epochs)
  int64_t warmup_steps = 0;
  double max_grad_norm = 0;  // clip the global gradient norm to this (0: no clipping)
  int64_t save_steps = 0;  // a checkpoint every this many steps (0: only at the end)
  int64_t max_steps = 0;   // stop early after this many steps in all (0: run every epoch); the schedule
                           // still spans every epoch, so a stopped run is a prefix of the full one
  std::filesystem::path resume_from;  // a RUN/checkpoint-N directory to continue from
};

struct TrainStep {
  int64_t step = 0, epoch = 0;  // step counts from 1; epoch from 0
  double loss = 0;
  double learning_rate = 0;  // the scheduled rate this step used
  double grad_norm = 0;      // before clipping; 0 when clipping is off
  int64_t tokens = 0;
  double seconds = 0;
};

struct TrainResult {
  std::vector<TrainStep> steps;    // the steps this call ran (after the checkpoint when resuming)
  std::vector<double> val_losses;  // before training (fresh runs), then after each epoch this call finished
                                   // and at its last step when --max-steps ends it inside an epoch
};

// Mean loss over every scored token of `data`, in batches of `batch_size` (forward only).
double evaluate_loss(LlamaLoraTrainer& trainer, const std::vector<TrainSequence>& data, int64_t batch_size);

// Trains `lora` in place; writes RUN/log.jsonl and RUN/adapter/ (PEFT layout) at the end, and
// RUN/checkpoint-N/ (adapter/, trainer_state.json, optimizer.safetensors for AdamW, log.jsonl) every
// save_steps and at the end. A checkpoint is built in checkpoint-N.tmp and renamed into place, so a kill
// never leaves a partial checkpoint-N. Each epoch visits every training sequence once in an order drawn
// from seed and epoch (the last batch may be smaller), so a resumed run replays exactly the batches the
// uninterrupted run would have seen. `on_step` (optional) sees each step as it finishes, `on_validation`
// (optional) each validation loss with the step it followed (0: before training).
// Each log line: steps {epoch, step, loss, lr, tokens, seconds, tokens_per_s[, grad_norm]}, validations
// {epoch, step, val_loss}. RUN/loss.svg (loss_chart of the log) is rewritten at each checkpoint and at the end.
// Every file of a checkpoint, its directories and the run directory are fsynced around the rename, so a
// power cut leaves the old state or the whole new checkpoint.
TrainResult train_lora(const Checkpoint& checkpoint, LoraWeights& lora, const std::vector<TrainSequence>& train,
                       const std::vector<TrainSequence>& validation, const TrainSettings& settings,
                       const std::filesystem::path& run_dir,
                       const std::function<void(const TrainStep&)>& on_step = nullptr,
                       const std::function<void(int64_t step, double val_loss)>& on_validation = nullptr);

// The loss curve of a RUN/log.jsonl text: "train loss" per step (faint), "train loss (smoothed)" (TensorBoard's
// debiased EMA, weight kLossSmoothing) and "validation loss" per evaluation (markers), against the step.
inline constexpr double kLossSmoothing = 0.8;
LineChart loss_chart(std::string_view log_jsonl, const std::string& title = "LoRA training loss");

// Step → training loss from a RUN/log.jsonl (for comparing runs and, later, plotting the curve).
std::map<int64_t, double> read_step_losses(const std::filesystem::path& log_path);

}  // namespace rxlm
