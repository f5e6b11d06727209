// Llama-architecture inference forward pass with a KV cache: RMSNorm, RoPE (incl. llama3 scaling),
// grouped-query attention, SwiGLU MLP, tied or untied head. Weights stay in the checkpoint's mapping,
// in their stored dtype; all arithmetic accumulates in f32.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "rxlm/io/checkpoint.h"
#include "rxlm/ops/rope.h"

namespace rxlm {

// Keys and values of one sequence for every layer: [layer][position < capacity][kv_dim], after RoPE.
struct KvCache {
  int64_t capacity = 0;
  int64_t length = 0;  // positions filled so far
  int64_t kv_dim = 0;
  std::vector<float> keys, values;

  float* layer_keys(int64_t layer) { return keys.data() + layer * capacity * kv_dim; }
  float* layer_values(int64_t layer) { return values.data() + layer * capacity * kv_dim; }
};

struct LlamaLayerWeights {
  const TensorView *q_proj, *k_proj, *v_proj, *o_proj;  // [q_dim, hidden], [kv_dim, hidden] ×2, [hidden, q_dim]
  const TensorView *gate_proj, *up_proj, *down_proj;    // [inter, hidden] ×2, [hidden, inter]
  std::vector<float> input_norm, post_attention_norm;   // [hidden], converted to f32 once
};

class LlamaModel {
 public:
  // The checkpoint must outlive the model (weights are views into its mappings).
  explicit LlamaModel(const Checkpoint& checkpoint);

  const LlamaConfig& config() const { return config_; }
  KvCache make_cache(int64_t capacity) const;

  // Runs `tokens` at positions cache.length, cache.length+1, ... (one batched prefill when several),
  // appends their keys/values to the cache and returns the logits: [tokens.size(), vocab] when
  // all_logits, else [vocab] for the last token only.
  std::vector<float> forward(std::span<const int32_t> tokens, KvCache& cache, bool all_logits = false);

 private:
  void attention(int64_t layer, int64_t n_tokens, KvCache& cache);

  LlamaConfig config_;
  const TensorView* embed_tokens_;  // [vocab, hidden]
  const TensorView* lm_head_;       // [vocab, hidden]; the embedding when tied
  std::vector<float> final_norm_;
  std::vector<LlamaLayerWeights> layers_;
  Rope rope_;
  // Scratch activations, sized for the largest batch seen so far.
  std::vector<float> x_, xn_, q_, k_, v_, attn_out_, gate_, up_, mlp_out_, lse_;
  std::vector<std::byte> attention_workspace_;
};

}  // namespace rxlm
