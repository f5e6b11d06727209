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

// Tokens whose (shifted) label is scored: labels[t] != -100 for t ≥ 1 of each sequence.
int64_t count_scored_tokens(std::span<const TrainSequence> batch);

class LlamaLoraTrainer {
 public:
  // The checkpoint and the LoRA weights must outlive the trainer; base weights are read, never written.
  // Shapes of every adapter are checked against the checkpoint's weights.
  LlamaLoraTrainer(const Checkpoint& checkpoint, LoraWeights& lora,
                   uint64_t f32_cache_bytes = kDefaultF32CacheBytes);

  // Runs the packed batch forward and backward. Returns the mean loss over every scored token of the
  // batch (PEFT/transformers' reduction) and adds (+=) its gradients to lora grad_b (and grad_a when A is
  // trained). Throws when no token of the batch is scored.
  double forward_backward(std::span<const TrainSequence> batch);
  // The same with an explicit normaliser, for gradient accumulation: returns the summed loss over the
  // batch's scored tokens and adds the gradient of (sum × gradient_scale). With gradient_scale = 1 / (scored
  // tokens of all micro-batches of one step), the accumulated gradient is that of their joint mean loss,
  // as transformers computes it (num_items_in_batch).
  double forward_backward_sum(std::span<const TrainSequence> batch, double gradient_scale);

  // Per-layer activation checkpointing: the forward keeps only each block's input and the backward
  // recomputes one block at a time, so saved activations are one hidden vector per token and layer plus
  // one block's worth, at the cost of a second forward. Gradients are identical (the same arithmetic).
  void set_activation_checkpointing(bool on) { checkpoint_activations_ = on; }
  // Frozen weights stored in another dtype (bf16, f16, GGUF-quantised) are converted to f32 once, at
  // construction, when all of them fit in this many bytes (default 4 GiB: SmolLM2-135M needs 0.54 GiB,
  // an 8B model 30 GiB); otherwise each use converts one weight. Same values either way; the cache saves
  // a conversion per projection per step, forward and backward.
  static constexpr uint64_t kDefaultF32CacheBytes = uint64_t{4} << 30;
  bool weights_cached_f32() const { return !f32_weights_.empty(); }
  // The most f32 values the last forward_backward held in saved activations at once (logits included).
  int64_t peak_saved_floats() const { return peak_saved_floats_; }

  // Forward only: the summed loss over the batch's scored tokens and how many there were (so several
  // batches average exactly like one), for validation.
  double loss_sum(std::span<const TrainSequence> batch, int64_t* n_scored);

  // Forward only: logits [total tokens, vocab] of the packed batch, for comparisons against PEFT.
  std::vector<float> logits(std::span<const TrainSequence> batch);

 private:
  struct Saved;
  void forward(std::span<const TrainSequence> batch, Saved& saved, bool all_logits = false);
  void layer_forward(int64_t layer, Saved& saved, std::vector<float>& x);
  void cache_weights_f32(uint64_t limit_bytes);

  const Checkpoint& checkpoint_;
  LoraWeights& lora_;
  LlamaConfig config_;
  Rope rope_;
  std::vector<LlamaTrainLayer> layers_;
  const TensorView* embed_tokens_;
  const TensorView* lm_head_;
  std::vector<float> final_norm_;
  std::vector<std::vector<float>> f32_weights_;  // converted copies (see kDefaultF32CacheBytes)
  std::vector<TensorView> f32_views_;            // views of them; proj[], embed/head point here when cached
  bool checkpoint_activations_ = false;
  int64_t peak_saved_floats_ = 0;
};

}  // namespace rxlm
