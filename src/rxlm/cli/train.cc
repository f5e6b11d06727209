// rxlm train: LoRA fine-tuning of a frozen Llama on chat JSONL (FFA-LoRA by default), and --dry-run:
// trainable/frozen parameter counts and a memory estimate from config.json alone.
#include <fmt/format.h>
#include <algorithm>
#include <cstdio>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/core/progress.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/lora/lora_config.h"
#include "rxlm/tokenizer/chat_template.h"
#include "rxlm/tokenizer/tokenizer.h"
#include "rxlm/train/chat_samples.h"
#include "rxlm/train/memory_estimate.h"
#include "rxlm/train/train_config.h"
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

// The run's inputs, plus the training settings as the flags gave them (`flags`); `overrides` copies each flag
// the command line actually set onto the settings read from --config, so flags beat the file.
struct TrainOptions {
  bool dry_run = false;
  std::string model_config;
  std::string model, tokenizer, train, val, out, chat_format, resume, config;
  std::vector<std::string> sets;  // --set section.key=value
  TrainConfig flags;
  std::string targets = "q_proj,v_proj";
  bool standard_lora = false;
  std::vector<double> betas;
  std::vector<std::pair<CLI::Option*, std::function<void(TrainConfig&)>>> overrides;
};

// The settings of this run: defaults, then --config, then --set, then the flags given.
TrainConfig resolve_settings(const TrainOptions& o) {
  TrainConfig c;
  if (!o.config.empty()) read_train_config(o.config, c);
  for (const std::string& s : o.sets) apply_train_setting(s, c);
  for (const auto& [option, apply] : o.overrides)
    if (option->count() > 0) apply(c);
  return c;
}

LoraConfig lora_config(const TrainConfig& c) {
  LoraConfig lora;
  lora.rank = c.rank;
  lora.alpha = c.alpha;
  lora.freeze_a = c.freeze_a;
  lora.use_rslora = c.rslora;
  lora.target_modules = c.targets;
  lora.validate();
  return lora;
}

void dry_run(const TrainOptions& o, const TrainConfig& c) {
  if (o.model_config.empty()) fail("--dry-run needs --model-config CONFIG.json (or the directory holding it)");
  const LlamaConfig model = load_hf_config(o.model_config);
  const LoraConfig lora = lora_config(c);
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
      estimate_train_memory(model, lora, base_bytes, c.batch_size * c.max_length, c.optimizer);
  fmt::print("memory estimate ({} × {} tokens, {}, base at {} bytes/weight):\n",
             c.batch_size, c.max_length, c.optimizer, base_bytes);
  fmt::print("  base weights     {}\n", gib(m.base_weights));
  fmt::print("  adapter (f32)    {}\n", gib(m.adapter));
  fmt::print("  gradients        {}\n", gib(m.gradients));
  fmt::print("  optimizer state  {}\n", gib(m.optimizer_state));
  fmt::print("  activations      {} (all layers kept), {} (per-layer checkpointing)\n", gib(m.activations),
             gib(m.activations_checkpointed));
  fmt::print("  total            {} (all layers kept), {} (per-layer checkpointing)\n", gib(m.total(false)),
             gib(m.total(true)));
}

void train(const TrainOptions& o, const TrainConfig& c) {
  if (o.model.empty() || o.train.empty() || o.out.empty())
    fail("training needs --model PATH --train train.jsonl --out RUN (or --dry-run --model-config CONFIG.json)");
  const Checkpoint checkpoint = load_checkpoint(o.model);
  auto tokenizer = o.tokenizer.empty() ? load_tokenizer(checkpoint) : load_tokenizer(o.tokenizer);
  if (!o.chat_format.empty()) tokenizer->set_chat_format(parse_chat_format(o.chat_format));
  const ChatDataset train_data = load_chat_jsonl(o.train, *tokenizer, c.max_length);
  const ChatDataset val_data = o.val.empty() ? ChatDataset{} : load_chat_jsonl(o.val, *tokenizer, c.max_length);
  const LoraConfig lora = lora_config(c);
  LoraWeights weights = init_lora_weights(checkpoint.config, lora, c.seed);
  const LoraParameterCounts counts = count_lora_parameters(checkpoint.config, lora);
  fmt::print("train: {} samples ({} skipped: no answer token within --max-length {}), validation: {}\n",
             train_data.sequences.size(), train_data.skipped_no_answer_left, c.max_length, val_data.sequences.size());
  std::string modules;
  for (const auto& m : lora.target_modules) modules += (modules.empty() ? "" : ",") + m;
  fmt::print("lora: {} rank {} alpha {:g} on {}; trainable parameters: {}\n",
             lora.freeze_a ? "FFA-LoRA (A frozen)" : "standard LoRA", lora.rank, lora.alpha, modules,
             grouped(static_cast<uint64_t>(counts.trainable)));
  fmt::print("optimizer: {} lr {:g} ({} schedule, warmup {}), batch {} × {} accumulation, {} epochs, seed {}\n",
             c.optimizer, c.lr, c.schedule, c.warmup_steps, c.batch_size, c.accumulation, c.epochs, c.seed);
  std::fflush(stdout);
  TrainSettings settings;
  settings.epochs = c.epochs;
  settings.batch_size = c.batch_size;
  settings.learning_rate = c.lr;
  settings.optimizer = c.optimizer;
  settings.adamw.weight_decay = c.weight_decay;
  settings.adamw.beta1 = c.beta1;
  settings.adamw.beta2 = c.beta2;
  settings.adamw.eps = c.eps;
  settings.seed = c.seed;
  settings.checkpoint_activations = c.checkpoint_activations;
  settings.base_model = o.model;
  settings.gradient_accumulation_steps = c.accumulation;
  settings.schedule = c.schedule;
  settings.warmup_steps = c.warmup_steps;
  settings.max_grad_norm = c.max_grad_norm;
  settings.save_steps = c.save_steps;
  settings.max_steps = c.max_steps;
  settings.resume_from = o.resume;
  const int64_t group = c.batch_size * c.accumulation;
  const int64_t per_epoch = (static_cast<int64_t>(train_data.sequences.size()) + group - 1) / group;
  const int64_t total = c.max_steps > 0 ? std::min(c.max_steps, per_epoch * c.epochs) : per_epoch * c.epochs;
  // Progress on stderr: a bar redrawn in place on a terminal, one plain line per step otherwise; stdout keeps
  // the run's summary. The bar's ETA counts only the steps this process ran (not those before a resume).
  ProgressBar bar("train", total, stderr);
  bool first = true;
  std::string val_text;
  std::vector<std::pair<int64_t, double>> validations;  // (step, loss): 0 = before training
  TrainStep last;
  auto detail = [&] {
    return fmt::format("epoch {} · loss {:.4f}{} · {:.0f} tokens/s", last.epoch, last.loss, val_text,
                       last.seconds > 0 ? static_cast<double>(last.tokens) / last.seconds : 0.0);
  };
  const TrainResult result = train_lora(
      checkpoint, weights, train_data.sequences, val_data.sequences, settings, o.out,
      [&](const TrainStep& step) {
        if (first) bar.set_start_offset(step.step - 1), first = false;
        last = step;
        bar.update(step.step, detail());
      },
      [&](int64_t step, double val_loss) {
        val_text = fmt::format(" · val {:.4f}", val_loss);
        validations.emplace_back(step, val_loss);
      });
  if (!result.steps.empty()) bar.finish(detail());  // with the validation that followed the last step
  double tokens = 0, seconds = 0;
  for (const TrainStep& s : result.steps) tokens += static_cast<double>(s.tokens), seconds += s.seconds;
  if (result.steps.empty())
    fmt::print("nothing to train: the run had already reached step {}\n", total);
  else
    fmt::print("done: step {}/{} epoch {} loss {:.4f}; {} steps, {:.0f} tokens in {} ({:.0f} tokens/s)\n", last.step,
               total, last.epoch, last.loss, result.steps.size(), tokens, ProgressBar::format_duration(seconds),
               seconds > 0 ? tokens / seconds : 0.0);
  for (const auto& [step, loss] : validations)
    fmt::print("validation loss {}: {:.4f}\n", step == 0 ? std::string("before training") : fmt::format("at step {}", step),
               loss);
  fmt::print("adapter: {0}/adapter (PEFT layout), log: {0}/log.jsonl, loss curve: {0}/loss.svg, checkpoints: "
             "{0}/checkpoint-N\n",
             o.out);
}

// A training flag bound to `flags` that, when given, overrides the same setting from --config.
template <class T>
CLI::Option* setting(CLI::App& app, TrainOptions& o, const std::string& name, T TrainConfig::*field,
                     const std::string& help) {
  CLI::Option* option = app.add_option(name, o.flags.*field, help);
  o.overrides.emplace_back(option, [&o, field](TrainConfig& c) { c.*field = o.flags.*field; });
  return option;
}

const bool registered = register_command(
    "train", "LoRA fine-tuning on chat JSONL (FFA-LoRA by default); --dry-run: counts and memory estimate",
    [](CLI::App& app) {
      auto owned = std::make_shared<TrainOptions>();
      TrainOptions& o = *owned;
      app.add_flag("--dry-run", o.dry_run, "Print parameter counts and a memory estimate without weights");
      app.add_option("--model-config", o.model_config, "For --dry-run: Hugging Face config.json or its directory");
      app.add_option("--model", o.model, "Base model: Hugging Face directory, .gguf or llama2.c .bin");
      app.add_option("--tokenizer", o.tokenizer, "Tokenizer file, when the model does not carry one");
      app.add_option("--chat-format", o.chat_format, "Override the chat format: llama3 or chatml");
      app.add_option("--train", o.train, "Training samples: JSONL of {\"messages\": [...]} (rxlm prep output)");
      app.add_option("--val", o.val, "Validation samples, same format; loss before training, after each epoch and at the last step");
      app.add_option("--out", o.out, "Run directory: log.jsonl, loss.svg, adapter/ (PEFT layout), checkpoint-N/");
      app.add_option("--resume", o.resume, "Continue from RUN/checkpoint-N (same data and settings)");
      app.add_option("--config", o.config,
                     "TOML file of training settings ([lora], [optim], [data], [run]; see docs/training.md); "
                     "flags given on the command line override it");
      app.add_option("--set", o.sets, "One setting as section.key=value, e.g. lora.freeze_a=false (repeatable)");
      setting(app, o, "--epochs", &TrainConfig::epochs, "Passes over the training data (default 5)");
      setting(app, o, "--lr", &TrainConfig::lr, "Learning rate (default 1e-3)");
      setting(app, o, "--weight-decay", &TrainConfig::weight_decay, "AdamW weight decay (default 0.01)");
      setting(app, o, "--adam-eps", &TrainConfig::eps, "AdamW epsilon (default 1e-8)");
      auto* betas = app.add_option("--betas", o.betas, "AdamW betas as B1,B2 (default 0.9,0.999)")
                        ->expected(2)
                        ->delimiter(',');
      o.overrides.emplace_back(betas, [&o](TrainConfig& c) { c.beta1 = o.betas.at(0), c.beta2 = o.betas.at(1); });
      setting(app, o, "--seed", &TrainConfig::seed, "Seed of lora_A's initialisation and the data order (default 42)");
      setting(app, o, "--gradient-accumulation", &TrainConfig::accumulation,
              "Micro-batches of --batch-size per optimiser step (default 1)");
      setting(app, o, "--schedule", &TrainConfig::schedule, "Learning-rate schedule over all epochs (default constant)")
          ->check(CLI::IsMember({"constant", "constant_with_warmup", "linear", "cosine"}));
      setting(app, o, "--warmup-steps", &TrainConfig::warmup_steps, "Linear warmup from 0 over this many steps (default 0)");
      setting(app, o, "--max-grad-norm", &TrainConfig::max_grad_norm, "Clip the global gradient norm (default 0: off)");
      setting(app, o, "--save-steps", &TrainConfig::save_steps,
              "Write RUN/checkpoint-N every N steps (default: only at the end)");
      setting(app, o, "--max-steps", &TrainConfig::max_steps, "Stop after this many steps in all (default: every epoch)");
      auto* checkpointing = app.add_flag("--checkpoint-activations", o.flags.checkpoint_activations,
                                         "Keep one hidden vector per token and layer; recompute the rest in the backward");
      o.overrides.emplace_back(checkpointing, [&o](TrainConfig& c) { c.checkpoint_activations = true; });
      setting(app, o, "--lora-rank", &TrainConfig::rank, "LoRA rank r (default 16)");
      setting(app, o, "--lora-alpha", &TrainConfig::alpha, "LoRA alpha (default 16; scale = alpha / r)");
      auto* standard = app.add_flag("--standard-lora", o.standard_lora, "Train A as well as B (default: FFA-LoRA, A frozen)");
      o.overrides.emplace_back(standard, [](TrainConfig& c) { c.freeze_a = false; });
      auto* rslora = app.add_flag("--rslora", o.flags.rslora, "Rank-stabilised scale alpha / sqrt(r)");
      o.overrides.emplace_back(rslora, [](TrainConfig& c) { c.rslora = true; });
      auto* targets = app.add_option("--targets", o.targets, "Comma-separated modules (default q_proj,v_proj)");
      o.overrides.emplace_back(targets, [&o](TrainConfig& c) { c.targets = parse_lora_targets(o.targets); });
      setting(app, o, "--batch-size", &TrainConfig::batch_size, "Sequences per step (default 4)");
      setting(app, o, "--max-length", &TrainConfig::max_length,
              "Tokens per sequence; longer samples lose the answer's tail (default 2048)");
      setting(app, o, "--optimizer", &TrainConfig::optimizer, "sgd (default) or adamw")
          ->check(CLI::IsMember({"sgd", "adamw"}));
      app.callback([owned] {
        const TrainConfig c = resolve_settings(*owned);
        owned->dry_run ? dry_run(*owned, c) : train(*owned, c);
      });
    });

}  // namespace
}  // namespace rxlm::cli
