// Hugging Face config.json (LlamaForCausalLM) → LlamaConfig, with HF's defaults and strict type checks.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

#include "rxlm/model/config.h"

namespace rxlm {

// Parses the JSON text of a config.json; `source` names it in errors. Missing optional keys take the
// transformers LlamaConfig defaults (num_key_value_heads = heads, head_dim = hidden / heads,
// rms_norm_eps 1e-6, rope_theta 10000, max_position_embeddings 2048, tie_word_embeddings false).
// rope_adjacent_pairs is false (HF rotates halves). The result is validate()d.
LlamaConfig parse_hf_config(std::string_view json_text, const std::string& source);
// Reads `path`/config.json when `path` is a directory, else `path` itself.
LlamaConfig load_hf_config(const std::filesystem::path& path);

}  // namespace rxlm
