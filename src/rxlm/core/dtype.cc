// Element type conversions.
#include "rxlm/core/dtype.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "rxlm/core/error.h"

namespace rxlm {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::Q8_0: return "Q8_0";
    case DType::Q4_0: return "Q4_0";
    case DType::Q4_1: return "Q4_1";
  }
  return "?";
}

int64_t dtype_block_elements(DType dtype) { return dtype_is_quantized(dtype) ? 32 : 1; }

int64_t dtype_block_bytes(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16:
    case DType::BF16: return 2;
    case DType::Q8_0: return sizeof(BlockQ8_0);
    case DType::Q4_0: return sizeof(BlockQ4_0);
    case DType::Q4_1: return sizeof(BlockQ4_1);
  }
  return 0;
}

bool dtype_is_quantized(DType dtype) {
  return dtype == DType::Q8_0 || dtype == DType::Q4_0 || dtype == DType::Q4_1;
}


namespace {
template <class Block>
void quantize_q8(const float* x, Block* y, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k) {
    const float* xb = x + k * 32;
    float amax = 0.f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.f, id = amax != 0.f ? 127.f / amax : 0.f;  // ggml's exact expressions
    y[k].d = f32_to_f16(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      // nearest, ties to even: what ggml's AVX2 quantiser (_mm256_round_ps) does
      y[k].qs[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
      sum += y[k].qs[j];
    }
    if constexpr (requires { y[k].s; }) y[k].s = f32_to_f16(d * static_cast<float>(sum));
  }
}
}  // namespace

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) { quantize_q8(x, y, n); }
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) { quantize_q8(x, y, n); }

void dequantize_row(DType dtype, const void* src, float* dst, int64_t n) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      auto* s = static_cast<const uint16_t*>(src);
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
      }
      for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      auto* s = static_cast<const uint16_t*>(src);
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
      }
      for (; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::Q8_0: {
      auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t k = 0; k < n / 32; ++k) {
        float d = f16_to_f32(b[k].d);
        for (int j = 0; j < 32; ++j) dst[k * 32 + j] = d * b[k].qs[j];
      }
      return;
    }
    case DType::Q4_0: {
      auto* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t k = 0; k < n / 32; ++k) {
        float d = f16_to_f32(b[k].d);
        for (int j = 0; j < 16; ++j) {
          dst[k * 32 + j] = d * ((b[k].qs[j] & 0x0f) - 8);
          dst[k * 32 + j + 16] = d * ((b[k].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case DType::Q4_1: {
      auto* b = static_cast<const BlockQ4_1*>(src);
      for (int64_t k = 0; k < n / 32; ++k) {
        float d = f16_to_f32(b[k].d), m = f16_to_f32(b[k].m);
        for (int j = 0; j < 16; ++j) {
          dst[k * 32 + j] = d * (b[k].qs[j] & 0x0f) + m;
          dst[k * 32 + j + 16] = d * (b[k].qs[j] >> 4) + m;
        }
      }
      return;
    }
  }
  fail("dequantize_row: unsupported dtype");
}

}  // namespace rxlm
