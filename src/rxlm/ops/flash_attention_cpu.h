// Internal: the FlashAttention-2 CPU kernels, written once over a SIMD width with GCC vector extensions and
// compiled once per ISA by flash_attention_avx2.cc / flash_attention_avx512.cc (each defines RXLM_FA_NS,
// RXLM_FA_VW and RXLM_FA_MR before including this). Include nowhere else. No std templates are used here
// so that no inline function compiled for AVX-512 can be picked by the linker for another translation unit.
#pragma once
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "rxlm/ops/flash_attention.h"

namespace rxlm::RXLM_FA_NS {

constexpr int VW = RXLM_FA_VW;   // floats per vector register
constexpr int MR = RXLM_FA_MR;   // rows of the register tile
constexpr int NV = 2;            // vectors per row of the register tile
constexpr int kBlockKeys = 96;   // Bc: keys per KV block; a multiple of VW and of MR, so no ragged tiles
constexpr int kBlockRows = 96;   // target rows (query tokens × heads of one GQA group) per query block
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -__builtin_inff();

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Through the intrinsic: the generic spellings (vf{} + x, lane loops) cost GCC an extra add or masked moves.
#if RXLM_FA_VW == 16
inline vf splat(float x) { return (vf)_mm512_set1_ps(x); }
#else
inline vf splat(float x) { return (vf)_mm256_set1_ps(x); }
#endif
inline vf load(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vf v) { __builtin_memcpy(p, &v, sizeof v); }
inline float hmax(vf v) {
  float m = v[0];
  for (int i = 1; i < VW; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline float hsum(vf v) {
  float s = 0.f;
  for (int i = 0; i < VW; ++i) s += v[i];
  return s;
}

// 2^x for x <= 0 (including -inf -> 0): round-to-nearest split x = n + f, |f| <= 1/2, degree-7 Taylor of
// e^(f ln2) (truncation error 5e-9, below f32 rounding), exponent added as an integer.
inline vf exp2_nonpositive(vf x) {
  const vf lo = splat(-126.f);
  const vf magic = splat(12582912.f);  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  vf xc = x < lo ? lo : x;
  vf t = xc + magic;
  vi n = (vi)t - (vi)magic;
  vf f = xc - (t - magic);
  vf p = splat(1.525273380405984e-05f);
  p = p * f + 1.5403530393381608e-04f;
  p = p * f + 1.3333558146428443e-03f;
  p = p * f + 9.618129107628477e-03f;
  p = p * f + 5.550410866482158e-02f;
  p = p * f + 2.402265069591007e-01f;
  p = p * f + 6.931471805599453e-01f;
  p = p * f + 1.f;
  vf r = p * (vf)((n + 127) << 23);
  return x < lo ? vf{} : r;
}

// Register tile: C[MRt][NVt*VW] (=|+=) sum_k A(r, k) * B[k][...], A(r, k) = A[r*ars + k*aks] broadcast.
// The strides on A let the same tile read P row-major (S = Q·Kᵀ, O += P·V) or transposed (dV += Pᵀ·dO).
template <int MRt, int NVt>
void tile(int K, const float* A, ptrdiff_t ars, ptrdiff_t aks, const float* B, ptrdiff_t ldb, float* C,
          ptrdiff_t ldc, bool accumulate) {
  vf c[MRt][NVt];
#pragma GCC unroll 16
  for (int r = 0; r < MRt; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVt; ++v) c[r][v] = accumulate ? load(C + r * ldc + v * VW) : vf{};
  for (int k = 0; k < K; ++k) {
    vf b[NVt];
#pragma GCC unroll 4
    for (int v = 0; v < NVt; ++v) b[v] = load(B + k * ldb + v * VW);
    const float* a = A + k * aks;
#pragma GCC unroll 16
    for (int r = 0; r < MRt; ++r) {
      vf ar = splat(a[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NVt; ++v) c[r][v] += ar * b[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MRt; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVt; ++v) store(C + r * ldc + v * VW, c[r][v]);
}

using TileFn = void (*)(int, const float*, ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t, float*, ptrdiff_t, bool);

template <int NVt, int... Rs>
constexpr void fill_tiles(TileFn* row, std::integer_sequence<int, Rs...>) {
  ((row[Rs + 1] = &tile<Rs + 1, NVt>), ...);
}

struct TileTable {
  TileFn fn[NV + 1][MR + 1] = {};
  constexpr TileTable() {
    fill_tiles<1>(fn[1], std::make_integer_sequence<int, MR>{});
    fill_tiles<2>(fn[2], std::make_integer_sequence<int, MR>{});
  }
};
inline constexpr TileTable kTiles{};

// C[M][N] (=|+=) A(M×K) · B[K][N], N a multiple of VW. Column panels outside, rows inside, so the
// K × NV·VW panel of B stays in L1 while the rows of A stream past it.
inline void gemm(int M, int N, int K, const float* A, ptrdiff_t ars, ptrdiff_t aks, const float* B, ptrdiff_t ldb,
                 float* C, ptrdiff_t ldc, bool accumulate) {
  for (int n0 = 0; n0 < N; n0 += NV * VW) {
    const int nv = imin(NV, (N - n0) / VW);
    for (int m0 = 0; m0 < M; m0 += MR) {
      const int mr = imin(MR, M - m0);
      kTiles.fn[nv][mr](K, A + m0 * ars, ars, aks, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate);
    }
  }
}

// Geometry shared by forward and backward: one GQA group's query heads are packed as extra rows of a block
// (row r = token t * group + head g), so every packed K/V block is reused by group × tokens rows. This is
// what makes decode (one token, a few heads per group) a small GEMM rather than a dot product.
struct Geometry {
  int d, dp;        // head_dim and its padding to a whole vector
  int group;        // query heads per KV head
  int block_tokens; // query tokens per block
  int rows;         // block_tokens * group
  int bc;           // keys per block
};

inline Geometry make_geometry(const FlashAttentionParams& p) {
  Geometry g;
  g.d = p.head_dim;
  g.dp = static_cast<int>(round_up(p.head_dim, VW));
  g.group = p.n_heads / p.n_kv_heads;
  g.block_tokens = imax(1, kBlockRows / g.group);
  g.rows = g.block_tokens * g.group;
  g.bc = kBlockKeys;
  return g;
}

inline size_t floats_bytes(int64_t n) { return static_cast<size_t>(round_up(n, 16)) * sizeof(float); }

// Per-thread scratch of the forward: Q block, Kᵀ block, V block, S/P tile, O accumulator, running max and sum.
inline size_t forward_thread_bytes(const Geometry& g) {
  return floats_bytes(int64_t{g.rows} * g.dp) + floats_bytes(int64_t{g.d} * g.bc) +
         floats_bytes(int64_t{g.bc} * g.dp) + floats_bytes(int64_t{g.rows} * g.bc) +
         floats_bytes(int64_t{g.rows} * g.dp) + 2 * floats_bytes(g.rows) + 64;
}

// Per-thread scratch of the backward: Q (pre-scaled), dO and dQ blocks, D = rowsum(dO∘O) and the log2
// logsumexp for every row of one sequence's GQA group, the P and dS tiles, dK/dV accumulators and a K block
// (used when head_dim is ragged).
inline size_t backward_thread_bytes(const Geometry& g, int max_seqlen_q) {
  const int64_t group_rows = int64_t{max_seqlen_q} * g.group;
  return 3 * floats_bytes(int64_t{g.rows} * g.dp) + 2 * floats_bytes(group_rows) +
         2 * floats_bytes(int64_t{g.rows} * g.bc) + 3 * floats_bytes(int64_t{g.bc} * g.dp) + 64;
}

// Bump allocator over one thread's slice; 64-byte aligned so vector loads never split a line needlessly.
struct Carve {
  char* at;
  float* take(int64_t n) {
    float* p = reinterpret_cast<float*>(at);
    at += floats_bytes(n);
    return p;
  }
};
inline char* align64(void* p) {
  auto u = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<char*>((u + 63) & ~uintptr_t{63});
}

struct SeqRange {
  int64_t q0, k0;
  int nq, nk;
  int offset;  // nk - nq: causal limit of query t is key offset + t
};
inline SeqRange seq_range(const FlashAttentionParams& p, int s) {
  SeqRange r;
  r.q0 = p.cu_seqlens_q[s];
  r.k0 = p.cu_seqlens_k[s];
  r.nq = p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s];
  r.nk = p.seqused_k ? p.seqused_k[s] : p.cu_seqlens_k[s + 1] - p.cu_seqlens_k[s];
  r.offset = r.nk - r.nq;
  return r;
}

// Copies rows (t, g) of one GQA group, tokens t0 .. t0+bt, into dst[r][dp] scaled by `mul`, zero padded.
inline void pack_group_rows(const float* src, int64_t row_stride, int64_t head_stride, int64_t tok0, int head0,
                            int bt, const Geometry& g, float mul, float* dst) {
  for (int t = 0; t < bt; ++t)
    for (int h = 0; h < g.group; ++h) {
      const float* s = src + (tok0 + t) * row_stride + (head0 + h) * head_stride;
      float* o = dst + (int64_t{t} * g.group + h) * g.dp;
      for (int c = 0; c < g.d; ++c) o[c] = s[c] * mul;
      for (int c = g.d; c < g.dp; ++c) o[c] = 0.f;
    }
}

// One KV block of head kvh, keys kb0 .. kb0+bc: transposed [d][Bc] (zero columns past bc) for S = Q·Kᵀ.
// In strips of 16 columns (one cache line of a source row): key rows sit one KV-cache row apart (4 KB for
// 8 heads × 128), all in the same L1 set, so a plain column- or key-outer loop thrashes L1 and took ~70 % of
// a decode step; a strip reads each source line once and writes 16 output rows that stay in L1.
inline void pack_transposed(const float* src, int64_t row_stride, int64_t head_stride, int64_t key0, int kvh,
                            int bc, const Geometry& g, float* dst) {
  const float* base = src + key0 * row_stride + kvh * head_stride;
  for (int c0 = 0; c0 < g.d; c0 += 16) {
    const int width = imin(16, g.d - c0);
    for (int j = 0; j < bc; ++j) {
      const float* s = base + j * row_stride + c0;
      for (int c = 0; c < width; ++c) dst[int64_t{c0 + c} * g.bc + j] = s[c];
    }
    for (int c = 0; c < width; ++c)
      for (int j = bc; j < g.bc; ++j) dst[int64_t{c0 + c} * g.bc + j] = 0.f;
  }
}

// One KV block row-major [bc][dp], zero padded columns, for O += P·V and dQ += dS·K.
inline void pack_rows(const float* src, int64_t row_stride, int64_t head_stride, int64_t key0, int kvh, int bc,
                      const Geometry& g, float* dst) {
  for (int j = 0; j < bc; ++j) {
    const float* s = src + (key0 + j) * row_stride + kvh * head_stride;
    float* o = dst + int64_t{j} * g.dp;
    for (int c = 0; c < g.d; ++c) o[c] = s[c];
    for (int c = g.d; c < g.dp; ++c) o[c] = 0.f;
  }
}

// Columns of block row t visible under the mask: keys kb0 + c with c < visible.
inline int visible_columns(bool causal, const SeqRange& sr, int64_t token, int kb0, int bc) {
  if (!causal) return bc;
  const int64_t last = sr.offset + token - kb0;  // last visible column index
  return static_cast<int>(last < 0 ? 0 : (last + 1 < bc ? last + 1 : bc));
}

// Kᵀ (or Vᵀ) of every KV head, transposed once per call instead of once per (query block, KV block):
// for each (KV head, sequence, KV block) one [head_dim][Bc] panel, zero past the block's last key, so the
// S = Q·Kᵀ tile reads a compact panel (TLB- and L1-friendly) and may read a whole vector past the end.
struct TransposedKeys {
  float* panels = nullptr;   // [n_kv_heads][total_blocks][head_dim][Bc]
  int64_t* block_prefix = nullptr;  // [n_seqs + 1]: first panel of each sequence
  int64_t total_blocks = 0;
  int64_t panel_floats = 0;
  const float* panel(int kvh, int s, int kb0, int bc) const {
    return panels + (int64_t{kvh} * total_blocks + block_prefix[s] + kb0 / bc) * panel_floats;
  }
};

inline int64_t count_key_blocks(const FlashAttentionParams& p, const Geometry& g, int64_t* prefix) {
  int64_t total = 0;
  for (int s = 0; s < p.n_seqs; ++s) {
    if (prefix) prefix[s] = total;
    total += (seq_range(p, s).nk + g.bc - 1) / g.bc;
  }
  if (prefix) prefix[p.n_seqs] = total;
  return total;
}

inline size_t transposed_bytes(const FlashAttentionParams& p, const Geometry& g) {
  return floats_bytes(2 * (int64_t{p.n_seqs} + 1)) +
         floats_bytes(int64_t{p.n_kv_heads} * count_key_blocks(p, g, nullptr) * g.d * g.bc);
}

// Lays out the panels in `at` (transposed_bytes of memory) and fills them from src, in parallel.
inline TransposedKeys transpose_keys(const float* src, int64_t row_stride, int64_t head_stride,
                                     const FlashAttentionParams& p, const Geometry& g, char* at, int n_threads) {
  TransposedKeys t;
  t.block_prefix = reinterpret_cast<int64_t*>(at);
  t.total_blocks = count_key_blocks(p, g, t.block_prefix);
  t.panels = reinterpret_cast<float*>(at + floats_bytes(2 * (int64_t{p.n_seqs} + 1)));
  t.panel_floats = int64_t{g.d} * g.bc;
  const int64_t items = int64_t{p.n_kv_heads} * t.total_blocks;
  const TransposedKeys view = t;
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int64_t i = 0; i < items; ++i) {
    const int kvh = static_cast<int>(i / view.total_blocks);
    const int64_t b = i % view.total_blocks;
    int lo = 0, hi = p.n_seqs;  // the sequence owning panel b
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (view.block_prefix[mid] <= b) lo = mid; else hi = mid;
    }
    const SeqRange sr = seq_range(p, lo);
    const int kb0 = static_cast<int>(b - view.block_prefix[lo]) * g.bc;
    pack_transposed(src, row_stride, head_stride, sr.k0 + kb0, kvh, imin(g.bc, sr.nk - kb0), g,
                    view.panels + i * view.panel_floats);
  }
  return t;
}

}  // namespace rxlm::RXLM_FA_NS
