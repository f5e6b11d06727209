// Memory a LoRA training step needs, estimated from the configs alone (for `rxlm train --dry-run`).
#pragma once
#include <cstdint>
#include <string>

#include "rxlm/lora/lora_config.h"
#include "rxlm/model/config.h"

namespace rxlm {

struct TrainMemoryEstimate {
  uint64_t base_weights = 0;     // the frozen base at its stored dtype (mmapped, read-only)
  uint64_t adapter = 0;          // A and B in f32
  uint64_t gradients = 0;        // f32, trainable tensors only
  uint64_t optimizer_state = 0;  // SGD: none; AdamW: two f32 moments per trainable value
  uint64_t activations = 0;      // f32 tensors the forward saves for the backward, every layer kept
  uint64_t activations_checkpointed = 0;  // the same with per-layer activation checkpointing
  uint64_t total(bool checkpointing) const {
    return base_weights + adapter + gradients + optimizer_state + (checkpointing ? activations_checkpointed : activations);
  }
};

// `base_dtype_bytes` is bytes per base weight (2 for bf16); `tokens` is batch size × sequence length.
// Activations follow what train/llama_train.cc keeps per token: per layer the block input, both normed
// inputs, q/k/v, attention output, softmax logsumexp, the mid residual, gate/up/SwiGLU output and the
// LoRA A·x of every target; at the end the block output, its norm and the logits. With checkpointing
// each layer keeps only its input, plus one block recomputed at a time. Logits exist only for scored
// tokens (the answer); `scored_tokens` < 0 means every token is scored, the upper bound a dry run gives.
TrainMemoryEstimate estimate_train_memory(const LlamaConfig& model, const LoraConfig& lora, int64_t base_dtype_bytes,
                                          int64_t tokens, const std::string& optimizer, int64_t scored_tokens = -1);

}  // namespace rxlm
