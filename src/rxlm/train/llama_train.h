// Training forward and backward of a frozen Llama with LoRA adapters, in f32: packed sequences (each
// attends only to itself through FlashAttention-2's cu_seqlens), next-token cross-entropy over the
// labelled tokens, gradients only for the LoRA tensors.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "rxlm/io/checkpoint.h"
#include "rxlm/lora/lora_weights.h"
#include "rxlm/ops/rope.h"

namespace rxlm {

// One training sequence. labels has the tokens' length and Hugging Face's meaning: labels[t] is the
// token expected at position t, or -100 (masked: system, user, template, padding). The loss shifts them
// as transformers does: the logits at t are scored against labels[t + 1].
struct TrainSequence {
  std::vector<int32_t> tokens;
  std::vector<int32_t> labels;
};

// One decoder layer's frozen weights (views into the checkpoint) and norms converted to f32.
struct LlamaTrainLayer {
  const TensorView* proj[7];  // lora_module_names() order: q k v o gate up down
  std::vector<float> input_norm, post_attention_norm;
};

class LlamaLoraTrainer {
 public:
  // The checkpoint and the LoRA weights must outlive the trainer; base weights are read, never written.
  // Shapes of every adapter are checked against the checkpoint's weights.
  LlamaLoraTrainer(const Checkpoint& checkpoint, LoraWeights& lora);

  // Runs the packed batch forward and backward. Returns the mean loss over every scored token of the
  // batch (PEFT/transformers' reduction) and adds (+=) its gradients to lora grad_b (and grad_a when A is
  // trained). Throws when no token of the batch is scored.
  double forward_backward(std::span<const TrainSequence> batch);

  // Forward only: logits [total tokens, vocab] of the packed batch, for comparisons against PEFT.
  std::vector<float> logits(std::span<const TrainSequence> batch);

 private:
  struct Saved;
  void forward(std::span<const TrainSequence> batch, Saved& saved);

  const Checkpoint& checkpoint_;
  LoraWeights& lora_;
  LlamaConfig config_;
  Rope rope_;
  std::vector<LlamaTrainLayer> layers_;
  const TensorView* embed_tokens_;
  const TensorView* lm_head_;
  std::vector<float> final_norm_;
};

}  // namespace rxlm
