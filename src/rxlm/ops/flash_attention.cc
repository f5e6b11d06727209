// FlashAttention-2 public entry points: parameter checks, workspace sizing and the run-time choice
// between the AVX-512 and AVX2 builds of the kernels.
#include "rxlm/ops/flash_attention.h"

#include <atomic>
#include <cstring>

#include "rxlm/core/error.h"
#include "rxlm/ops/flash_attention_isa.h"

namespace rxlm {
namespace {

enum class Isa { Avx2, Avx512 };

Isa detected_isa() {
  static const Isa isa = __builtin_cpu_supports("avx512f") ? Isa::Avx512 : Isa::Avx2;
  return isa;
}

std::atomic<int> g_forced{-1};  // -1: detected; otherwise a forced Isa (tests compare both builds)

Isa active_isa() {
  const int forced = g_forced.load(std::memory_order_relaxed);
  return forced < 0 ? detected_isa() : static_cast<Isa>(forced);
}

void check_tensor(const char* name, const void* ptr, int64_t row_stride, int64_t head_stride, int heads,
                  int head_dim) {
  if (ptr == nullptr) fail("flash_attention: {} is null", name);
  if (head_stride < head_dim)
    fail("flash_attention: {} head stride {} is below head_dim {} (set the strides, e.g. with dense_strides)",
         name, head_stride, head_dim);
  if (row_stride < (heads - 1) * head_stride + head_dim)
    fail("flash_attention: {} row stride {} cannot hold {} heads of stride {}", name, row_stride, heads,
         head_stride);
}

int max_seqlen_q(const FlashAttentionParams& p) {
  if (p.n_seqs <= 0 || p.cu_seqlens_q == nullptr)
    fail("flash_attention: set n_seqs >= 1 and cu_seqlens_q before asking for the workspace size");
  int max_q = 0;
  for (int s = 0; s < p.n_seqs; ++s) {
    const int nq = p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s];
    max_q = nq > max_q ? nq : max_q;
  }
  return max_q;
}

// Returns the longest query sequence (the backward workspace depends on it).
int check_params(const FlashAttentionParams& p) {
  if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0)
    fail("flash_attention: n_heads {} must be a positive multiple of n_kv_heads {}", p.n_heads, p.n_kv_heads);
  if (p.head_dim <= 0) fail("flash_attention: head_dim {} must be positive", p.head_dim);
  if (!(p.scale > 0.f)) fail("flash_attention: scale {} must be positive (usually 1/sqrt(head_dim))", p.scale);
  if (p.n_seqs <= 0 || p.cu_seqlens_q == nullptr || p.cu_seqlens_k == nullptr)
    fail("flash_attention: need n_seqs >= 1 and cu_seqlens_q/cu_seqlens_k of n_seqs + 1 offsets");
  check_tensor("q", p.q, p.q_row_stride, p.q_head_stride, p.n_heads, p.head_dim);
  check_tensor("k", p.k, p.k_row_stride, p.k_head_stride, p.n_kv_heads, p.head_dim);
  check_tensor("v", p.v, p.v_row_stride, p.v_head_stride, p.n_kv_heads, p.head_dim);
  check_tensor("o", p.o, p.o_row_stride, p.o_head_stride, p.n_heads, p.head_dim);
  if (p.lse == nullptr) fail("flash_attention: lse is null (the backward needs it; pass [tokens, n_heads])");
  if (p.cu_seqlens_q[0] != 0 || p.cu_seqlens_k[0] != 0)
    fail("flash_attention: cu_seqlens_q and cu_seqlens_k must start at 0");
  int max_q = 0;
  for (int s = 0; s < p.n_seqs; ++s) {
    const int nq = p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s];
    const int span_k = p.cu_seqlens_k[s + 1] - p.cu_seqlens_k[s];
    if (nq < 0 || span_k < 0) fail("flash_attention: cu_seqlens must be non-decreasing (sequence {})", s);
    if (p.seqused_k != nullptr && (p.seqused_k[s] < 0 || p.seqused_k[s] > span_k))
      fail("flash_attention: seqused_k[{}] = {} outside the sequence's key span of {}", s, p.seqused_k[s], span_k);
    max_q = nq > max_q ? nq : max_q;
  }
  return max_q;
}

void check_threads(int n_threads) {
  if (n_threads <= 0) fail("flash_attention: n_threads {} must be positive", n_threads);
}

void check_workspace(const void* workspace, size_t have, size_t need) {
  if (workspace == nullptr || have < need)
    fail("flash_attention: workspace of {} bytes is below the {} bytes the *_workspace_bytes call asked for",
         workspace == nullptr ? 0 : have, need);
}

}  // namespace

const char* flash_attention_isa() { return active_isa() == Isa::Avx512 ? "avx512" : "avx2"; }

void flash_attention_force_isa(const char* name) {
  if (name == nullptr || std::strcmp(name, "auto") == 0) {
    g_forced.store(-1);
  } else if (std::strcmp(name, "avx2") == 0) {
    g_forced.store(static_cast<int>(Isa::Avx2));
  } else if (std::strcmp(name, "avx512") == 0) {
    if (detected_isa() != Isa::Avx512) fail("flash_attention: this CPU has no AVX-512F");
    g_forced.store(static_cast<int>(Isa::Avx512));
  } else {
    fail("flash_attention: unknown ISA '{}' (use auto, avx2 or avx512)", name);
  }
}

size_t flash_attention_forward_workspace_bytes(const FlashAttentionParams& params, int n_threads) {
  check_threads(n_threads);
  if (params.n_heads <= 0 || params.n_kv_heads <= 0 || params.n_heads % params.n_kv_heads != 0 ||
      params.head_dim <= 0)
    fail("flash_attention: set n_heads, n_kv_heads and head_dim before asking for the workspace size");
  max_seqlen_q(params);  // checks n_seqs and cu_seqlens_q
  if (params.cu_seqlens_k == nullptr) fail("flash_attention: set cu_seqlens_k before asking for the workspace size");
  return active_isa() == Isa::Avx512 ? fa_avx512::forward_bytes(params, n_threads)
                                     : fa_avx2::forward_bytes(params, n_threads);
}

size_t flash_attention_backward_workspace_bytes(const FlashAttentionGradParams& params, int n_threads) {
  check_threads(n_threads);
  const FlashAttentionParams& p = params.fwd;
  if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0 || p.head_dim <= 0)
    fail("flash_attention: set n_heads, n_kv_heads and head_dim before asking for the workspace size");
  const int max_q = max_seqlen_q(p);
  return active_isa() == Isa::Avx512 ? fa_avx512::backward_bytes(params, n_threads, max_q)
                                     : fa_avx2::backward_bytes(params, n_threads, max_q);
}

void flash_attention_forward(const FlashAttentionParams& params, void* workspace, size_t workspace_bytes,
                             int n_threads) {
  check_params(params);
  check_workspace(workspace, workspace_bytes, flash_attention_forward_workspace_bytes(params, n_threads));
  if (active_isa() == Isa::Avx512) {
    fa_avx512::forward_run(params, workspace, n_threads);
  } else {
    fa_avx2::forward_run(params, workspace, n_threads);
  }
}

void flash_attention_backward(const FlashAttentionGradParams& params, void* workspace, size_t workspace_bytes,
                              int n_threads) {
  const int max_q = check_params(params.fwd);
  check_tensor("d_o", params.d_o, params.d_o_row_stride, params.d_o_head_stride, params.fwd.n_heads,
               params.fwd.head_dim);
  check_tensor("d_q", params.d_q, params.d_q_row_stride, params.d_q_head_stride, params.fwd.n_heads,
               params.fwd.head_dim);
  check_tensor("d_k", params.d_k, params.d_k_row_stride, params.d_k_head_stride, params.fwd.n_kv_heads,
               params.fwd.head_dim);
  check_tensor("d_v", params.d_v, params.d_v_row_stride, params.d_v_head_stride, params.fwd.n_kv_heads,
               params.fwd.head_dim);
  check_workspace(workspace, workspace_bytes, flash_attention_backward_workspace_bytes(params, n_threads));
  if (active_isa() == Isa::Avx512) {
    fa_avx512::backward_run(params, workspace, n_threads, max_q);
  } else {
    fa_avx2::backward_run(params, workspace, n_threads, max_q);
  }
}

}  // namespace rxlm
