// Llama-architecture inference forward pass with a KV cache: RMSNorm, RoPE (incl. llama3 scaling),
// grouped-query attention, SwiGLU MLP, tied or untied head. Weights stay in the checkpoint's mapping,
// in their stored dtype; all arithmetic accumulates in f32. Optionally an unmerged LoRA adapter
// (y = W x + scale·B·(A x) on the adapted projections), and a decode step over several sequences at once.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "rxlm/io/checkpoint.h"
#include "rxlm/ops/rope.h"

namespace rxlm {
struct LoraWeights;
struct LoraAdapter;
}  // namespace rxlm

namespace rxlm {

// How the forward pass rounds. Rxlm: rxlm's own kernels (batched prefill, exact f32 activations in
// prefill matmuls; the default). Ggml: llama.cpp's CPU arithmetic reproduced operation for operation,
// one token at a time (see ops/ggml_cpu.h), so greedy output can be compared with llama.cpp token for
// token; GGUF Q4_1/Q8_0/F32 checkpoints only, no adapters, several times slower.
enum class Numerics { Rxlm, Ggml };

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

  // One decode step for B = tokens.size() sequences: tokens[i] runs at position caches[i]->length of its
  // own cache. Every weight matmul takes the B tokens as one B-row batch (the weights are read once per
  // step, not B times); attention runs per sequence over its own cache. Returns [B, vocab] logits.
  // Each row equals what forward() gives that sequence alone, bit for bit, for quantised and f16/bf16
  // weights (rows are fed to matmul in groups small enough to stay on its one-row kernels); f32 weights
  // go through one sgemm, equal to sgemv to rounding.
  std::vector<float> forward_batch(std::span<const int32_t> tokens, std::span<KvCache* const> caches);

  // Applies an unmerged LoRA adapter from now on (nullptr removes it): every projection the adapter
  // targets computes W x + scale·B·(A x), for any base dtype (quantised GGUF included). The adapter is
  // used in place and must outlive its use. Throws when a target's layer or shape does not fit this model.
  // A and B are in the base checkpoint's row order (a GGUF base's q/k rows are llama.cpp-permuted; rxlm
  // train writes adapters in the order of the base it trained on).
  void set_adapter(const LoraWeights* adapter);
  const LoraWeights* adapter() const { return adapter_; }

  // Switches the arithmetic (see Numerics); throws when the checkpoint cannot run with it.
  void set_numerics(Numerics numerics);
  Numerics numerics() const { return numerics_; }

 private:
  void reserve_scratch(int64_t n_rows);
  // The decoder layers over the n rows of x_ (already embedded) at `positions`: `project(x, weight, layer,
  // module, y)` runs one projection, `attend(layer)` appends k_/v_ to the cache(s) and writes attn_out_.
  template <class Project, class Attend>
  void run_layers(int64_t n, const std::vector<int64_t>& positions, Project project, Attend attend);
  void attention(int64_t layer, int64_t n_tokens, KvCache& cache);
  void attention(int64_t layer, int64_t n_tokens, KvCache& cache, const float* q, float* out);
  // y[n, out] = x[n, in]·Wᵀ (+ the adapter's scale·B·A x when module m of this layer is adapted).
  void project(const float* x, int64_t n, const TensorView& w, int64_t layer, int module, float* y);
  // The same for decode rows: fed to matmul in groups that keep each row on matmul's one-row path.
  void project_rows(const float* x, int64_t n, const TensorView& w, int64_t layer, int module, float* y);
  void add_lora(const float* x, int64_t n, const LoraAdapter& a, float* y);
  // Numerics::Ggml (llama_ggml.cc): one token at `cache.length`; returns its logits when want_logits.
  // in_batch: the token is part of a llama_decode batch of ≥ 2 tokens, where ggml runs f32 matmuls
  // (attention weights × V, f32 weights) with tinyBLAS instead of its one-column dot.
  void check_ggml_numerics() const;
  std::vector<float> forward_ggml(int32_t token, KvCache& cache, bool in_batch, bool want_logits);

  LlamaConfig config_;
  const TensorView* embed_tokens_;  // [vocab, hidden]
  const TensorView* lm_head_;       // [vocab, hidden]; the embedding when tied
  std::vector<float> final_norm_;
  std::vector<LlamaLayerWeights> layers_;
  Rope rope_;
  // Scratch activations, sized for the largest batch seen so far.
  std::vector<float> x_, xn_, q_, k_, v_, attn_out_, gate_, up_, mlp_out_, lse_;
  std::vector<std::byte> attention_workspace_;
  // Adapter per layer and module (lora_module_names() order: q k v o gate up down), nullptr = not adapted.
  Numerics numerics_ = Numerics::Rxlm;
  const LoraWeights* adapter_ = nullptr;
  std::vector<std::array<const LoraAdapter*, 7>> lora_;
  float lora_scale_ = 0.f;
  std::vector<float> lora_mid_;
};

}  // namespace rxlm
