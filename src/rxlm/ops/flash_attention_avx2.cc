// FlashAttention-2 CPU kernels built for the baseline ISA (AVX2 + FMA, 8 floats per vector).
#include "rxlm/ops/flash_attention_isa.h"

#define RXLM_FA_NS fa_avx2
#define RXLM_FA_VW 8
#define RXLM_FA_MR 6  // 6 rows × 2 vectors = 12 accumulators of the 16 ymm registers
#include "rxlm/ops/flash_attention_cpu_backward.h"
#include "rxlm/ops/flash_attention_cpu_forward.h"

RXLM_FA_DEFINE_ENTRY_POINTS(fa_avx2)
