// llama.cpp's CPU arithmetic, reproduced operation for operation, for `--numerics ggml`.
//
// ggml (the tensor library under llama.cpp) rounds differently from rxlm's default kernels: it quantises
// every activation to 8 bits before a quantised matmul, sums dot products in a fixed SIMD lane order,
// and uses its own polynomial exp. On a small quantised model those differences are enough to change a
// greedy token within a few dozen steps. These functions do exactly what ggml's x86 CPU backend does
// when built for the machine it runs on with AVX-512 (llama.cpp's default native build on the x86-64-v4
// servers we use; verified tensor by tensor against llama-cpp-python 0.3.36 with
// tools/reference/dump_llamacpp_tensors.py): the same operations, in the same order, with the same
// roundings. They are written portably (scalar fma and 8-lane AVX2 integer dots), so they give the
// same bits on any x86-64-v3 CPU. Slower than rxlm's own kernels; meant for comparisons, not serving.
#pragma once
#include <cstdint>

#include "rxlm/core/dtype.h"

namespace rxlm::ggml_cpu {

// quantize_row_q8_0 / quantize_row_q8_1 (AVX2 path): d = max|x|/127 stored as f16, q = round-half-even
// (x · 127/max|x|), and for Q8_1 s = f16(d · Σq). n is a multiple of 32.
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t n);

// ggml_vec_dot_q4_1_q8_1 / ggml_vec_dot_q8_0_q8_0 (AVX2 path) over `blocks` 32-element blocks.
float dot_q4_1_q8_1(const BlockQ4_1* w, const BlockQ8_1* x, int64_t blocks);
float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t blocks);

// ggml_vec_dot_f32 (AVX-512 path: 4 accumulators of 16 lanes, then leftovers one by one): f32 matmuls
// with one activation column (decode).
float dot_f32(const float* x, const float* y, int64_t n);
// llamafile's tinyBLAS f32 kernel (AVX-512: 16 lanes, one fma per lane per 16 elements, then the lane
// sum): what ggml uses instead for f32 matmuls with ≥ 2 contiguous activation columns. n % 16 == 0.
float dot_f32_tinyblas(const float* x, const float* y, int64_t n);

// ggml_v_expf (AVX-512 variant) for one lane, and silu(x) = x / (1 + exp(-x)) built on it.
float expf(float x);
float silu(float x);

// ggml_compute_forward_rms_norm_f32 followed by the multiplication with the norm weight.
void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* y);

// ggml_vec_soft_max_f32 and the scaling that follows, over p[0..n) in place: p = softmax(p · scale).
void softmax(float* p, int64_t n, float scale);

// GGML_ROPE_TYPE_NORM (adjacent pairs) for one head of `dims` values at `position`, ggml's angle
// recurrence (θ_{i+1} = θ_i · base^(−2/dims) in f32, cosf/sinf).
void rope_adjacent(float* x, int64_t dims, int64_t position, float base);

}  // namespace rxlm::ggml_cpu
