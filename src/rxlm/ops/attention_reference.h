// Two slow attentions beside FlashAttention-2: a plain scalar reference (templated, run in double as the
// oracle of the tests) and a naive materialised one (the full N×N score matrix per head through OpenBLAS
// sgemm; the baseline of bench/attention). Same semantics as flash_attention.h: GQA by index, causal
// masking bottom-right aligned, packed sequences, o = 0 / lse = -inf for a query that sees no key.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "rxlm/ops/flash_attention.h"

namespace rxlm {

// Sizes of a packed batch with dense tensors: q/o/dq [cu_q.back(), n_heads, head_dim],
// k/v/dk/dv [cu_k.back(), n_kv_heads, head_dim], lse [cu_q.back(), n_heads].
struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  double scale = 0.0;
  bool causal = false;
  std::vector<int32_t> cu_seqlens_q;  // n_seqs + 1 offsets from 0
  std::vector<int32_t> cu_seqlens_k;
};

// Scalar loops, straight from the definition: P = softmax(scale·Q·Kᵀ + mask), O = P·V.
template <class T>
void attention_reference_forward(const AttentionShape& shape, const T* q, const T* k, const T* v, T* o, T* lse);

// Straight from the chain rule with D_i = Σ_j P_ij dP_ij (not the rowsum(dO∘O) shortcut the fast kernels use),
// so the reference and the kernels do not share that step. dq, dk, dv are overwritten.
template <class T>
void attention_reference_backward(const AttentionShape& shape, const T* q, const T* k, const T* v, const T* d_o,
                                  T* dq, T* dk, T* dv);

// Naive materialised attention on the same strided parameters as flash_attention_forward/backward:
// one head at a time, S = Q·Kᵀ as an [n_q, n_k] matrix, softmax, O = S·V, each product one sgemm
// (OpenBLAS threads inside). Allocates its N×N scratch itself; that is the point of the baseline.
void attention_naive_forward(const FlashAttentionParams& params);
void attention_naive_backward(const FlashAttentionGradParams& params);

}  // namespace rxlm
