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

// Integer block dot products against activations quantised to 8 bits, as ggml's AVX2 kernels do:
// weights and activations stay integers inside a block; scales multiply once per block.

// 32 products of unsigned bytes `u` with signed bytes `s`, summed in pairs → 8 floats.
inline __m256 sum_products_us8(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Low nibbles are elements 0..15 and high nibbles 16..31 of a ggml Q4 block.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m128i mask = _mm_set1_epi8(0x0f);
  __m128i lo = _mm_and_si128(packed, mask), hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

inline __m256i load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Each kernel takes one weight row and NT activation rows (NT ≤ 4): the weight block is unpacked
// once and used NT times (prefill), while every output keeps its own accumulator in the same order,
// so a token's result does not depend on how many tokens share the call.
// Signed 8-bit weight codes of one block: Q8_0 as stored, Q4_0 as nibble − 8.
inline __m256i signed_codes(const BlockQ8_0& b) { return load32(b.qs); }
inline __m256i signed_codes(const BlockQ4_0& b) {
  return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8));
}

// Q8_0 and Q4_0 weights against Q8_0 activations: maddubs needs one unsigned operand, so the weight's
// sign moves onto the activation (|w|·sign(x, w)).
template <int NT, class Block>
void dot_signed(const Block* w, const BlockQ8_0* const* x, int64_t blocks, float* out) {
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < blocks; ++k) {
    const __m256i q = signed_codes(w[k]), q_abs = _mm256_sign_epi8(q, q);
    const float dw = f16_to_f32(w[k].d);
    for (int t = 0; t < NT; ++t) {
      const __m256 d = _mm256_set1_ps(dw * f16_to_f32(x[t][k].d));
      acc[t] = _mm256_fmadd_ps(d, sum_products_us8(q_abs, _mm256_sign_epi8(load32(x[t][k].qs), q)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

template <int NT>
void dot_q4_1(const BlockQ4_1* w, const BlockQ8_1* const* x, int64_t blocks, float* out) {
  __m256 acc[NT];
  float offsets[NT];  // Σ m·(d_x·Σq_x): the block minimum times the activation block sum
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps(), offsets[t] = 0.f;
  for (int64_t k = 0; k < blocks; ++k) {
    const __m256i q = unpack_nibbles(w[k].qs);
    const float dw = f16_to_f32(w[k].d), m = f16_to_f32(w[k].m);
    for (int t = 0; t < NT; ++t) {
      offsets[t] += m * f16_to_f32(x[t][k].s);
      const __m256 d = _mm256_set1_ps(dw * f16_to_f32(x[t][k].d));
      acc[t] = _mm256_fmadd_ps(d, sum_products_us8(q, load32(x[t][k].qs)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]) + offsets[t];
}

template <int NT>
void dot_quantized(const TensorView& w, int64_t row, const std::byte* const* x, int64_t blocks, float* out) {
  const std::byte* r = w.row(row);
  switch (w.dtype) {
    case DType::Q8_0:
      return dot_signed<NT>(reinterpret_cast<const BlockQ8_0*>(r), reinterpret_cast<const BlockQ8_0* const*>(x), blocks, out);
    case DType::Q4_0:
      return dot_signed<NT>(reinterpret_cast<const BlockQ4_0*>(r), reinterpret_cast<const BlockQ8_0* const*>(x), blocks, out);
    case DType::Q4_1:
      return dot_q4_1<NT>(reinterpret_cast<const BlockQ4_1*>(r), reinterpret_cast<const BlockQ8_1* const*>(x), blocks, out);
    default: return;
  }
}

// Output row o for tokens [t0, t0 + nt), nt ≤ 4.
void dot_quantized_tokens(const TensorView& w, int64_t o, const std::byte* xq, int64_t x_row_bytes, int64_t blocks,
                          int64_t t0, int64_t nt, float* y, int64_t out) {
  const std::byte* x[4];
  float result[4];
  for (int64_t t = 0; t < nt; ++t) x[t] = xq + (t0 + t) * x_row_bytes;
  switch (nt) {
    case 1: dot_quantized<1>(w, o, x, blocks, result); break;
    case 2: dot_quantized<2>(w, o, x, blocks, result); break;
    case 3: dot_quantized<3>(w, o, x, blocks, result); break;
    default: dot_quantized<4>(w, o, x, blocks, result); break;
  }
  for (int64_t t = 0; t < nt; ++t) y[(t0 + t) * out + o] = result[t];
}

// Activations of n rows quantised for `weight_dtype`: Q8_1 for Q4_1 weights, Q8_0 otherwise.
std::vector<std::byte> quantize_activations(DType weight_dtype, const float* x, int64_t n, int64_t in) {
  const bool q8_1 = weight_dtype == DType::Q4_1;
  const int64_t row_bytes = (in / 32) * static_cast<int64_t>(q8_1 ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0));
  std::vector<std::byte> out(static_cast<size_t>(n * row_bytes));
  for (int64_t t = 0; t < n; ++t) {
    if (q8_1)
      quantize_row_q8_1(x + t * in, reinterpret_cast<BlockQ8_1*>(out.data() + t * row_bytes), in);
    else
      quantize_row_q8_0(x + t * in, reinterpret_cast<BlockQ8_0*>(out.data() + t * row_bytes), in);
  }
  return out;
}

float dot_row(const TensorView& w, int64_t row, const float* x, int64_t n) {
  const std::byte* r = w.row(row);
  switch (w.dtype) {
    case DType::F32: return dot_f32(reinterpret_cast<const float*>(r), x, n);
    case DType::F16: return dot_f16(reinterpret_cast<const uint16_t*>(r), x, n);
    case DType::BF16: return dot_bf16(reinterpret_cast<const uint16_t*>(r), x, n);
    default: return 0.f;  // quantised weights go through dot_quantized
  }
  return 0.f;
}

// Below this many input rows the weights are streamed once per row set with fused kernels; above it,
// dequantising row blocks for sgemm amortises the conversion over many tokens.
constexpr int64_t kFusedMaxRows = 8;
// Quantised weights with at least this many input rows (prefill) are converted to f32 in row blocks
// and multiplied by sgemm with f32 activations: the conversion is amortised over the rows and sgemm
// runs near the machine's peak, far above the integer dot kernels.
constexpr int64_t kSgemmMinRows = 16;
// Below this many multiply-adds a parallel region costs more than it saves (tiny models, and any
// model on a loaded machine where a barrier waits for a descheduled thread).
constexpr int64_t kParallelMinWork = int64_t{1} << 16;
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
  if (dtype_is_quantized(w.dtype) && n < kSgemmMinRows) {
    const std::vector<std::byte> xq = quantize_activations(w.dtype, x, n, in);
    const int64_t blocks = in / 32, x_row_bytes = static_cast<int64_t>(xq.size()) / n;
#pragma omp parallel for schedule(static) if (n * out * in >= kParallelMinWork)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t0 = 0; t0 < n; t0 += 4)
        dot_quantized_tokens(w, o, xq.data(), x_row_bytes, blocks, t0, std::min<int64_t>(4, n - t0), y, out);
    return;
  }
  if (n <= kFusedMaxRows) {
#pragma omp parallel for schedule(static) if (n * out * in >= kParallelMinWork)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = 0; t < n; ++t) y[t * out + o] = dot_row(w, o, x + t * in, in);
    return;
  }
  std::vector<float> block(static_cast<size_t>(kBlockRows * in));
  for (int64_t r0 = 0; r0 < out; r0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, out - r0);
    // Converted on this thread: the conversion is ~1/n of sgemm's work, and a parallel region here
    // would alternate two thread pools (OpenMP's and OpenBLAS's) that spin while the other works.
    for (int64_t r = 0; r < rows; ++r) dequantize_row(w.dtype, w.row(r0 + r), block.data() + r * in, in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, in, 1.f, x, in, block.data(), in, 0.f,
                y + r0, out);
  }
}

namespace {
// f64 reference of one quantised row · quantised activations, block by block with the stored scales.
double reference_quantized_dot(const TensorView& w, int64_t row, const std::byte* x, int64_t blocks) {
  double total = 0;
  for (int64_t k = 0; k < blocks; ++k) {
    long sum = 0;
    double dw = 0, dx = 0, offset = 0;
    if (w.dtype == DType::Q4_1) {
      const auto& wb = reinterpret_cast<const BlockQ4_1*>(w.row(row))[k];
      const auto& xb = reinterpret_cast<const BlockQ8_1*>(x)[k];
      for (int j = 0; j < 16; ++j) sum += (wb.qs[j] & 0xf) * xb.qs[j] + (wb.qs[j] >> 4) * xb.qs[j + 16];
      dw = f16_to_f32(wb.d), dx = f16_to_f32(xb.d), offset = double(f16_to_f32(wb.m)) * f16_to_f32(xb.s);
    } else if (w.dtype == DType::Q4_0) {
      const auto& wb = reinterpret_cast<const BlockQ4_0*>(w.row(row))[k];
      const auto& xb = reinterpret_cast<const BlockQ8_0*>(x)[k];
      for (int j = 0; j < 16; ++j) sum += ((wb.qs[j] & 0xf) - 8) * xb.qs[j] + ((wb.qs[j] >> 4) - 8) * xb.qs[j + 16];
      dw = f16_to_f32(wb.d), dx = f16_to_f32(xb.d);
    } else {
      const auto& wb = reinterpret_cast<const BlockQ8_0*>(w.row(row))[k];
      const auto& xb = reinterpret_cast<const BlockQ8_0*>(x)[k];
      for (int j = 0; j < 32; ++j) sum += wb.qs[j] * xb.qs[j];
      dw = f16_to_f32(wb.d), dx = f16_to_f32(xb.d);
    }
    total += dw * dx * static_cast<double>(sum) + offset;
  }
  return total;
}
}  // namespace

void matmul_reference(const float* x, int64_t n, const TensorView& w, float* y) {
  const int64_t out = w.rows(), in = w.cols();
  if (dtype_is_quantized(w.dtype) && n < kSgemmMinRows) {  // same contract as the fast path: 8-bit activations
    const std::vector<std::byte> xq = quantize_activations(w.dtype, x, n, in);
    const int64_t x_row_bytes = static_cast<int64_t>(xq.size()) / n;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t t = 0; t < n; ++t)
        y[t * out + o] = static_cast<float>(reference_quantized_dot(w, o, xq.data() + t * x_row_bytes, in / 32));
    return;
  }
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
