// SwiGLU backward.
#include "rxlm/ops/swiglu_backward.h"

#include <cmath>

namespace rxlm {

void swiglu_backward(const float* gate, const float* up, const float* d_out, int64_t n, float* d_gate, float* d_up) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], u = up[i], d = d_out[i];
    const float s = 1.0f / (1.0f + std::exp(-g));
    d_up[i] = d * g * s;
    d_gate[i] = d * u * s * (1.0f + g * (1.0f - s));
  }
}

}  // namespace rxlm
