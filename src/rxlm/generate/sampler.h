// Next-token sampling: greedy, temperature, top-k, top-p, repetition penalty, with a seeded
// xorshift RNG. With top-k off, the temperature/top-p path follows llama2.c's run.c step for step,
// so its published seeded outputs are reproducible.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace rxlm {

struct SamplerConfig {
  float temperature = 0.0f;         // 0 = greedy (argmax)
  int top_k = 0;                    // 0 = off
  float top_p = 1.0f;               // ≥ 1 or ≤ 0 = off
  float repetition_penalty = 1.0f;  // CTRL/Hugging Face style: positive logits ÷ p, negative × p
  uint64_t seed = 42;
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);
  // Picks the next token from `logits` (modified in place) given the ids seen so far.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);
  // Uniform in [0, 1) with 24 bits, as run.c's random_f32.
  float random_unit();

 private:
  SamplerConfig config_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace rxlm
