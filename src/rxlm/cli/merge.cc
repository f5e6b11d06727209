// rxlm merge: folds a PEFT LoRA adapter into its Hugging Face base, writing a merged checkpoint (W + s·B·A in
// the base's dtype) that any Llama loader, rxlm's or transformers', reads without PEFT.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>

#include "rxlm/cli/command.h"
#include "rxlm/core/error.h"
#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/merge.h"
#include "rxlm/lora/peft_adapter.h"

namespace rxlm::cli {
namespace {

namespace fs = std::filesystem;

struct MergeOptions {
  std::string model, adapter, out;
};

// Files beside the weights that a merged checkpoint needs to be usable on its own (tokenizer, chat template,
// generation defaults); copied unchanged when the base has them.
constexpr const char* kCompanionFiles[] = {"tokenizer.json",          "tokenizer_config.json", "special_tokens_map.json",
                                           "generation_config.json", "tokenizer.model",       "chat_template.jinja"};

void merge(const MergeOptions& o) {
  const fs::path model = o.model, adapter = o.adapter, out = o.out;
  if (!fs::exists(model)) fail("{}: no such base model (give the Hugging Face directory the adapter was trained on)", o.model);
  if (fs::is_regular_file(model) && model.extension() == ".gguf")
    fail("{}: a GGUF base cannot be merged (its weights may be quantised, and the merge writes a Hugging Face "
         "checkpoint). Merge into the Hugging Face (safetensors) release of the same model, then convert the merged "
         "directory to GGUF with llama.cpp's convert_hf_to_gguf.py if you need one; or keep the adapter separate",
         o.model);
  if (!fs::is_directory(adapter) || !fs::exists(adapter / "adapter_config.json") ||
      !fs::exists(adapter / "adapter_model.safetensors"))
    fail("{}: not a PEFT adapter directory (it needs adapter_config.json and adapter_model.safetensors, as "
         "`rxlm train` writes in RUN/adapter or RUN/checkpoint-N/adapter)",
         o.adapter);
  const Checkpoint base = load_checkpoint(model);
  if (base.format != "hf")
    fail("{}: a {} base cannot be merged; merging writes a Hugging Face checkpoint, so give the Hugging Face "
         "(safetensors) directory of the same model",
         o.model, base.format);
  const fs::path base_dir = fs::is_directory(model) ? model : model.parent_path();
  if (fs::exists(out) && fs::equivalent(out, base_dir))
    fail("{}: the output directory is the base's own; choose another --out so the base stays intact", o.out);
  const LoraWeights lora = load_peft_adapter(adapter, base.config);
  merge_lora(base, lora, out);
  int copied = 0;
  for (const char* name : kCompanionFiles)
    if (fs::exists(base_dir / name)) {
      fs::copy_file(base_dir / name, out / name, fs::copy_options::overwrite_existing);
      ++copied;
    }
  std::string modules;
  for (const auto& m : lora.config.target_modules) modules += (modules.empty() ? "" : ",") + m;
  fmt::print("merged: {} adapters (rank {}, alpha {:g}, scale {:g}, on {}) into {}\n", lora.adapters.size(),
             lora.config.rank, lora.config.alpha, lora.config.scale(), modules, o.model);
  fmt::print("wrote: {}/model.safetensors and config.json ({} tokenizer/generation files copied)\n", o.out, copied);
}

const bool registered = register_command(
    "merge", "Fold a PEFT LoRA adapter into its Hugging Face base (a merged checkpoint in the base's dtype)",
    [](CLI::App& app) {
      auto o = std::make_shared<MergeOptions>();
      app.add_option("--model", o->model, "Base model: the Hugging Face directory (F32, F16 or BF16 safetensors)")
          ->required();
      app.add_option("--adapter", o->adapter, "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
          ->required();
      app.add_option("--out", o->out, "Output directory for the merged checkpoint")->required();
      app.callback([o] { merge(*o); });
    });

}  // namespace
}  // namespace rxlm::cli
