// FlashAttention-2 CPU kernels built for AVX-512 (16 floats per vector), chosen at run time by
// flash_attention.cc only when the CPU has AVX-512F; the rest of the binary stays x86-64-v3.
#include "rxlm/ops/flash_attention_isa.h"  // standard headers first, outside the target pragma

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq")
#define RXLM_FA_NS fa_avx512
#define RXLM_FA_VW 16
#define RXLM_FA_MR 12  // 12 rows × 2 vectors = 24 accumulators of the 32 zmm registers
#include "rxlm/ops/flash_attention_cpu_backward.h"
#include "rxlm/ops/flash_attention_cpu_forward.h"

RXLM_FA_DEFINE_ENTRY_POINTS(fa_avx512)
#pragma GCC pop_options
