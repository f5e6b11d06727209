// FlashAttention-2 parameters for the Llama architecture (see attention_params.h).
#include "rxlm/model/attention_params.h"

#include <omp.h>

#include <cmath>

namespace rxlm {

FlashAttentionParams llama_attention_params(const LlamaConfig& config, const float* q, const float* k,
                                            const float* v, float* o, float* lse, const int32_t* cu_seqlens_q,
                                            const int32_t* cu_seqlens_k, int n_seqs) {
  const int heads = static_cast<int>(config.num_attention_heads);
  const int kv_heads = static_cast<int>(config.num_key_value_heads);
  const int d = static_cast<int>(config.head_dim);
  FlashAttentionParams p;
  p.q = q, p.k = k, p.v = v, p.o = o, p.lse = lse;
  dense_strides(heads, d, &p.q_row_stride, &p.q_head_stride);
  dense_strides(heads, d, &p.o_row_stride, &p.o_head_stride);
  dense_strides(kv_heads, d, &p.k_row_stride, &p.k_head_stride);
  dense_strides(kv_heads, d, &p.v_row_stride, &p.v_head_stride);
  p.cu_seqlens_q = cu_seqlens_q;
  p.cu_seqlens_k = cu_seqlens_k;
  p.n_seqs = n_seqs;
  p.n_heads = heads, p.n_kv_heads = kv_heads, p.head_dim = d;
  p.scale = 1.0f / std::sqrt(static_cast<float>(d));
  p.causal = true;
  return p;
}

int attention_threads(int64_t work) { return work < (int64_t{1} << 16) ? 1 : omp_get_max_threads(); }

}  // namespace rxlm
