// LoRA adapter tensors (A, B and their gradients) for every target of a model, with PEFT's initialisation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rxlm/lora/lora_config.h"

namespace rxlm {

struct LoraAdapter {
  LoraTarget target;
  std::vector<float> a;       // lora_A [rank, in_features]
  std::vector<float> b;       // lora_B [out_features, rank]
  std::vector<float> grad_a;  // same shapes; empty when A is frozen
  std::vector<float> grad_b;
};

struct LoraWeights {
  LoraConfig config;
  std::vector<LoraAdapter> adapters;  // lora_targets() order

  // The adapter of (layer, module), or nullptr when that layer is not adapted.
  LoraAdapter* find(int64_t layer, const std::string& module);
  const LoraAdapter* find(int64_t layer, const std::string& module) const;
  void zero_grad();
};

// PEFT's default: A ~ kaiming_uniform(a=√5), i.e. U(−1/√in, 1/√in), from `seed` (a std::mt19937_64 stream,
// not PyTorch's generator, so values differ from PEFT's though the distribution is the same); B = 0.
LoraWeights init_lora_weights(const LlamaConfig& model, const LoraConfig& lora, uint64_t seed);

}  // namespace rxlm
