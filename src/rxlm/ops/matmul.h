// Linear layers against stored weights of any supported dtype, accumulating in f32:
// y[n, out] = x[n, in] · Wᵀ where W is a [out, in] TensorView (f32, f16, bf16, Q8_0, Q4_0, Q4_1).
#pragma once
#include <cstdint>

#include "rxlm/core/tensor.h"

namespace rxlm {

// f32 weights: OpenBLAS sgemm/sgemv. f16/bf16: fused convert-dot kernels when n is small (decode),
// converted row blocks fed to sgemm when n is large (prefill). Q8_0/Q4_0/Q4_1: activations are
// quantised to 8 bits per 32-block (Q8_1 for Q4_1, else Q8_0) and multiplied in integers, exactly
// the arithmetic llama.cpp uses for these formats, so both engines agree closely on GGUF models.
void matmul(const float* x, int64_t n, const TensorView& w, float* y);

// Plain scalar reference (f64 accumulation, same activation quantisation contract) for the tests.
void matmul_reference(const float* x, int64_t n, const TensorView& w, float* y);

}  // namespace rxlm
