// Linear layers against stored weights of any supported dtype, accumulating in f32:
// y[n, out] = x[n, in] · Wᵀ where W is a [out, in] TensorView (f32, f16, bf16, Q8_0, Q4_0, Q4_1).
#pragma once
#include <cstdint>

#include "rxlm/core/tensor.h"

namespace rxlm {

// Fast path: OpenBLAS sgemm for f32 weights; for other dtypes, row-wise fused dequantise-dot kernels
// when n is small (decode) and dequantised row blocks fed to sgemm when n is large (prefill).
void matmul(const float* x, int64_t n, const TensorView& w, float* y);

// Plain scalar reference (f64 accumulation) used by the tests.
void matmul_reference(const float* x, int64_t n, const TensorView& w, float* y);

}  // namespace rxlm
