// Linear layers against stored weights of any dtype (see matmul.h).
#include "rxlm/ops/matmul.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <vector>

#include "rxlm/core/error.h"

namespace rxlm {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), acc);
  }
  float s = hsum(acc);
  for (; i < n; ++i) s += f16_to_f32(w[i]) * x[i];
  return s;
}

float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(h, 16)), _mm256_loadu_ps(x + i), acc);
  }
  float s = hsum(acc);
  for (; i < n; ++i) s += bf16_to_f32(w[i]) * x[i];
  return s;
}

// 32 int8 → four 8-float vectors
inline void widen_i8(__m256i q, __m256 out[4]) {
  __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
  out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
  out[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
  out[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

// Sum over one 32-element block of q[j]·x[j] as four partial vectors.
inline __m256 block_dot(const __m256 q[4], const float* x) {
  __m256 s = _mm256_mul_ps(q[0], _mm256_loadu_ps(x));
  s = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(x + 8), s);
  s = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(x + 16), s);
  return _mm256_fmadd_ps(q[3], _mm256_loadu_ps(x + 24), s);
}

inline __m256 block_sum(const float* x) {
  __m256 s = _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
  return _mm256_add_ps(s, _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
}

// Low nibbles are elements 0..15 and high nibbles 16..31 of a ggml Q4 block.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m128i mask = _mm_set1_epi8(0x0f);
  __m128i lo = _mm_and_si128(packed, mask), hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

float dot_q8_0(const BlockQ8_0* b, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t k = 0; k < n / 32; ++k) {
    __m256 q[4];
    widen_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qs)), q);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[k].d)), block_dot(q, x + k * 32), acc);
  }
  return hsum(acc);
}

float dot_q4_0(const BlockQ4_0* b, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (int64_t k = 0; k < n / 32; ++k) {
    __m256 q[4];
    widen_i8(_mm256_sub_epi8(unpack_nibbles(b[k].qs), eight), q);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[k].d)), block_dot(q, x + k * 32), acc);
  }
  return hsum(acc);
}

float dot_q4_1(const BlockQ4_1* b, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t k = 0; k < n / 32; ++k) {
    __m256 q[4];
    widen_i8(unpack_nibbles(b[k].qs), q);
    const float* xb = x + k * 32;
    // Σ (d·q + m)·x = d·Σ q·x + m·Σ x
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[k].d)), block_dot(q, xb), acc);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[k].m)), block_sum(xb), acc);
  }
  return hsum(acc);
}

float dot_row(const TensorView& w, int64_t row, const float* x, int64_t n) {
  const std::byte* r = w.row(row);
  switch (w.dtype) {
    case DType::F32: return dot_f32(reinterpret_cast<const float*>(r), x, n);
    case DType::F16: return dot_f16(reinterpret_cast<const uint16_t*>(r), x, n);
    case DType::BF16: return dot_bf16(reinterpret_cast<const uint16_t*>(r), x, n);
    case DType::Q8_0: return dot_q8_0(reinterpret_cast<const BlockQ8_0*>(r), x, n);
    case DType::Q4_0: return dot_q4_0(reinterpret_cast<const BlockQ4_0*>(r), x, n);
    case DType::Q4_1: return dot_q4_1(reinterpret_cast<const BlockQ4_1*>(r), x, n);
  }
  return 0.f;
}

// Below this many input rows the weights are streamed once per row set with fused kernels; above it,
// dequantising row blocks for sgemm amortises the conversion over many tokens.
constexpr int64_t kFusedMaxRows = 8;
constexpr int64_t kBlockRows = 256;

}  // namespace

void matmul(const float* x, int64_t n, const TensorView& w, float* y) {
  const int64_t out = w.rows(), in = w.cols();
  if (n <= 0) return;
  if (w.dtype == DType::F32) {
    const auto* wf = reinterpret_cast<const float*>(w.data);
    if (n == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.f, wf, in, x, 1, 0.f, y, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.f, x, in, wf, in, 0.f, y, out);
    return;
  }
  if (n <= kFusedMaxRows) {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = 0; t < n; ++t) y[t * out + o] = dot_row(w, o, x + t * in, in);
    return;
  }
  std::vector<float> block(static_cast<size_t>(kBlockRows * in));
  for (int64_t r0 = 0; r0 < out; r0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, out - r0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) dequantize_row(w.dtype, w.row(r0 + r), block.data() + r * in, in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, in, 1.f, x, in, block.data(), in, 0.f,
                y + r0, out);
  }
}

void matmul_reference(const float* x, int64_t n, const TensorView& w, float* y) {
  const int64_t out = w.rows(), in = w.cols();
  std::vector<float> row(static_cast<size_t>(in));
  for (int64_t o = 0; o < out; ++o) {
    dequantize_row(w.dtype, w.row(o), row.data(), in);
    for (int64_t t = 0; t < n; ++t) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += static_cast<double>(row[i]) * x[t * in + i];
      y[t * out + o] = static_cast<float>(s);
    }
  }
}

}  // namespace rxlm
