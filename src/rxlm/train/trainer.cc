// The training loop.
#include "rxlm/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>

#include "rxlm/core/error.h"
#include "rxlm/io/jsonl.h"
#include "rxlm/lora/peft_adapter.h"

namespace rxlm {

double evaluate_loss(LlamaLoraTrainer& trainer, const std::vector<TrainSequence>& data, int64_t batch_size) {
  double sum = 0;
  int64_t scored = 0;
  for (size_t start = 0; start < data.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(data.size(), start + static_cast<size_t>(batch_size));
    int64_t n = 0;
    sum += trainer.loss_sum(std::span(data).subspan(start, end - start), &n);
    scored += n;
  }
  if (scored == 0) fail("validation data has no scored (assistant) tokens");
  return sum / static_cast<double>(scored);
}

TrainResult train_lora(const Checkpoint& checkpoint, LoraWeights& lora, const std::vector<TrainSequence>& train,
                       const std::vector<TrainSequence>& validation, const TrainSettings& settings,
                       const std::filesystem::path& run_dir, const std::function<void(const TrainStep&)>& on_step) {
  if (train.empty()) fail("no training samples");
  if (settings.epochs < 1 || settings.batch_size < 1)
    fail("epochs ({}) and batch size ({}) must be at least 1", settings.epochs, settings.batch_size);
  if (!(settings.learning_rate > 0)) fail("learning rate {} must be positive", settings.learning_rate);
  if (settings.optimizer != "sgd" && settings.optimizer != "adamw")
    fail("optimizer '{}': choose sgd or adamw", settings.optimizer);
  std::filesystem::create_directories(run_dir);
  LlamaLoraTrainer trainer(checkpoint, lora);
  trainer.set_activation_checkpointing(settings.checkpoint_activations);
  std::optional<AdamW> adamw;
  if (settings.optimizer == "adamw") adamw.emplace(lora, settings.adamw);

  TrainResult result;
  std::string log;
  auto log_validation = [&](int64_t epoch) {
    if (validation.empty()) return;
    const double loss = evaluate_loss(trainer, validation, settings.batch_size);
    result.val_losses.push_back(loss);
    log += nlohmann::json{{"epoch", epoch}, {"step", result.steps.size()}, {"val_loss", loss}}.dump() + "\n";
  };
  log_validation(0);
  std::vector<size_t> order(train.size());
  std::vector<TrainSequence> batch;
  for (int64_t epoch = 0; epoch < settings.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937_64 rng(settings.seed + static_cast<uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t start = 0; start < order.size(); start += static_cast<size_t>(settings.batch_size)) {
      const auto began = std::chrono::steady_clock::now();
      batch.clear();
      for (size_t i = start; i < std::min(order.size(), start + static_cast<size_t>(settings.batch_size)); ++i)
        batch.push_back(train[order[i]]);
      lora.zero_grad();
      TrainStep step;
      step.loss = trainer.forward_backward(batch);
      if (adamw)
        adamw->step(lora, settings.learning_rate);
      else
        sgd_step(lora, settings.learning_rate);
      step.step = static_cast<int64_t>(result.steps.size()) + 1;
      step.epoch = epoch;
      for (const TrainSequence& s : batch) step.tokens += static_cast<int64_t>(s.tokens.size());
      step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
      result.steps.push_back(step);
      log += nlohmann::json{{"epoch", epoch}, {"step", step.step}, {"loss", step.loss}, {"tokens", step.tokens},
                            {"seconds", step.seconds}}.dump() + "\n";
      if (on_step) on_step(step);
    }
    log_validation(epoch + 1);
  }
  save_peft_adapter(run_dir / "adapter", lora, settings.base_model);
  write_file_atomic(run_dir / "log.jsonl", log);
  return result;
}

}  // namespace rxlm
