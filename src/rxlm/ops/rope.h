// Rotary position embeddings, including Llama 3.1's "llama3" frequency scaling, in both pairings:
// Hugging Face rotates (x[i], x[i + d/2]); GGUF/llama2.c rotate adjacent pairs (x[2i], x[2i+1]).
#pragma once
#include <cstdint>
#include <vector>

#include "rxlm/model/config.h"

namespace rxlm {

// Inverse frequencies θ^(-2i/d) for i < d/2, with rope_scaling applied (transformers'
// _compute_llama3_parameters). Computed in double.
std::vector<double> rope_inverse_frequencies(const LlamaConfig& config);

class Rope {
 public:
  // `frequency_divisors` (head_dim/2 values, optional) is GGUF's rope_freqs.weight: llama.cpp's form
  // of llama3 scaling, inv_freq[i] / divisor[i], used instead of config.rope_scaling.
  explicit Rope(const LlamaConfig& config, const std::vector<float>& frequency_divisors = {});
  // Rotates x laid out [n_tokens, n_heads, head_dim] in place; token t sits at positions[t].
  void apply(float* x, int64_t n_tokens, int64_t n_heads, const int64_t* positions) const;
  // Backward of apply: the rotation is orthogonal, so the input gradient is the output gradient rotated by
  // the opposite angle. Overwrites d_x in place (an activation gradient, ops gradient rule).
  void apply_backward(float* d_x, int64_t n_tokens, int64_t n_heads, const int64_t* positions) const;

 private:
  int64_t head_dim_;
  bool adjacent_pairs_;
  std::vector<double> inv_freq_;
  void rotate(float* x, int64_t n_tokens, int64_t n_heads, const int64_t* positions, double direction) const;
};

}  // namespace rxlm
