// SwiGLU gating of the Llama MLP: out = silu(gate) ⊙ up.
#pragma once
#include <cstdint>

namespace rxlm {

void swiglu_forward(const float* gate, const float* up, int64_t n, float* out);

}  // namespace rxlm
