// llama.cpp's CPU arithmetic (see ggml_cpu.h). Built with -ffp-contract=off: every fused multiply-add
// below is written out because ggml's code has it, and no other product may be fused.
#include "rxlm/ops/ggml_cpu.h"

#include <immintrin.h>

#include <cmath>

namespace rxlm::ggml_cpu {
namespace {

inline float to_f32(uint16_t h) { return f16_to_f32(h); }

// hsum_float_8: (l0+l4 + l2+l6) + (l1+l5 + l3+l7), in that grouping.
float hsum8(const float* l) {
  const float r0 = l[4] + l[0], r1 = l[5] + l[1], r2 = l[6] + l[2], r3 = l[7] + l[3];
  return (r0 + r2) + (r1 + r3);
}

// _mm512_reduce_add_ps as GCC 12 expands it.
float reduce16(const float* a) {
  float t3[8], t6[4];
  for (int i = 0; i < 8; ++i) t3[i] = a[8 + i] + a[i];
  for (int i = 0; i < 4; ++i) t6[i] = t3[4 + i] + t3[i];
  return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}

// The 8 lane sums of a 32-byte integer dot: lane k = Σ_{j=4k}^{4k+3} u_j · s_j (u unsigned, s signed),
// exact, as maddubs + madd (or dpbusd) leave them.
__m256 lane_dots(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// amax, d and the integer codes of one 32-block, shared by Q8_0 and Q8_1.
float quantize_block(const float* x, int8_t* q, int* sum) {
  float amax = 0.f;
  for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0.f ? 127.f / amax : 0.f;
  int total = 0;
  for (int j = 0; j < 32; ++j) {
    const float scaled = x[j] * id;
    const int v = static_cast<int>(std::nearbyint(scaled));  // _MM_ROUND_NEAREST: ties to even
    q[j] = static_cast<int8_t>(v);
    total += v;
  }
  *sum = total;
  return d;
}

}  // namespace

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    int sum = 0;
    const float d = quantize_block(x + b * 32, y[b].qs, &sum);
    y[b].d = f32_to_f16(d);
  }
}

void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    int sum = 0;
    const float d = quantize_block(x + b * 32, y[b].qs, &sum);
    y[b].d = f32_to_f16(d);
    y[b].s = f32_to_f16(d * static_cast<float>(sum));
  }
}

float dot_q4_1_q8_1(const BlockQ4_1* w, const BlockQ8_1* x, int64_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.f;
  for (int64_t b = 0; b < blocks; ++b) {
    const float d0 = to_f32(w[b].d), d1 = to_f32(x[b].d);
    const float m = to_f32(w[b].m), s = to_f32(x[b].s);
    summs = summs + m * s;
    const __m256 d0d1 = _mm256_set1_ps(d0 * d1);
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f));
    const __m256 xy = lane_dots(nibbles, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs)));
    acc = _mm256_fmadd_ps(d0d1, xy, acc);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  return hsum8(lanes) + summs;
}

float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const __m256 d = _mm256_set1_ps(to_f32(w[b].d) * to_f32(x[b].d));
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc = _mm256_fmadd_ps(d, lane_dots(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw)), acc);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  return hsum8(lanes);
}

float dot_f32(const float* x, const float* y, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  float sum[4][16] = {};
  for (int64_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 16; ++l) sum[j][l] = std::fma(x[i + 16 * j + l], y[i + 16 * j + l], sum[j][l]);
  for (int l = 0; l < 16; ++l) {
    sum[0][l] = sum[0][l] + sum[2][l];
    sum[1][l] = sum[1][l] + sum[3][l];
  }
  for (int l = 0; l < 16; ++l) sum[0][l] = sum[0][l] + sum[1][l];
  float total = reduce16(sum[0]);
  for (int64_t i = np; i < n; ++i) total = std::fma(x[i], y[i], total);  // as GCC contracts sumf += x·y; not reached by SmolLM2
  return total;
}

float dot_f32_tinyblas(const float* x, const float* y, int64_t n) {
  float lanes[16] = {};
  for (int64_t i = 0; i < n; i += 16)
    for (int l = 0; l < 16; ++l) lanes[l] = std::fma(x[i + l], y[i + l], lanes[l]);
  return reduce16(lanes);
}

float expf(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  if (std::fabs(n) > 192.f) return n <= 0.f ? 0.f : INFINITY;
  return std::ldexp(j, static_cast<int>(n));  // _mm512_scalef_ps(j, n) for integral n
}

float silu(float x) { return x / (1.0f + expf(0.0f - x)); }

void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * weight[i];
}

void softmax(float* p, int64_t n, float scale) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    p[i] = p[i] * scale;
    max = std::fmax(max, p[i]);
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; i += 16) {
    float lanes[16] = {};
    for (int64_t l = 0; l < 16 && i + l < n; ++l) lanes[l] = p[i + l] = expf(p[i + l] - max);
    sum += static_cast<double>(reduce16(lanes));
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] * inverse;
}

void rope_adjacent(float* x, int64_t dims, int64_t position, float base) {
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(dims));
  float theta = static_cast<float>(position);
  for (int64_t i = 0; i < dims; i += 2) {
    const float c = std::cos(theta) * 1.0f, s = std::sin(theta) * 1.0f;
    const float x0 = x[i], x1 = x[i + 1];
    // ggml's x0·c − x1·s and x0·s + x1·c as GCC contracts them (checked against llama.cpp's tensors).
    x[i] = std::fma(x0, c, -(x1 * s));
    x[i + 1] = std::fma(x0, s, x1 * c);
    theta = theta * theta_scale;
  }
}

}  // namespace rxlm::ggml_cpu
