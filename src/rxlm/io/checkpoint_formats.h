// The per-format checkpoint loaders behind load_checkpoint(), and the architecture check they share.
#pragma once
#include <filesystem>

#include "rxlm/io/checkpoint.h"

namespace rxlm {

// A Hugging Face directory: config.json + model.safetensors, or model.safetensors.index.json + shards.
Checkpoint load_hf_checkpoint(const std::filesystem::path& dir);
// A GGUF v3 file with general.architecture = llama; tensor names mapped to Hugging Face names.
Checkpoint load_gguf_checkpoint(const std::filesystem::path& file);
// A llama2.c legacy (version 0) .bin checkpoint.
Checkpoint load_llama2c_checkpoint(const std::filesystem::path& file);

// Every tensor the Llama architecture needs is present with the shape the config implies, and no
// layer beyond num_hidden_layers exists. Throws naming the file and the tensor.
void check_llama_tensors(const Checkpoint& checkpoint);

// True when `dir` holds safetensors weights (single file or index); false for a config-only directory.
bool hf_directory_has_weights(const std::filesystem::path& dir);

}  // namespace rxlm
