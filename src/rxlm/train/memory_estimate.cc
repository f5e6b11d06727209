// Training memory estimate from the configs.
#include "rxlm/train/memory_estimate.h"

#include "rxlm/core/error.h"

namespace rxlm {

TrainMemoryEstimate estimate_train_memory(const LlamaConfig& model, const LoraConfig& lora, int64_t base_dtype_bytes,
                                          int64_t tokens, const std::string& optimizer, int64_t scored_tokens) {
  if (optimizer != "sgd" && optimizer != "adamw") fail("optimizer '{}': choose sgd or adamw", optimizer);
  if (tokens < 1) fail("memory estimate: {} tokens per step; need at least 1", tokens);
  const LoraParameterCounts counts = count_lora_parameters(model, lora);
  TrainMemoryEstimate e;
  e.base_weights = static_cast<uint64_t>(counts.frozen_base * base_dtype_bytes);
  e.adapter = static_cast<uint64_t>(4 * (counts.trainable + counts.frozen_adapter));
  e.gradients = static_cast<uint64_t>(4 * counts.trainable);
  e.optimizer_state = optimizer == "adamw" ? 2 * e.gradients : 0;
  const int64_t targets_per_layer = static_cast<int64_t>(lora.target_modules.size());
  const int64_t per_layer = 4 * model.hidden_size + 2 * model.q_dim() + 2 * model.kv_dim() +
                            model.num_attention_heads + 3 * model.intermediate_size + lora.rank * targets_per_layer;
  if (scored_tokens < 0 || scored_tokens > tokens) scored_tokens = tokens;
  const int64_t head = 2 * model.hidden_size * tokens + model.vocab_size * scored_tokens;
  e.activations = static_cast<uint64_t>(4 * (model.num_hidden_layers * per_layer * tokens + head));
  // Checkpointed: every layer's input, plus the rest of the one block being recomputed.
  e.activations_checkpointed = static_cast<uint64_t>(
      4 * (((model.num_hidden_layers - 1) * model.hidden_size + per_layer) * tokens + head));
  return e;
}

}  // namespace rxlm
