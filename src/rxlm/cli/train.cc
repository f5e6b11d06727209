// rxlm train --dry-run: LoRA trainable/frozen parameter counts and a memory estimate from config.json
// alone. Full training is not implemented yet, so --dry-run is required rather than silently ignored.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "rxlm/cli/command.h"
#include "rxlm/io/hf_config.h"
#include "rxlm/lora/lora_config.h"
#include "rxlm/train/memory_estimate.h"

namespace rxlm::cli {
namespace {

std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1 << 30)); }

// Bytes per base weight from config.json's torch_dtype; f32 when absent (the safe, larger figure).
int64_t dtype_bytes_of(const std::string& torch_dtype) {
  if (torch_dtype == "bfloat16" || torch_dtype == "float16") return 2;
  return 4;
}

struct TrainOptions {
  bool dry_run = false;
  std::string model_config;
  int64_t rank = 16;
  double alpha = 16.0;
  bool standard_lora = false;
  bool rslora = false;
  std::string targets = "q_proj,v_proj";
  int64_t batch_size = 4;
  int64_t max_length = 2048;
  std::string optimizer = "sgd";
};

void dry_run(const TrainOptions& o) {
  const LlamaConfig model = load_hf_config(o.model_config);
  LoraConfig lora;
  lora.rank = o.rank;
  lora.alpha = o.alpha;
  lora.freeze_a = !o.standard_lora;
  lora.use_rslora = o.rslora;
  lora.target_modules = parse_lora_targets(o.targets);
  lora.validate();
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

const bool registered = register_command(
    "train", "LoRA fine-tuning; for now only --dry-run (parameter counts and memory estimate)", [](CLI::App& app) {
      auto o = std::make_shared<TrainOptions>();
      app.add_flag("--dry-run", o->dry_run,
                   "Print parameter counts and a memory estimate without weights (required: full training is not "
                   "available yet)")
          ->required();
      app.add_option("--model-config", o->model_config, "Hugging Face config.json or the directory holding it")
          ->required();
      app.add_option("--lora-rank", o->rank, "LoRA rank r (default 16)");
      app.add_option("--lora-alpha", o->alpha, "LoRA alpha (default 16; scale = alpha / r)");
      app.add_flag("--standard-lora", o->standard_lora, "Train A as well as B (default: FFA-LoRA, A frozen)");
      app.add_flag("--rslora", o->rslora, "Rank-stabilised scale alpha / sqrt(r)");
      app.add_option("--targets", o->targets, "Comma-separated modules (default q_proj,v_proj)");
      app.add_option("--batch-size", o->batch_size, "Sequences per step for the memory estimate (default 4)");
      app.add_option("--max-length", o->max_length, "Tokens per sequence for the memory estimate (default 2048)");
      app.add_option("--optimizer", o->optimizer, "sgd (default) or adamw")->check(CLI::IsMember({"sgd", "adamw"}));
      app.callback([o] { dry_run(*o); });
    });

}  // namespace
}  // namespace rxlm::cli
