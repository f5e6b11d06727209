// LlamaConfig: the hyperparameters of a Llama-architecture model, whatever file they came from.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rxlm {

// rope_scaling as in Hugging Face config.json; type "" means none, "llama3" is Llama 3.1's scheme.
struct RopeScaling {
  std::string type;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless config.json says otherwise
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  // RoPE pairing: Hugging Face rotates (x[i], x[i+d/2]); GGUF (after llama.cpp's q/k permutation) and
  // llama2.c rotate adjacent pairs (x[2i], x[2i+1]). Loaders set this; weights are never permuted.
  bool rope_adjacent_pairs = false;
  std::vector<int64_t> bos_token_ids;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // as declared by the checkpoint ("bfloat16", ...); informational

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  // Total parameter count implied by the config (embeddings, layers, final norm, untied head).
  int64_t parameter_count() const;
  // Throws rxlm::Error naming `source` and the field when a value is missing or inconsistent.
  void validate(const std::string& source) const;
};

}  // namespace rxlm
