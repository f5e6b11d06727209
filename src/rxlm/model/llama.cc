// Llama inference forward pass (see llama.h).
#include "rxlm/model/llama.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rxlm/core/error.h"
#include "rxlm/lora/lora_weights.h"
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

// Module slots of LlamaModel::lora_, in lora_module_names() order.
enum Module { kQ, kK, kV, kO, kGate, kUp, kDown, kNoModule = -1 };

// The most rows matmul takes while staying on the kernels it uses for one row (so a row's result does
// not depend on how many rows share the call): quantised weights switch to sgemm with f32 activations
// at 16 rows, f16/bf16 at 9 rows. f32 always goes to OpenBLAS (sgemv for one row, sgemm for more).
// Dot product in a fixed order (8 interleaved partial sums), whatever the thread count.
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

int64_t rows_per_call(DType dtype, int64_t n) {
  if (dtype_is_quantized(dtype)) return 15;
  if (dtype == DType::F16 || dtype == DType::BF16) return 8;
  return n;
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

void LlamaModel::reserve_scratch(int64_t n) {
  const int64_t hidden = config_.hidden_size, q_dim = config_.q_dim(), kv_dim = config_.kv_dim();
  const int64_t inter = config_.intermediate_size;
  resize(x_, n * hidden);
  resize(xn_, n * hidden);
  resize(q_, n * q_dim);
  resize(k_, n * kv_dim);
  resize(v_, n * kv_dim);
  resize(attn_out_, n * q_dim);
  resize(gate_, n * inter);
  resize(up_, n * inter);
  resize(mlp_out_, n * hidden);
}

template <class Project, class Attend>
void LlamaModel::run_layers(int64_t n, const std::vector<int64_t>& positions, Project project, Attend attend) {
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size;
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const LlamaLayerWeights& w = layers_[l];
    rmsnorm_forward(x_.data(), w.input_norm.data(), n, hidden, config_.rms_norm_eps, xn_.data());
    project(xn_.data(), *w.q_proj, l, kQ, q_.data());
    project(xn_.data(), *w.k_proj, l, kK, k_.data());
    project(xn_.data(), *w.v_proj, l, kV, v_.data());
    rope_.apply(q_.data(), n, config_.num_attention_heads, positions.data());
    rope_.apply(k_.data(), n, config_.num_key_value_heads, positions.data());
    attend(l);  // appends k_/v_ to the cache(s) and writes attn_out_
    project(attn_out_.data(), *w.o_proj, l, kO, mlp_out_.data());
    for (int64_t i = 0; i < n * hidden; ++i) x_[i] += mlp_out_[i];

    rmsnorm_forward(x_.data(), w.post_attention_norm.data(), n, hidden, config_.rms_norm_eps, xn_.data());
    project(xn_.data(), *w.gate_proj, l, kGate, gate_.data());
    project(xn_.data(), *w.up_proj, l, kUp, up_.data());
    swiglu_forward(gate_.data(), up_.data(), n * inter, gate_.data());
    project(gate_.data(), *w.down_proj, l, kDown, mlp_out_.data());
    for (int64_t i = 0; i < n * hidden; ++i) x_[i] += mlp_out_[i];
  }
}

std::vector<float> LlamaModel::forward(std::span<const int32_t> tokens, KvCache& cache, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t hidden = config_.hidden_size, vocab = config_.vocab_size;
  const int64_t kv_dim = config_.kv_dim();
  if (n == 0) fail("forward: no tokens to run");
  if (cache.length + n > cache.capacity)
    fail("forward: the sequence would reach {} tokens but the KV cache holds {} (raise the context size)",
         cache.length + n, cache.capacity);
  for (int64_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= embed_tokens_->rows())
      fail("forward: token id {} is outside the vocabulary (0..{})", tokens[t], embed_tokens_->rows() - 1);
  if (numerics_ == Numerics::Ggml) {
    std::vector<float> logits;
    for (int64_t t = 0; t < n; ++t) {
      std::vector<float> row = forward_ggml(tokens[t], cache, n > 1, all_logits || t == n - 1);
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return logits;
  }
  reserve_scratch(n);
  for (int64_t t = 0; t < n; ++t)
    dequantize_row(embed_tokens_->dtype, embed_tokens_->row(tokens[t]), x_.data() + t * hidden, hidden);
  std::vector<int64_t> positions(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) positions[t] = cache.length + t;

  run_layers(n, positions,
             [&](const float* x, const TensorView& w, int64_t l, int m, float* y) { project(x, n, w, l, m, y); },
             [&](int64_t l) {
               std::copy_n(k_.data(), n * kv_dim, cache.layer_keys(l) + cache.length * kv_dim);
               std::copy_n(v_.data(), n * kv_dim, cache.layer_values(l) + cache.length * kv_dim);
               attention(l, n, cache);
             });
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
  attention(layer, n, cache, q_.data(), attn_out_.data());
}

void LlamaModel::attention(int64_t layer, int64_t n, KvCache& cache, const float* q, float* out) {
  const int32_t cu_q[2] = {0, static_cast<int32_t>(n)};
  const int32_t cu_k[2] = {0, static_cast<int32_t>(cache.length + n)};
  resize(lse_, n * config_.num_attention_heads);
  const FlashAttentionParams p = llama_attention_params(config_, q, cache.layer_keys(layer),
                                                        cache.layer_values(layer), out, lse_.data(),
                                                        cu_q, cu_k, 1);
  const int threads = attention_threads(n * (cache.length + n) * config_.num_attention_heads * config_.head_dim);
  const size_t bytes = flash_attention_forward_workspace_bytes(p, threads);
  if (attention_workspace_.size() < bytes) attention_workspace_.resize(bytes);
  flash_attention_forward(p, attention_workspace_.data(), attention_workspace_.size(), threads);
}

std::vector<float> LlamaModel::forward_batch(std::span<const int32_t> tokens, std::span<KvCache* const> caches) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t hidden = config_.hidden_size, vocab = config_.vocab_size;
  const int64_t q_dim = config_.q_dim(), kv_dim = config_.kv_dim();
  if (n == 0) fail("forward_batch: no sequences to run");
  if (caches.size() != tokens.size())
    fail("forward_batch: {} tokens but {} caches (one token per sequence)", tokens.size(), caches.size());
  for (int64_t i = 0; i < n; ++i) {
    if (caches[i]->length + 1 > caches[i]->capacity)
      fail("forward_batch: sequence {} would reach {} tokens but its KV cache holds {} (raise the context size)", i,
           caches[i]->length + 1, caches[i]->capacity);
    for (int64_t j = 0; j < i; ++j)
      if (caches[j] == caches[i]) fail("forward_batch: sequences {} and {} share one KV cache", j, i);
  }
  if (numerics_ == Numerics::Ggml) {  // llama.cpp's arithmetic is per token: run the sequences one by one
    std::vector<float> logits;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t token[1] = {tokens[i]};
      std::vector<float> row = forward(token, *caches[i]);
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return logits;
  }
  reserve_scratch(n);

  std::vector<int64_t> positions(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= embed_tokens_->rows())
      fail("forward_batch: token id {} is outside the vocabulary (0..{})", tokens[t], embed_tokens_->rows() - 1);
    dequantize_row(embed_tokens_->dtype, embed_tokens_->row(tokens[t]), x_.data() + t * hidden, hidden);
    positions[t] = caches[t]->length;
  }

  run_layers(n, positions,
             [&](const float* x, const TensorView& w, int64_t l, int m, float* y) { project_rows(x, n, w, l, m, y); },
             [&](int64_t l) {
               for (int64_t t = 0; t < n; ++t) {
                 KvCache& cache = *caches[t];
                 std::copy_n(k_.data() + t * kv_dim, kv_dim, cache.layer_keys(l) + cache.length * kv_dim);
                 std::copy_n(v_.data() + t * kv_dim, kv_dim, cache.layer_values(l) + cache.length * kv_dim);
                 attention(l, 1, cache, q_.data() + t * q_dim, attn_out_.data() + t * q_dim);
               }
             });
  for (int64_t t = 0; t < n; ++t) caches[t]->length += 1;

  rmsnorm_forward(x_.data(), final_norm_.data(), n, hidden, config_.rms_norm_eps, xn_.data());
  std::vector<float> logits(static_cast<size_t>(n * vocab));
  project_rows(xn_.data(), n, *lm_head_, 0, kNoModule, logits.data());
  return logits;
}

void LlamaModel::set_numerics(Numerics numerics) {
  if (numerics == Numerics::Ggml) check_ggml_numerics();
  numerics_ = numerics;
}

void LlamaModel::set_adapter(const LoraWeights* adapter) {
  adapter_ = nullptr;
  lora_.clear();
  if (!adapter) return;
  if (numerics_ == Numerics::Ggml)
    fail("--numerics ggml does not apply LoRA adapters; merge the adapter first (rxlm merge) or use the default numerics");
  const std::vector<std::string>& modules = lora_module_names();
  std::vector<std::array<const LoraAdapter*, 7>> slots(static_cast<size_t>(config_.num_hidden_layers));
  for (auto& s : slots) s.fill(nullptr);
  for (const LoraAdapter& a : adapter->adapters) {
    const LoraTarget& t = a.target;
    const auto m = std::find(modules.begin(), modules.end(), t.module);
    if (m == modules.end()) fail("LoRA adapter: unknown target module '{}'", t.module);
    if (t.layer < 0 || t.layer >= config_.num_hidden_layers)
      fail("LoRA adapter: layer {} of {} does not exist in a model of {} layers (adapter made for another model?)",
           t.layer, t.module, config_.num_hidden_layers);
    const int slot = static_cast<int>(m - modules.begin());
    const LlamaLayerWeights& w = layers_[t.layer];
    const TensorView* weights[7] = {w.q_proj, w.k_proj, w.v_proj, w.o_proj, w.gate_proj, w.up_proj, w.down_proj};
    const TensorView& base = *weights[slot];
    const int64_t r = adapter->config.rank;
    if (t.in_features != base.cols() || t.out_features != base.rows() ||
        static_cast<int64_t>(a.a.size()) != r * base.cols() || static_cast<int64_t>(a.b.size()) != base.rows() * r)
      fail("LoRA adapter: {} is [{} x {}] in the model but the adapter has A [{} x {}] and B [{} x {}] "
           "(adapter made for another model?)", base.name, base.rows(), base.cols(), r, t.in_features,
           t.out_features, r);
    if (slots[t.layer][slot]) fail("LoRA adapter: layer {} {} is adapted twice", t.layer, t.module);
    slots[t.layer][slot] = &a;
  }
  adapter_ = adapter;
  lora_ = std::move(slots);
  lora_scale_ = static_cast<float>(adapter->config.scale());
}

void LlamaModel::project(const float* x, int64_t n, const TensorView& w, int64_t layer, int module, float* y) {
  matmul(x, n, w, y);
  if (module != kNoModule && !lora_.empty())
    if (const LoraAdapter* a = lora_[layer][module]) add_lora(x, n, *a, y);
}

void LlamaModel::project_rows(const float* x, int64_t n, const TensorView& w, int64_t layer, int module, float* y) {
  const int64_t step = rows_per_call(w.dtype, n), in = w.cols(), out = w.rows();
  for (int64_t r0 = 0; r0 < n; r0 += step)
    project(x + r0 * in, std::min(step, n - r0), w, layer, module, y + r0 * out);
}

// y[t] += scale · B (A x[t]), row by row in a fixed summation order, so each row's result is the same
// whichever batch it is part of.
void LlamaModel::add_lora(const float* x, int64_t n, const LoraAdapter& a, float* y) {
  const int64_t in = a.target.in_features, out = a.target.out_features, r = adapter_->config.rank;
  resize(lora_mid_, n * r);
#pragma omp parallel for schedule(static) if (n * r * (in + out) >= (int64_t{1} << 20))
  for (int64_t t = 0; t < n; ++t) {
    float* mid = lora_mid_.data() + t * r;
    for (int64_t k = 0; k < r; ++k) mid[k] = lora_scale_ * dot(a.a.data() + k * in, x + t * in, in);
    float* yt = y + t * out;
    for (int64_t o = 0; o < out; ++o) {
      const float* b = a.b.data() + o * r;
      float s = 0.f;
      for (int64_t k = 0; k < r; ++k) s += b[k] * mid[k];
      yt[o] += s;
    }
  }
}

}  // namespace rxlm
