// Element types of stored weights and their conversions to f32: the one place for f16/bf16 and the
// GGUF block-quantised formats (Q8_0, Q4_0, Q4_1 as ggml defines them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <string_view>

namespace rxlm {

enum class DType : uint8_t { F32, F16, BF16, Q8_0, Q4_0, Q4_1 };

std::string_view dtype_name(DType dtype);
// Elements per block (1 for plain types, 32 for the quantised ones) and bytes per block.
int64_t dtype_block_elements(DType dtype);
int64_t dtype_block_bytes(DType dtype);
// Bytes used by n elements; n must be a multiple of the block size (checked by callers).
inline uint64_t dtype_bytes(DType dtype, int64_t n) {
  return static_cast<uint64_t>(n / dtype_block_elements(dtype)) * dtype_block_bytes(dtype);
}
bool dtype_is_quantized(DType dtype);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
// Inline: the quantised kernels convert two scales per block (F16C is part of x86-64-v3).
inline float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t f32_to_f16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

// Converts n elements (n a multiple of the block size) of `src` in `dtype` to f32.
void dequantize_row(DType dtype, const void* src, float* dst, int64_t n);

// ggml block layouts (little-endian, packed).
struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;          // f16 scale; value = (nibble - 8) * d
  uint8_t qs[16];      // element j in the low nibble of qs[j], element j+16 in the high nibble
};
struct BlockQ4_1 {
  uint16_t d;          // f16 scale
  uint16_t m;          // f16 minimum; value = nibble * d + m
  uint8_t qs[16];
};
// Activation blocks for integer dot products (as ggml): Q8_1 also keeps s = d·Σq for Q4_1's offset.
struct BlockQ8_1 {
  uint16_t d;  // f16 scale
  uint16_t s;  // f16 d · Σ qs
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ8_1) == 36);

// Quantises n floats (n a multiple of 32) to Q8_0 / Q8_1 blocks: d = max|x| / 127, q = round(x / d).
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);

}  // namespace rxlm
