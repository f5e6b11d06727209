// Internal: the entry points each ISA build of the FlashAttention-2 kernels exports to the dispatcher
// (flash_attention.cc), and the standard headers those builds use, included before any target pragma.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "rxlm/ops/flash_attention.h"

#define RXLM_FA_DECLARE_ENTRY_POINTS(ns)                                                                   \
  namespace rxlm::ns {                                                                                     \
  size_t forward_bytes(const FlashAttentionParams& p, int n_threads);                                      \
  void forward_run(const FlashAttentionParams& p, void* workspace, int n_threads);                         \
  size_t backward_bytes(const FlashAttentionGradParams& p, int n_threads, int max_seqlen_q);               \
  void backward_run(const FlashAttentionGradParams& p, void* workspace, int n_threads, int max_seqlen_q);  \
  }

#define RXLM_FA_DEFINE_ENTRY_POINTS(ns)                                                                    \
  namespace rxlm::ns {                                                                                     \
  size_t forward_bytes(const FlashAttentionParams& p, int n_threads) {                                     \
    return forward_workspace_bytes(p, n_threads);                                                          \
  }                                                                                                        \
  void forward_run(const FlashAttentionParams& p, void* workspace, int n_threads) {                        \
    forward(p, workspace, n_threads);                                                                      \
  }                                                                                                        \
  size_t backward_bytes(const FlashAttentionGradParams& p, int n_threads, int max_seqlen_q) {              \
    return backward_workspace_bytes(p, n_threads, max_seqlen_q);                                           \
  }                                                                                                        \
  void backward_run(const FlashAttentionGradParams& p, void* workspace, int n_threads, int max_seqlen_q) { \
    backward(p, workspace, n_threads, max_seqlen_q);                                                       \
  }                                                                                                        \
  }

RXLM_FA_DECLARE_ENTRY_POINTS(fa_avx2)
RXLM_FA_DECLARE_ENTRY_POINTS(fa_avx512)
