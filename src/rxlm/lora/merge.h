// Merging a LoRA adapter into its base: a Hugging Face checkpoint whose adapted weights are W + s·B·A.
#pragma once
#include <filesystem>

#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/lora_weights.h"

namespace rxlm {

// Writes out_dir/config.json (the base's, unchanged) and out_dir/model.safetensors: every base tensor under
// its Hugging Face name in the base's dtype, the adapted ones as W + scale·B·A computed in f32 and rounded
// to that dtype as PyTorch rounds (nearest even), the rest copied byte for byte. The base must be a Hugging
// Face checkpoint in F32, F16 or BF16 (GGUF and quantised bases are refused: the merged file would need
// re-quantising). Holds the adapted tensors in memory while writing.
void merge_lora(const Checkpoint& base, const LoraWeights& lora, const std::filesystem::path& out_dir);

}  // namespace rxlm
