// LlamaModel with llama.cpp's CPU numerics (Numerics::Ggml, see llama.h and ops/ggml_cpu.h): one token
// at a time, the graph llama.cpp builds for a Llama model with an f32 KV cache and flash attention off,
// each operation rounded as ggml rounds it.
#include <algorithm>
#include <cmath>

#include "rxlm/core/error.h"
#include "rxlm/model/llama.h"
#include "rxlm/ops/ggml_cpu.h"

namespace rxlm {
namespace {

// mul_mat(W, x) for one activation row of a batch: x is quantised once for W's dtype, then one ggml
// dot per weight row. f32 weights in a batch of ≥ 2 tokens go through tinyBLAS when its shape rules allow.
void ggml_linear(const TensorView& w, const float* x, float* y, bool in_batch) {
  const int64_t in = w.cols(), out = w.rows(), blocks = in / 32;
  switch (w.dtype) {
    case DType::Q4_1: {
      std::vector<BlockQ8_1> xq(static_cast<size_t>(blocks));
      ggml_cpu::quantize_q8_1(x, xq.data(), in);
      for (int64_t o = 0; o < out; ++o)
        y[o] = ggml_cpu::dot_q4_1_q8_1(reinterpret_cast<const BlockQ4_1*>(w.row(o)), xq.data(), blocks);
      return;
    }
    case DType::Q8_0: {
      std::vector<BlockQ8_0> xq(static_cast<size_t>(blocks));
      ggml_cpu::quantize_q8_0(x, xq.data(), in);
      for (int64_t o = 0; o < out; ++o)
        y[o] = ggml_cpu::dot_q8_0_q8_0(reinterpret_cast<const BlockQ8_0*>(w.row(o)), xq.data(), blocks);
      return;
    }
    case DType::F32: {
      const bool tinyblas = in_batch && in % 16 == 0 && out % 4 == 0;
      for (int64_t o = 0; o < out; ++o) {
        const float* row = reinterpret_cast<const float*>(w.row(o));
        y[o] = tinyblas ? ggml_cpu::dot_f32_tinyblas(row, x, in) : ggml_cpu::dot_f32(row, x, in);
      }
      return;
    }
    default:
      fail("--numerics ggml reproduces llama.cpp for Q4_1, Q8_0 and F32 weights; this checkpoint has {} weights "
           "(use the default numerics)",
           dtype_name(w.dtype));
  }
}

}  // namespace

void LlamaModel::check_ggml_numerics() const {
  if (!config_.rope_adjacent_pairs || !config_.rope_scaling.type.empty())
    fail("--numerics ggml reproduces llama.cpp for GGUF Llama checkpoints without rope scaling; use the default "
         "numerics for this checkpoint");
  if (config_.head_dim % 2 || config_.hidden_size % 32 || config_.intermediate_size % 32)
    fail("--numerics ggml needs hidden and intermediate sizes that are multiples of 32");
  if (adapter_) fail("--numerics ggml does not apply LoRA adapters; merge the adapter first (rxlm merge)");
}

std::vector<float> LlamaModel::forward_ggml(int32_t token, KvCache& cache, bool in_batch, bool want_logits) {
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size, head_dim = config_.head_dim;
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t kv_dim = config_.kv_dim(), group = heads / kv_heads;
  const int64_t pos = cache.length, n_kv = pos + 1;
  const float eps = static_cast<float>(config_.rms_norm_eps), base = static_cast<float>(config_.rope_theta);
  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  reserve_scratch(1);
  // llama.cpp's attention spans at least 256 cache cells, and ggml's f32 dot takes 64 elements per
  // step: padding with zeros to a multiple of 64 keeps every product in the lane ggml puts it in.
  const int64_t n_pad = (n_kv + 63) / 64 * 64;
  std::vector<float> scores(static_cast<size_t>(n_pad), 0.f), column(static_cast<size_t>(n_pad), 0.f);

  float* x = x_.data();
  dequantize_row(embed_tokens_->dtype, embed_tokens_->row(token), x, hidden);
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const LlamaLayerWeights& w = layers_[l];
    ggml_cpu::rms_norm(x, w.input_norm.data(), hidden, eps, xn_.data());
    ggml_linear(*w.q_proj, xn_.data(), q_.data(), in_batch);
    ggml_linear(*w.k_proj, xn_.data(), k_.data(), in_batch);
    ggml_linear(*w.v_proj, xn_.data(), v_.data(), in_batch);
    for (int64_t h = 0; h < heads; ++h) ggml_cpu::rope_adjacent(q_.data() + h * head_dim, head_dim, pos, base);
    for (int64_t h = 0; h < kv_heads; ++h) ggml_cpu::rope_adjacent(k_.data() + h * head_dim, head_dim, pos, base);
    float* keys = cache.layer_keys(l);
    float* values = cache.layer_values(l);
    std::copy_n(k_.data(), kv_dim, keys + pos * kv_dim);
    std::copy_n(v_.data(), kv_dim, values + pos * kv_dim);
    // kq = K·q per cached position, softmax(kq · scale), kqv = Vᵀ·p: ggml's f32 dots over the
    // positions (cells past the sequence are masked to 0 and add nothing).
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / group;
      const float* q = q_.data() + h * head_dim;
      for (int64_t t = 0; t < n_kv; ++t) scores[t] = ggml_cpu::dot_f32(keys + t * kv_dim + g * head_dim, q, head_dim);
      ggml_cpu::softmax(scores.data(), n_kv, kq_scale);
      for (int64_t d = 0; d < head_dim; ++d) {
        for (int64_t t = 0; t < n_kv; ++t) column[t] = values[t * kv_dim + g * head_dim + d];
        attn_out_[h * head_dim + d] = in_batch ? ggml_cpu::dot_f32_tinyblas(column.data(), scores.data(), n_pad)
                                               : ggml_cpu::dot_f32(column.data(), scores.data(), n_pad);
      }
    }
    ggml_linear(*w.o_proj, attn_out_.data(), mlp_out_.data(), in_batch);
    for (int64_t i = 0; i < hidden; ++i) x[i] = mlp_out_[i] + x[i];

    // llama.cpp keeps only the rows it outputs before the last layer's FFN: one row there.
    const bool ffn_batch = in_batch && l + 1 < config_.num_hidden_layers;
    ggml_cpu::rms_norm(x, w.post_attention_norm.data(), hidden, eps, xn_.data());
    ggml_linear(*w.gate_proj, xn_.data(), gate_.data(), ffn_batch);
    ggml_linear(*w.up_proj, xn_.data(), up_.data(), ffn_batch);
    for (int64_t i = 0; i < inter; ++i) gate_[i] = ggml_cpu::silu(gate_[i]) * up_[i];
    ggml_linear(*w.down_proj, gate_.data(), mlp_out_.data(), ffn_batch);
    for (int64_t i = 0; i < hidden; ++i) x[i] = mlp_out_[i] + x[i];
  }
  cache.length += 1;

  if (!want_logits) return {};
  ggml_cpu::rms_norm(x, final_norm_.data(), hidden, eps, xn_.data());
  std::vector<float> logits(static_cast<size_t>(config_.vocab_size));
  ggml_linear(*lm_head_, xn_.data(), logits.data(), false);  // llama.cpp's head sees the output row alone
  return logits;
}

}  // namespace rxlm
