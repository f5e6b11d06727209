// LoRA adapters in PEFT's layout: DIR/adapter_config.json + DIR/adapter_model.safetensors with tensors
// named base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight, so PeftModel.from_pretrained
// reads what rxlm writes and rxlm reads what PEFT writes.
#pragma once
#include <filesystem>
#include <string>

#include "rxlm/io/safetensors.h"
#include "rxlm/lora/lora_weights.h"

namespace rxlm {

// PEFT's name of one adapter tensor: `matrix` is 'A' or 'B', `suffix` "weight" (PEFT saves no other; the
// reference fixtures also store "grad").
std::string peft_tensor_name(const LoraTarget& target, char matrix, const std::string& suffix = "weight");

// Copies every adapter's A and B (any safetensors float dtype, converted to f32) from `file`; throws naming
// the tensor when one is missing or shaped unlike the adapter.
void read_lora_tensors(const SafetensorsFile& file, LoraWeights& lora, const std::string& suffix = "weight");

// Reads a PEFT LoRA adapter for `model`: r, lora_alpha, target_modules and use_rslora from adapter_config.json
// (peft_type must be LORA; DoRA, biases and per-layer rank/alpha patterns are refused), A and B from
// adapter_model.safetensors. `freeze_a` chooses FFA-LoRA (the paper's default) or standard LoRA for training.
LoraWeights load_peft_adapter(const std::filesystem::path& dir, const LlamaConfig& model, bool freeze_a = true);

// Writes `lora` to `dir` (created if needed) in PEFT's layout, both files atomically (temporary + rename).
// `base_model` is recorded as base_model_name_or_path.
void save_peft_adapter(const std::filesystem::path& dir, const LoraWeights& lora, const std::string& base_model);

}  // namespace rxlm
