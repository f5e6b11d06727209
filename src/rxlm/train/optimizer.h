// Optimisers for the trainable LoRA tensors (B, and A when it is trained), with PyTorch's exact update
// rules so that rxlm and PEFT + torch.optim follow the same trajectory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "rxlm/lora/lora_weights.h"

namespace rxlm {

// torch.optim.SGD without momentum: p −= lr · grad.
void sgd_step(LoraWeights& lora, double learning_rate);

// torch.nn.utils.clip_grad_norm_ over the trainable LoRA gradients: the global L2 norm g; when g exceeds
// max_norm every gradient is scaled by max_norm / (g + 1e-6). Returns g (before clipping).
double clip_grad_norm(LoraWeights& lora, double max_norm);

// Learning-rate multiplier of transformers' schedules (LambdaLR), for the step about to be taken
// (0-based): "constant", "constant_with_warmup", "linear" and "cosine" (half a cosine to 0), each with a
// linear warmup from 0 over warmup_steps when warmup_steps > 0. Throws on an unknown name.
double schedule_factor(const std::string& schedule, int64_t step, int64_t warmup_steps, int64_t total_steps);

struct AdamWSettings {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;  // torch.optim.AdamW's defaults
};

// torch.optim.AdamW (decoupled weight decay, bias-corrected moments), single-tensor form:
//   p ·= 1 − lr·wd;  m += (1−β1)(g − m);  v = β2 v + (1−β2) g²;
//   p −= lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)
class AdamW {
 public:
  AdamW(const LoraWeights& lora, AdamWSettings settings);
  // One update with the learning rate of this step (schedules pass their value here).
  void step(LoraWeights& lora, double learning_rate);
  int64_t steps() const { return step_; }
  // The moments (PEFT tensor name + ".exp_avg" / ".exp_avg_sq", f32) and the step count (metadata) in one
  // safetensors file, written atomically; read_state restores them for an exact resume. Throws when the
  // file does not fit `lora`.
  void write_state(const std::filesystem::path& path, const LoraWeights& lora) const;
  void read_state(const std::filesystem::path& path, const LoraWeights& lora);

 private:
  struct Moments {
    std::vector<float> m, v;
  };
  void update(std::vector<float>& p, const std::vector<float>& g, Moments& state, double lr) const;

  AdamWSettings settings_;
  int64_t step_ = 0;
  std::vector<Moments> a_, b_;  // per adapter; a_ empty when A is frozen
};

}  // namespace rxlm
