// The one place that turns a LlamaConfig and dense token-major q/k/v buffers into FlashAttention-2
// parameters, and decides how many threads the call deserves; used by inference and training.
#pragma once
#include <cstdint>

#include "rxlm/model/config.h"
#include "rxlm/ops/flash_attention.h"

namespace rxlm {

// q/o: [tokens, heads, head_dim]; k/v: [tokens, kv_heads, head_dim] (a KV cache has exactly this row
// layout). Causal (bottom-right aligned), scale 1/sqrt(head_dim). cu_seqlens_* have n_seqs + 1 entries.
FlashAttentionParams llama_attention_params(const LlamaConfig& config, const float* q, const float* k,
                                            const float* v, float* o, float* lse, const int32_t* cu_seqlens_q,
                                            const int32_t* cu_seqlens_k, int n_seqs);

// One thread when the scores are few (`work` = Σ queries·keys·heads·head_dim): a parallel region would
// cost more than the work, and far more on a loaded machine where spinning threads wait for a core.
int attention_threads(int64_t work);

}  // namespace rxlm
