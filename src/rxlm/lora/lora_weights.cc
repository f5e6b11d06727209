// LoRA adapter tensors and initialisation.
#include "rxlm/lora/lora_weights.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace rxlm {

LoraAdapter* LoraWeights::find(int64_t layer, const std::string& module) {
  for (LoraAdapter& a : adapters)
    if (a.target.layer == layer && a.target.module == module) return &a;
  return nullptr;
}

const LoraAdapter* LoraWeights::find(int64_t layer, const std::string& module) const {
  return const_cast<LoraWeights*>(this)->find(layer, module);
}

void LoraWeights::zero_grad() {
  for (LoraAdapter& a : adapters) {
    std::fill(a.grad_a.begin(), a.grad_a.end(), 0.f);
    std::fill(a.grad_b.begin(), a.grad_b.end(), 0.f);
  }
}

LoraWeights init_lora_weights(const LlamaConfig& model, const LoraConfig& lora, uint64_t seed) {
  LoraWeights w;
  w.config = lora;
  std::mt19937_64 rng(seed);
  for (const LoraTarget& t : lora_targets(model, lora)) {
    LoraAdapter a;
    a.target = t;
    const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(t.in_features)));
    std::uniform_real_distribution<float> uniform(-bound, bound);
    a.a.resize(static_cast<size_t>(lora.rank * t.in_features));
    for (float& v : a.a) v = uniform(rng);
    a.b.assign(static_cast<size_t>(t.out_features * lora.rank), 0.f);
    a.grad_b.assign(a.b.size(), 0.f);
    if (!lora.freeze_a) a.grad_a.assign(a.a.size(), 0.f);
    w.adapters.push_back(std::move(a));
  }
  return w;
}

}  // namespace rxlm
