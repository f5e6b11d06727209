// Rotary position embeddings.
#include "rxlm/ops/rope.h"

#include <cmath>
#include <numbers>

#include "rxlm/core/error.h"

namespace rxlm {

std::vector<double> rope_inverse_frequencies(const LlamaConfig& config) {
  const int64_t d = config.head_dim;
  std::vector<double> inv_freq(static_cast<size_t>(d / 2));
  for (int64_t i = 0; i < d / 2; ++i)
    inv_freq[i] = 1.0 / std::pow(config.rope_theta, static_cast<double>(2 * i) / static_cast<double>(d));
  const RopeScaling& s = config.rope_scaling;
  if (s.type == "llama3") {
    const double old_context = static_cast<double>(s.original_max_position_embeddings);
    const double low_freq_wavelen = old_context / s.low_freq_factor;
    const double high_freq_wavelen = old_context / s.high_freq_factor;
    for (double& f : inv_freq) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;  // long wavelengths: fully interpolated
      } else if (wavelen >= high_freq_wavelen) {
        // the band in between: blend interpolated and original frequencies smoothly
        const double smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

Rope::Rope(const LlamaConfig& config, const std::vector<float>& frequency_divisors)
    : head_dim_(config.head_dim), adjacent_pairs_(config.rope_adjacent_pairs), inv_freq_(rope_inverse_frequencies(config)) {
  if (!frequency_divisors.empty()) {
    if (frequency_divisors.size() != inv_freq_.size())
      fail("rope frequency divisors: {} values for head_dim {} (expected {})", frequency_divisors.size(), head_dim_,
           inv_freq_.size());
    for (size_t i = 0; i < inv_freq_.size(); ++i) inv_freq_[i] /= frequency_divisors[i];
  }
}

void Rope::apply(float* x, int64_t n_tokens, int64_t n_heads, const int64_t* positions) const {
  rotate(x, n_tokens, n_heads, positions, 1.0);
}

void Rope::apply_backward(float* d_x, int64_t n_tokens, int64_t n_heads, const int64_t* positions) const {
  rotate(d_x, n_tokens, n_heads, positions, -1.0);
}

void Rope::rotate(float* x, int64_t n_tokens, int64_t n_heads, const int64_t* positions, double direction) const {
  const int64_t half = head_dim_ / 2;
  std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = direction * static_cast<double>(positions[t]) * inv_freq_[i];
      cos_t[i] = static_cast<float>(std::cos(angle));
      sin_t[i] = static_cast<float>(std::sin(angle));
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim_;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = adjacent_pairs_ ? 2 * i : i;
        const int64_t b = adjacent_pairs_ ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cos_t[i] - x1 * sin_t[i];
        v[b] = x1 * cos_t[i] + x0 * sin_t[i];
      }
    }
  }
}

}  // namespace rxlm
