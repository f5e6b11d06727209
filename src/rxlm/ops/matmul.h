// Linear layers against stored weights of any supported dtype, accumulating in f32:
// y[n, out] = x[n, in] · Wᵀ where W is a [out, in] TensorView (f32, f16, bf16, Q8_0, Q4_0, Q4_1).
#pragma once
#include <cstdint>

#include "rxlm/core/tensor.h"

namespace rxlm {

// f32 weights: OpenBLAS sgemm/sgemv. f16/bf16: fused convert-dot kernels when n ≤ 8 (decode),
// converted row blocks fed to sgemm above. Q8_0/Q4_0/Q4_1 with n < 16 (decode): activations are
// quantised to 8 bits per 32-block (Q8_1 for Q4_1, else Q8_0) and multiplied in integers, the
// arithmetic llama.cpp uses for these formats; with n ≥ 16 (prefill): weights converted to f32 in
// row blocks and sgemm with exact f32 activations (faster, and more accurate).
void matmul(const float* x, int64_t n, const TensorView& w, float* y);

// Plain scalar reference (f64 accumulation, the same activation contract for the same n) for the tests.
void matmul_reference(const float* x, int64_t n, const TensorView& w, float* y);

}  // namespace rxlm
