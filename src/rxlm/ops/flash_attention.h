// FlashAttention-2 on the CPU (Dao 2023): exact softmax attention, forward and backward, f32, with
// strided token-major tensors, grouped-query attention, causal masking, packed variable-length batches
// and a decode path, in memory linear in the sequence length (the caller owns and sizes the workspace).
#pragma once
#include <cstddef>
#include <cstdint>

namespace rxlm {

// Layouts (all f32, token-major as the q/k/v projections write them):
//   q, o, d_q, d_o : [total_q_tokens, n_heads,    head_dim]  element (t, h, c) at t*row_stride + h*head_stride + c
//   k, v, d_k, d_v : [total_k_tokens, n_kv_heads, head_dim]  same addressing with their own strides
//   lse            : [total_q_tokens, n_heads]               element (t, h) at t*n_heads + h, natural log
// The row strides may exceed n_heads*head_dim so K/V can live inside a KV cache of larger capacity.
//
// Sequences: sequence s owns query rows cu_seqlens_q[s] .. cu_seqlens_q[s+1] and key rows starting at
// cu_seqlens_k[s]; it uses cu_seqlens_k[s+1] - cu_seqlens_k[s] keys, or seqused_k[s] keys when seqused_k
// is given (a KV cache per sequence: cu_seqlens_k holds the start of each sequence's cache region).
// A sequence attends only within itself.
//
// Causal masking is bottom-right aligned: with n_q queries and n_k keys, query i (0-based) sees keys
// 0 .. n_k - n_q + i. So prefill (n_q == n_k) is the usual lower triangle, and a decode step (n_q == 1)
// sees the whole cache. A query that sees no key (only possible when n_q > n_k) gets o = 0, lse = -inf
// and zero gradients.
//
// Grouped-query attention by index: query head h reads KV head h / (n_heads / n_kv_heads). K and V are
// never copied per query head; d_k and d_v are the sums over each group.
struct FlashAttentionParams {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* o = nullptr;    // forward output
  float* lse = nullptr;  // forward output: logsumexp of the scaled scores per (token, head), saved for backward
  int64_t q_row_stride = 0, q_head_stride = 0;
  int64_t k_row_stride = 0, k_head_stride = 0;
  int64_t v_row_stride = 0, v_head_stride = 0;
  int64_t o_row_stride = 0, o_head_stride = 0;

  const int32_t* cu_seqlens_q = nullptr;  // [n_seqs + 1], starts at 0
  const int32_t* cu_seqlens_k = nullptr;  // [n_seqs + 1]
  const int32_t* seqused_k = nullptr;     // optional [n_seqs]: keys used per sequence (KV cache decode)
  int n_seqs = 0;

  int n_heads = 0;
  int n_kv_heads = 0;  // divides n_heads
  int head_dim = 0;    // any value >= 1; 64 and 128 are the fast, common ones
  float scale = 0.f;   // usually 1/sqrt(head_dim)
  bool causal = false;
};

// Backward inputs are the forward's q, k, v, o, lse (read from `fwd`; fwd.o and fwd.lse are read, not
// written) plus d_o. Outputs follow the ops gradient rule (src/rxlm/ops/README.md): q, k, v are activations,
// so d_q, d_k, d_v are overwritten (=), never accumulated. Rows of d_k/d_v past seqused_k are not touched.
struct FlashAttentionGradParams {
  FlashAttentionParams fwd;
  const float* d_o = nullptr;
  float* d_q = nullptr;
  float* d_k = nullptr;
  float* d_v = nullptr;
  int64_t d_o_row_stride = 0, d_o_head_stride = 0;
  int64_t d_q_row_stride = 0, d_q_head_stride = 0;
  int64_t d_k_row_stride = 0, d_k_head_stride = 0;
  int64_t d_v_row_stride = 0, d_v_head_stride = 0;
};

// Workspace: bytes the call needs for these sizes (n_heads, n_kv_heads, head_dim, n_seqs, cu_seqlens_q/k,
// seqused_k; no tensor pointers needed) and `n_threads` OpenMP threads. Linear in the sequence length, never
// O(N²): per thread a block-sized scratch (plus 2 floats per (query, head of one GQA group) in backward),
// shared K (forward, prefill) or K and V (backward) transposed once into GEMM panels (the size of K/V).
// The caller passes at least that many bytes, any alignment; the calls allocate nothing themselves.
size_t flash_attention_forward_workspace_bytes(const FlashAttentionParams& params, int n_threads);
size_t flash_attention_backward_workspace_bytes(const FlashAttentionGradParams& params, int n_threads);

// Throws rxlm::Error on inconsistent parameters or a too-small workspace.
void flash_attention_forward(const FlashAttentionParams& params, void* workspace, size_t workspace_bytes,
                             int n_threads);
void flash_attention_backward(const FlashAttentionGradParams& params, void* workspace, size_t workspace_bytes,
                              int n_threads);

// Which SIMD build the calls dispatch to on this CPU ("avx512" or "avx2"), for benchmark reports.
const char* flash_attention_isa();
// Forces "avx2" or "avx512" (throws if the CPU lacks it) or back to "auto"; for tests and benchmarks that
// compare the two builds. Process-wide; not meant to be flipped while attention calls are running.
void flash_attention_force_isa(const char* name);

// Convenience for callers and tests: fills the strides of a dense [tokens, heads, head_dim] tensor.
inline void dense_strides(int heads, int head_dim, int64_t* row_stride, int64_t* head_stride) {
  *row_stride = static_cast<int64_t>(heads) * head_dim;
  *head_stride = head_dim;
}

}  // namespace rxlm
