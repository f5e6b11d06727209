// Optimisers for the trainable LoRA tensors (B, and A when it is trained), with PyTorch's exact update
// rules so that rxlm and PEFT + torch.optim follow the same trajectory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "rxlm/lora/lora_weights.h"

namespace rxlm {

// torch.optim.SGD without momentum: p −= lr · grad.
void sgd_step(LoraWeights& lora, double learning_rate);

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
