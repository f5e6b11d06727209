// rxlm train: LoRA fine-tuning of a frozen Llama on chat JSONL (FFA-LoRA by default), and --dry-run:
// trainable/frozen parameter counts and a memory estimate from config.json alone.
#include <fmt/format.h>
#include <algorithm>
#include <cstdio>

#include <memory>
#include <string>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/lora/lora_config.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "rxlm/train/chat_samples.h"
#include "rxlm/train/memory_estimate.h"
#include "rxlm/train/trainer.h"
#include "rxlm/cli/format.h"

namespace rxlm::cli {
namespace {

std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1 << 30)); }

// Bytes per base weight from config.json's torch_dtype; f32 when absent (the safe, larger figure).
int64_t dtype_bytes_of(const std::string& torch_dtype) {
  if (torch_dtype == "bfloat16" || torch_dtype == "float16") return 2;
  return 4;
}

struct TrainOptions {
  bool dry_run = false;
  std::string model_config;
  std::string model, tokenizer, train, val, out, chat_format;
  int64_t epochs = 5;
  double lr = 1e-3;
  double weight_decay = 0.01;
  uint64_t seed = 42;
  bool checkpoint_activations = false;
  int64_t save_steps = 0, max_steps = 0, warmup_steps = 0, accumulation = 1;
  std::string schedule = "constant";
  double max_grad_norm = 0;
  std::string resume;
  int64_t rank = 16;
  double alpha = 16.0;
  bool standard_lora = false;
  bool rslora = false;
  std::string targets = "q_proj,v_proj";
  int64_t batch_size = 4;
  int64_t max_length = 2048;
  std::string optimizer = "sgd";
};

LoraConfig lora_config(const TrainOptions& o) {
  LoraConfig lora;
  lora.rank = o.rank;
  lora.alpha = o.alpha;
  lora.freeze_a = !o.standard_lora;
  lora.use_rslora = o.rslora;
  lora.target_modules = parse_lora_targets(o.targets);
  lora.validate();
  return lora;
}

void dry_run(const TrainOptions& o) {
  if (o.model_config.empty()) fail("--dry-run needs --model-config CONFIG.json (or the directory holding it)");
  const LlamaConfig model = load_hf_config(o.model_config);
  const LoraConfig lora = lora_config(o);
  const LoraParameterCounts counts = count_lora_parameters(model, lora);
  fmt::print("model config: {}\n", o.model_config);
  std::string modules;
  for (const auto& m : lora.target_modules) modules += (modules.empty() ? "" : ",") + m;
  fmt::print("lora: {} rank {} alpha {:g} scale {:g} on {}\n", lora.freeze_a ? "FFA-LoRA (A frozen)" : "standard LoRA",
             lora.rank, lora.alpha, lora.scale(), modules);
  fmt::print("trainable parameters: {}\n", grouped(static_cast<uint64_t>(counts.trainable)));
  fmt::print("frozen parameters: {} (base {} + frozen lora_A {})\n", grouped(static_cast<uint64_t>(counts.frozen())),
             grouped(static_cast<uint64_t>(counts.frozen_base)), grouped(static_cast<uint64_t>(counts.frozen_adapter)));
  fmt::print("trainable share: {:.4f}%\n",
             100.0 * static_cast<double>(counts.trainable) / static_cast<double>(counts.trainable + counts.frozen()));
  const int64_t base_bytes = dtype_bytes_of(model.torch_dtype);
  const TrainMemoryEstimate m =
      estimate_train_memory(model, lora, base_bytes, o.batch_size * o.max_length, o.optimizer);
  fmt::print("memory estimate ({} × {} tokens, {}, base at {} bytes/weight):\n",
             o.batch_size, o.max_length, o.optimizer, base_bytes);
  fmt::print("  base weights     {}\n", gib(m.base_weights));
  fmt::print("  adapter (f32)    {}\n", gib(m.adapter));
  fmt::print("  gradients        {}\n", gib(m.gradients));
  fmt::print("  optimizer state  {}\n", gib(m.optimizer_state));
  fmt::print("  activations      {} (all layers kept), {} (per-layer checkpointing)\n", gib(m.activations),
             gib(m.activations_checkpointed));
  fmt::print("  total            {} (all layers kept), {} (per-layer checkpointing)\n", gib(m.total(false)),
             gib(m.total(true)));
}

void train(const TrainOptions& o) {
  if (o.model.empty() || o.train.empty() || o.out.empty())
    fail("training needs --model PATH --train train.jsonl --out RUN (or --dry-run --model-config CONFIG.json)");
  const Checkpoint checkpoint = load_checkpoint(o.model);
  auto tokenizer = o.tokenizer.empty() ? load_tokenizer(checkpoint) : load_tokenizer(o.tokenizer);
  if (!o.chat_format.empty()) tokenizer->set_chat_format(parse_chat_format(o.chat_format));
  const ChatDataset train_data = load_chat_jsonl(o.train, *tokenizer, o.max_length);
  const ChatDataset val_data = o.val.empty() ? ChatDataset{} : load_chat_jsonl(o.val, *tokenizer, o.max_length);
  const LoraConfig lora = lora_config(o);
  LoraWeights weights = init_lora_weights(checkpoint.config, lora, o.seed);
  const LoraParameterCounts counts = count_lora_parameters(checkpoint.config, lora);
  fmt::print("train: {} samples ({} skipped: no answer token within --max-length {}), validation: {}\n",
             train_data.sequences.size(), train_data.skipped_no_answer_left, o.max_length, val_data.sequences.size());
  fmt::print("lora: {} rank {} alpha {:g} on {}; trainable parameters: {}\n",
             lora.freeze_a ? "FFA-LoRA (A frozen)" : "standard LoRA", lora.rank, lora.alpha, o.targets,
             grouped(static_cast<uint64_t>(counts.trainable)));
  TrainSettings settings;
  settings.epochs = o.epochs;
  settings.batch_size = o.batch_size;
  settings.learning_rate = o.lr;
  settings.optimizer = o.optimizer;
  settings.adamw.weight_decay = o.weight_decay;
  settings.seed = o.seed;
  settings.checkpoint_activations = o.checkpoint_activations;
  settings.base_model = o.model;
  settings.gradient_accumulation_steps = o.accumulation;
  settings.schedule = o.schedule;
  settings.warmup_steps = o.warmup_steps;
  settings.max_grad_norm = o.max_grad_norm;
  settings.save_steps = o.save_steps;
  settings.max_steps = o.max_steps;
  settings.resume_from = o.resume;
  const int64_t group = o.batch_size * o.accumulation;
  const int64_t per_epoch = (static_cast<int64_t>(train_data.sequences.size()) + group - 1) / group;
  const int64_t total = o.max_steps > 0 ? std::min(o.max_steps, per_epoch * o.epochs) : per_epoch * o.epochs;
  // Plain lines, one per step (a terminal progress bar is not built yet).
  const TrainResult result = train_lora(
      checkpoint, weights, train_data.sequences, val_data.sequences, settings, o.out, [&](const TrainStep& step) {
        fmt::print("step {}/{} epoch {} loss {:.4f} lr {:.3g} {:.0f} tokens/s\n", step.step, total, step.epoch,
                   step.loss, step.learning_rate, static_cast<double>(step.tokens) / step.seconds);
        std::fflush(stdout);
      });
  for (size_t i = 0; i < result.val_losses.size(); ++i)
    fmt::print("validation loss {}: {:.4f}\n", i == 0 ? std::string("before training") : fmt::format("after epoch {}", i),
               result.val_losses[i]);
  fmt::print("adapter: {}/adapter (PEFT layout), log: {}/log.jsonl, checkpoints: {}/checkpoint-N\n", o.out, o.out,
             o.out);
}

const bool registered = register_command(
    "train", "LoRA fine-tuning on chat JSONL (FFA-LoRA by default); --dry-run: counts and memory estimate",
    [](CLI::App& app) {
      auto o = std::make_shared<TrainOptions>();
      app.add_flag("--dry-run", o->dry_run, "Print parameter counts and a memory estimate without weights");
      app.add_option("--model-config", o->model_config, "For --dry-run: Hugging Face config.json or its directory");
      app.add_option("--model", o->model, "Base model: Hugging Face directory, .gguf or llama2.c .bin");
      app.add_option("--tokenizer", o->tokenizer, "Tokenizer file, when the model does not carry one");
      app.add_option("--chat-format", o->chat_format, "Override the chat format: llama3 or chatml");
      app.add_option("--train", o->train, "Training samples: JSONL of {\"messages\": [...]} (rxlm prep output)");
      app.add_option("--val", o->val, "Validation samples, same format; loss before training and after each epoch");
      app.add_option("--out", o->out, "Run directory: log.jsonl and adapter/ (PEFT layout)");
      app.add_option("--epochs", o->epochs, "Passes over the training data (default 5)");
      app.add_option("--lr", o->lr, "Learning rate (default 1e-3)");
      app.add_option("--weight-decay", o->weight_decay, "AdamW weight decay (default 0.01)");
      app.add_option("--seed", o->seed, "Seed of lora_A's initialisation and the data order (default 42)");
      app.add_option("--gradient-accumulation", o->accumulation,
                     "Micro-batches of --batch-size per optimiser step (default 1)");
      app.add_option("--schedule", o->schedule, "Learning-rate schedule over all epochs (default constant)")
          ->check(CLI::IsMember({"constant", "constant_with_warmup", "linear", "cosine"}));
      app.add_option("--warmup-steps", o->warmup_steps, "Linear warmup from 0 over this many steps (default 0)");
      app.add_option("--max-grad-norm", o->max_grad_norm, "Clip the global gradient norm (default 0: off)");
      app.add_option("--save-steps", o->save_steps, "Write RUN/checkpoint-N every N steps (default: only at the end)");
      app.add_option("--max-steps", o->max_steps, "Stop after this many steps in all (default: every epoch)");
      app.add_option("--resume", o->resume, "Continue from RUN/checkpoint-N (same data and settings)");
      app.add_flag("--checkpoint-activations", o->checkpoint_activations,
                   "Keep one hidden vector per token and layer; recompute the rest in the backward");
      app.add_option("--lora-rank", o->rank, "LoRA rank r (default 16)");
      app.add_option("--lora-alpha", o->alpha, "LoRA alpha (default 16; scale = alpha / r)");
      app.add_flag("--standard-lora", o->standard_lora, "Train A as well as B (default: FFA-LoRA, A frozen)");
      app.add_flag("--rslora", o->rslora, "Rank-stabilised scale alpha / sqrt(r)");
      app.add_option("--targets", o->targets, "Comma-separated modules (default q_proj,v_proj)");
      app.add_option("--batch-size", o->batch_size, "Sequences per step (default 4)");
      app.add_option("--max-length", o->max_length, "Tokens per sequence; longer samples lose the answer's tail (default 2048)");
      app.add_option("--optimizer", o->optimizer, "sgd (default) or adamw")->check(CLI::IsMember({"sgd", "adamw"}));
      app.callback([o] { o->dry_run ? dry_run(*o) : train(*o); });
    });

}  // namespace
}  // namespace rxlm::cli
