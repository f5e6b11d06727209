// Llama inference forward pass (see llama.h).
#include "rxlm/model/llama.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rxlm/core/error.h"
#include "rxlm/model/attention_params.h"
#include "rxlm/ops/matmul.h"
#include "rxlm/ops/rmsnorm.h"
#include "rxlm/ops/swiglu.h"

namespace rxlm {
namespace {

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  dequantize_row(t.dtype, t.data, out.data(), t.numel());
  return out;
}

void resize(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

}  // namespace

LlamaModel::LlamaModel(const Checkpoint& checkpoint)
    : config_(checkpoint.config),
      rope_(checkpoint.config,
            checkpoint.has("rope_freqs.weight") ? to_f32(checkpoint.tensor("rope_freqs.weight")) : std::vector<float>{}) {
  embed_tokens_ = &checkpoint.tensor("model.embed_tokens.weight");
  lm_head_ = config_.tie_word_embeddings || !checkpoint.has("lm_head.weight") ? embed_tokens_
                                                                               : &checkpoint.tensor("lm_head.weight");
  final_norm_ = to_f32(checkpoint.tensor("model.norm.weight"));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LlamaLayerWeights w;
    w.q_proj = &checkpoint.tensor(p + "self_attn.q_proj.weight");
    w.k_proj = &checkpoint.tensor(p + "self_attn.k_proj.weight");
    w.v_proj = &checkpoint.tensor(p + "self_attn.v_proj.weight");
    w.o_proj = &checkpoint.tensor(p + "self_attn.o_proj.weight");
    w.gate_proj = &checkpoint.tensor(p + "mlp.gate_proj.weight");
    w.up_proj = &checkpoint.tensor(p + "mlp.up_proj.weight");
    w.down_proj = &checkpoint.tensor(p + "mlp.down_proj.weight");
    w.input_norm = to_f32(checkpoint.tensor(p + "input_layernorm.weight"));
    w.post_attention_norm = to_f32(checkpoint.tensor(p + "post_attention_layernorm.weight"));
    layers_.push_back(std::move(w));
  }
}

KvCache LlamaModel::make_cache(int64_t capacity) const {
  KvCache cache;
  cache.capacity = capacity;
  cache.kv_dim = config_.kv_dim();
  const size_t n = static_cast<size_t>(config_.num_hidden_layers * capacity * cache.kv_dim);
  cache.keys.assign(n, 0.f);
  cache.values.assign(n, 0.f);
  return cache;
}

std::vector<float> LlamaModel::forward(std::span<const int32_t> tokens, KvCache& cache, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t hidden = config_.hidden_size, vocab = config_.vocab_size;
  const int64_t q_dim = config_.q_dim(), kv_dim = config_.kv_dim(), inter = config_.intermediate_size;
  if (n == 0) fail("forward: no tokens to run");
  if (cache.length + n > cache.capacity)
    fail("forward: the sequence would reach {} tokens but the KV cache holds {} (raise the context size)",
         cache.length + n, cache.capacity);
  resize(x_, n * hidden);
  resize(xn_, n * hidden);
  resize(q_, n * q_dim);
  resize(k_, n * kv_dim);
  resize(v_, n * kv_dim);
  resize(attn_out_, n * q_dim);
  resize(gate_, n * inter);
  resize(up_, n * inter);
  resize(mlp_out_, n * hidden);

  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= embed_tokens_->rows())
      fail("forward: token id {} is outside the vocabulary (0..{})", tokens[t], embed_tokens_->rows() - 1);
    dequantize_row(embed_tokens_->dtype, embed_tokens_->row(tokens[t]), x_.data() + t * hidden, hidden);
  }
  std::vector<int64_t> positions(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) positions[t] = cache.length + t;

  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const LlamaLayerWeights& w = layers_[l];
    rmsnorm_forward(x_.data(), w.input_norm.data(), n, hidden, config_.rms_norm_eps, xn_.data());
    matmul(xn_.data(), n, *w.q_proj, q_.data());
    matmul(xn_.data(), n, *w.k_proj, k_.data());
    matmul(xn_.data(), n, *w.v_proj, v_.data());
    rope_.apply(q_.data(), n, config_.num_attention_heads, positions.data());
    rope_.apply(k_.data(), n, config_.num_key_value_heads, positions.data());
    std::copy_n(k_.data(), n * kv_dim, cache.layer_keys(l) + cache.length * kv_dim);
    std::copy_n(v_.data(), n * kv_dim, cache.layer_values(l) + cache.length * kv_dim);
    attention(l, n, cache);
    matmul(attn_out_.data(), n, *w.o_proj, mlp_out_.data());
    for (int64_t i = 0; i < n * hidden; ++i) x_[i] += mlp_out_[i];

    rmsnorm_forward(x_.data(), w.post_attention_norm.data(), n, hidden, config_.rms_norm_eps, xn_.data());
    matmul(xn_.data(), n, *w.gate_proj, gate_.data());
    matmul(xn_.data(), n, *w.up_proj, up_.data());
    swiglu_forward(gate_.data(), up_.data(), n * inter, gate_.data());
    matmul(gate_.data(), n, *w.down_proj, mlp_out_.data());
    for (int64_t i = 0; i < n * hidden; ++i) x_[i] += mlp_out_[i];
  }
  cache.length += n;

  const int64_t first = all_logits ? 0 : n - 1, rows = n - first;
  rmsnorm_forward(x_.data() + first * hidden, final_norm_.data(), rows, hidden, config_.rms_norm_eps, xn_.data());
  std::vector<float> logits(static_cast<size_t>(rows * vocab));
  matmul(xn_.data(), rows, *lm_head_, logits.data());
  return logits;
}

// Causal grouped-query attention of the n newest positions against the whole cache (FlashAttention-2:
// bottom-right-aligned causal mask, K/V read in place from the cache, no N×N scores).
void LlamaModel::attention(int64_t layer, int64_t n, KvCache& cache) {
  const int32_t cu_q[2] = {0, static_cast<int32_t>(n)};
  const int32_t cu_k[2] = {0, static_cast<int32_t>(cache.length + n)};
  resize(lse_, n * config_.num_attention_heads);
  const FlashAttentionParams p = llama_attention_params(config_, q_.data(), cache.layer_keys(layer),
                                                        cache.layer_values(layer), attn_out_.data(), lse_.data(),
                                                        cu_q, cu_k, 1);
  const int threads = attention_threads(n * (cache.length + n) * config_.num_attention_heads * config_.head_dim);
  const size_t bytes = flash_attention_forward_workspace_bytes(p, threads);
  if (attention_workspace_.size() < bytes) attention_workspace_.resize(bytes);
  flash_attention_forward(p, attention_workspace_.data(), attention_workspace_.size(), threads);
}

}  // namespace rxlm
