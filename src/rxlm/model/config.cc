// LlamaConfig checks and arithmetic.
#include "rxlm/model/config.h"

#include "rxlm/core/error.h"

namespace rxlm {

int64_t LlamaConfig::parameter_count() const {
  int64_t h = hidden_size;
  int64_t per_layer = h * q_dim() + 2 * h * kv_dim() + q_dim() * h  // q, k, v, o
                      + 3 * h * intermediate_size                   // gate, up, down
                      + 2 * h;                                      // two RMSNorm weights
  int64_t total = vocab_size * h + num_hidden_layers * per_layer + h;
  if (!tie_word_embeddings) total += vocab_size * h;
  return total;
}

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](int64_t v, const char* field) {
    if (v <= 0) fail("{}: {} must be a positive integer, got {}", source, field, v);
  };
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(vocab_size, "vocab_size");
  if (num_attention_heads % num_key_value_heads != 0)
    fail("{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", source,
         num_attention_heads, num_key_value_heads);
  if (head_dim % 2 != 0) fail("{}: head_dim ({}) must be even for RoPE", source, head_dim);
  if (!(rms_norm_eps > 0)) fail("{}: rms_norm_eps must be > 0, got {}", source, rms_norm_eps);
  if (!(rope_theta > 0)) fail("{}: rope_theta must be > 0, got {}", source, rope_theta);
  if (!rope_scaling.type.empty() && rope_scaling.type != "llama3")
    fail("{}: rope_scaling type '{}' is not supported (supported: llama3, or none)", source, rope_scaling.type);
  if (rope_scaling.type == "llama3") {
    if (!(rope_scaling.factor > 0) || !(rope_scaling.low_freq_factor > 0) ||
        !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor) ||
        rope_scaling.original_max_position_embeddings <= 0)
      fail("{}: rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
           "original_max_position_embeddings > 0",
           source);
  }
}

}  // namespace rxlm
