// SwiGLU backward, paired with swiglu_forward (swiglu.h); gate and up are activations, so both gradients
// are overwritten (ops gradient rule, README.md).
#pragma once
#include <cstdint>

namespace rxlm {

// out = silu(g) · u with silu(g) = g·σ(g):  d_u = d_out · silu(g),  d_g = d_out · u · σ(g)·(1 + g·(1 − σ(g))).
// d_gate and d_up may alias gate and up (each element is read before it is written).
void swiglu_backward(const float* gate, const float* up, const float* d_out, int64_t n, float* d_gate, float* d_up);

}  // namespace rxlm
